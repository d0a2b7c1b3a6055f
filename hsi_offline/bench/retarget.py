"""``hsi-offline bench retarget [--json PATH]``: trajectory optimisation vs per-frame IK, side by side.

Cases: procedural stair climbing and sitting down (generated here, with their terrains), and, when given or
installed, a real BVH walk (``--bvh``), a holosoma G1 clip re-retargeted (from the installed ``holosoma``
package's data) and a reconstruction clip folder (``--clip-folder``). For each: keypoint error, skating,
penetration, self-collisions, limit violations, smoothness and time for both methods. Then the speed case:
a 300-frame clip solved twice in one process (cold = with compilation, warm = the figure that matters).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from hsi_robot_nodes.atomic import write_json_atomic


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--bvh", type=Path, help="a real BVH motion to include")
    p.add_argument("--clip-folder", type=Path, help="a reconstruction clip folder (human_motion.npz)")
    p.add_argument("--no-holosoma", action="store_true", help="skip the installed holosoma G1 clip")
    p.add_argument("--dof", type=int, choices=(23, 29), default=23)
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--max-frames", type=int, default=300, help="cap per real input (at 30 fps)")


def _cases(args):
    from hsi_offline.retarget.human import resample_human
    from hsi_offline.retarget.synthetic import sit_down, stair_climb

    yield "stairs (procedural)", stair_climb()
    yield "sit down (procedural)", sit_down()

    def trim(h):
        h = resample_human(h, 30.0) if abs(h.fps - 30.0) > 1e-6 else h
        n = min(h.num_frames, args.max_frames)
        h.keypoints, h.confidence, h.contacts = h.keypoints[:n], h.confidence[:n], h.contacts[:n]
        return h

    if args.bvh:
        from hsi_offline.retarget.bvh import load_bvh

        yield f"BVH {args.bvh.name}", trim(load_bvh(args.bvh))
    if args.clip_folder:
        from hsi_offline.retarget.human import load_keypoints_npz

        yield (
            f"reconstruction {args.clip_folder.name}",
            trim(load_keypoints_npz(args.clip_folder / "human_motion.npz")),
        )
    if not args.no_holosoma:
        try:
            import holosoma
        except ImportError:
            return
        from hsi_offline.motion.beyondmimic import import_beyondmimic
        from hsi_offline.retarget.inputs import g1_as_human

        path = (
            Path(holosoma.__file__).parent
            / "data"
            / "motions"
            / "g1_29dof"
            / "whole_body_tracking"
            / "sub3_largebox_003_mj.npz"
        )
        if path.is_file():
            yield "holosoma G1 re-retargeted", trim(g1_as_human(import_beyondmimic(path, args.dof)))


def run(args: argparse.Namespace) -> int:
    from loguru import logger

    logger.remove()  # jaxls logs every problem build
    import numpy as np

    from hsi_offline.retarget.baseline_mink import mink_retarget
    from hsi_offline.retarget.pipeline import retarget_clip
    from hsi_offline.retarget.problem import nominal_scales
    from hsi_offline.retarget.quality import evaluate
    from hsi_offline.retarget.synthetic import stair_climb
    from hsi_offline.retarget.weights import RetargetWeights

    rows = []
    print(
        f"{'case':32s} {'method':8s} {'frames':>6s} {'kp cm':>6s} {'skate cm':>8s} {'pen max':>7s} "
        f"{'pen mean':>8s} {'selfcol':>7s} {'limits':>6s} {'j acc':>6s} {'time s':>7s}"
    )
    for name, human in _cases(args):
        scales = nominal_scales(human, args.dof)
        ik_clip, ik_s = mink_retarget(human, args.dof)
        ik = evaluate(ik_clip, human, scales)
        _, res, to = retarget_clip(human, args.dof, RetargetWeights(), args.iterations)
        for method, rep, secs in (
            ("mink IK", ik, ik_s),
            ("trajopt", to, res.init_seconds + res.solve_seconds),
        ):
            print(
                f"{name:32s} {method:8s} {rep.frames:6d} {rep.keypoint_error_cm:6.2f} "
                f"{rep.skating_cm_per_contact_frame:8.3f} {rep.penetration_max_cm:7.2f} "
                f"{rep.penetration_mean_cm:8.3f} {rep.self_collision_frames:7d} "
                f"{rep.joint_limit_violations:6d} "
                f"{rep.joint_accel_mean:6.1f} {secs:7.1f}",
                flush=True,
            )
            rows.append({"case": name, "method": method, "seconds": round(secs, 3), **rep.to_dict()})
        rows[-1]["iterations"] = res.iterations

    # Speed: 300 frames, same process, cold then warm.
    from hsi_offline.retarget.human import resample_human

    h = stair_climb()
    h = resample_human(h, 299 / ((h.num_frames - 1) / h.fps))
    h.keypoints, h.confidence, h.contacts = h.keypoints[:300], h.confidence[:300], h.contacts[:300]
    speed = {"frames": h.num_frames}
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        _, res, rep = retarget_clip(h, args.dof, RetargetWeights(), args.iterations)
        speed[label] = {
            "total_s": round(time.perf_counter() - t0, 2),
            "warm_start_s": round(res.init_seconds, 2),
            "solve_s": round(res.solve_seconds, 2),
            "iterations": res.iterations,
            "per_iteration_s": round(res.solve_seconds / max(res.iterations, 1), 3),
        }
        print(
            f"speed {h.num_frames} frames ({label}): total {speed[label]['total_s']} s, warm start "
            f"{speed[label]['warm_start_s']} s, LM {speed[label]['solve_s']} s "
            f"for {res.iterations} iterations",
            flush=True,
        )
    speed["cpu_count"] = os.cpu_count()
    speed["load_avg_1min"] = round(os.getloadavg()[0], 2)
    out = {
        "cases": rows,
        "speed": speed,
        "dof": args.dof,
        "max_iterations": args.iterations,
        "numpy": np.__version__,
    }
    if args.json:
        write_json_atomic(args.json, out, indent=2)
    return 0
