"""Human motion -> G1 motion clip folder: solve, build the clip, measure, draw, write atomically.

A clip folder holds ``motion.npz`` (the motion clip), ``terrain.npz`` (when not flat), ``quality.json``,
``retarget.png`` and ``retarget_human.npz`` (the keypoints it was solved from). The clip's ``provenance``
records the source, weights, solver settings and timing.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from hsi_offline.motion.clip import MotionClip, make_clip

from .human import HumanKeypointMotion
from .quality import QualityReport, evaluate
from .weights import RetargetWeights
from .windowed_solve import RetargetResult, SolverConfig, retarget


def retarget_clip(
    human: HumanKeypointMotion,
    dof: int = 23,
    weights: RetargetWeights | None = None,
    max_iterations: int | None = None,
    terrain_ref: str = "",
    cfg: SolverConfig | None = None,
) -> tuple[MotionClip, RetargetResult, QualityReport]:
    """Solve and measure; the clip's contacts are the human's (what the trainer should reproduce).

    ``cfg`` defaults to ``SolverConfig()`` (the one place solver defaults live); ``dof`` and
    ``max_iterations`` (when given) override it."""
    weights = weights or RetargetWeights()
    cfg = replace(cfg or SolverConfig(), dof=dof)
    if max_iterations is not None:
        cfg = replace(cfg, max_iterations=max_iterations)
    result = retarget(human, weights, cfg)
    clip = make_clip(
        human.fps,
        result.root_pos,
        result.root_quat,
        result.joint_pos,
        dof,
        human.contacts,
        terrain_ref,
        {
            "source": human.source,
            "method": "pyroki_jaxls_trajopt",
            "weights": asdict(weights),
            "solver": cfg.solver,
            "max_iterations": cfg.max_iterations,
            "solve_seconds": round(result.solve_seconds, 3),
            "iterations": result.iterations,
            "scales": np.round(result.scales, 4).tolist(),
        },
    )
    return clip, result, evaluate(clip, result.human or human, result.nominal_scales)


def write_clip_folder(
    folder: str | Path,
    clip: MotionClip,
    human: HumanKeypointMotion,
    report: QualityReport,
    picture: bool = True,
) -> Path:
    """Write motion.npz (+ terrain.npz, quality.json, retarget.png) into ``folder``, and the 15 keypoints the
    clip was solved from (``retarget_human.npz``: the viewer draws them; the report can be re-measured).

    An earlier run's motion.npz and quality.json go first and come back last (quality.json, the
    completeness marker, after everything): an interrupted write leaves no motion.npz beside a newer
    terrain.npz, so no later stage takes a mix of two runs for a clip."""
    from hsi_offline.outputs import RETARGET_MARKER

    from .human import save_keypoints_npz
    from .view_robot import HUMAN_FILE

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (folder / RETARGET_MARKER, folder / "motion.npz"):
        stale.unlink(missing_ok=True)
    if human.terrain is not None and not human.terrain.is_flat:
        human.terrain.save(folder / "terrain.npz")
        clip.terrain = "terrain.npz"
    save_keypoints_npz(human, folder / HUMAN_FILE)
    if picture:
        from .picture import draw_strip

        draw_strip(clip, human, folder / "retarget.png")
    clip.save(folder / "motion.npz")
    report.save(folder / RETARGET_MARKER)
    return folder / "motion.npz"
