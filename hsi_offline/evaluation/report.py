"""The evaluation report: ``report.md`` with one PNG per scenario, and the JSON summary.

Why Markdown + PNG: it reads on GitHub and in any editor, diffs in review, and needs no server. The report
has no timestamps or host names, so two runs with one seed differ only where the deploy path's real-time
numbers differ; which figures are exact and which depend on the wall clock is stated in the report itself.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path, write_bytes_atomic, write_json_atomic
from hsi_offline.evaluation.rollout import SIDES, Rollout
from hsi_offline.evaluation.scenario_metrics import ScenarioMetrics, gap, path_world, totals
from hsi_offline.evaluation.scenarios import Scenario

SCHEMA = "hsi_robot.evaluation/1"
SIDE_LABEL = {
    "deploy": "deploy (onboard nodes)",
    "lockstep": "lock-step (node cores)",
    "training_env": "training env",
}
SIDE_STYLE = {
    "deploy": dict(color="tab:red"),
    "lockstep": dict(color="tab:green", linestyle="-."),
    "training_env": dict(color="tab:blue", linestyle="--"),
}
GAPS = (("deploy", "training_env"), ("lockstep", "training_env"), ("deploy", "lockstep"))
"""Which differences are reported: lock-step minus training env is the controller-logic gap (bridge, policy
node, joystick node, 500 Hz motor PD), deploy minus lock-step the transport and perception gap (DDS and
scheduling, the LiDAR map and odometry)."""
HOW = (
    "**deploy**: `hsi-robot bringup --sim` in-process: the simulated G1 in its own process (500 Hz MuJoCo, "
    "Unitree DDS LowState/LowCmd with CRC, simulated MID-360 + odometry), the bridge, policy, joystick and "
    "heightmap nodes on rclpy. The evaluation is the operator: start (stand up on the gantry), release the "
    "band, A (run), select at the end. While the policy runs it publishes the scenario path as goal poses on "
    "`/goal_pose` (map frame `hsi_map`: the torso at odometry start); the joystick node's goal mode turns "
    "them into the root target (clamped to 0.5 m / 0.3 rad, 5 cm dead band, rate limited).",
    "**training env**: `TrackingEnv` (200 Hz physics, decimation 4) on the same terrain, with a reference "
    "clip whose root follows the scenario path (default-pose joints); the policy gets the env's own student "
    "observation, whose root target is the next reference frame minus odometry, as in training (unclamped); "
    "no terminations (falls are scored from the ground truth); the policy's metadata gains. It starts at "
    "rest in the default pose on the ground; the deploy side starts where the bridge's stand-up and 1 s of "
    "standing off the gantry left the robot.",
    "**lock-step**: the bridge's safety state machine, the policy node's runner and the joystick node's "
    "root command (the objects those nodes wrap) driven in lock-step with the simulated G1 (500 Hz), with "
    "the same operator script as deploy; the heightmap is the training environment's (the shared sampler on "
    "the true terrain), odometry is ground truth, the command arrives one physics step (2 ms) after the "
    "state. No DDS, no threads, no LiDAR: deterministic.",
    "**command**: `p(t)` = the scenario's keyframes, given one policy frame ahead (`p(t + 0.02 s)`); errors "
    "are pelvis xy against `p(t)` placed at the pelvis pose when the policy took over.",
    "**completed**: ran the whole scenario with no fall (pelvis tilt > 57 deg, or pelvis below the "
    "scenario's height above the terrain) and no safety trip, final pelvis xy within the goal tolerance of "
    "the path's end, standing at the end (pelvis >= 0.6 m above the terrain); the bench also needs the "
    "pelvis down to <= 0.62 m above the floor at some point.",
    "**margins**: torque = largest |tau| / effort limit (robot contract) over joints and time; joint limit = "
    "smallest distance of any joint to its limit (rad, negative = beyond). Sampled at 50 Hz on every side "
    "(deploy: the simulator's ground-truth trace).",
)
EXACT = (
    "training_env: every figure (MuJoCo, single-threaded onnxruntime, seeded generator)",
    "lockstep: every figure (no randomness, no threads)",
    "the scenario scripts, paths, durations and goal regions; the simulated LiDAR/odometry noise seeds",
)
WALL_CLOCK = (
    "deploy: every figure. The stack runs in real time (DDS, rclpy, threads, the OS scheduler): "
    "when the policy's cycles land relative to the 500 Hz physics, LiDAR scan timing and thus the "
    "noise draws, odometry latency, and on a loaded machine stale-data safety trips",
    "deploy: policy rate, p99 period and missed cycles are measurements of this machine",
)


@dataclass
class ScenarioResult:
    scenario: Scenario
    rollouts: dict[str, Rollout]
    metrics: dict[str, ScenarioMetrics]


def _fmt(v, digits: int = 2, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def plot_scenario(res: ScenarioResult, terrain, path: Path) -> Path:
    """Top-down root path vs command over the terrain, pelvis height, torque ratio and joint-limit margin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = res.scenario
    fig, axes = plt.subplots(2, 3, figsize=(14, 7), dpi=72)
    ax = axes[0, 0]
    xmin, xmax, ymin, ymax = terrain.extent
    ax.imshow(terrain.heights, origin="lower", extent=(xmin, xmax, ymin, ymax), cmap="Greys", alpha=0.6)
    xs, ys = [0.0], [0.0]
    for side, r in res.rollouts.items():
        if not r.ran:
            continue
        t = np.linspace(0, sc.duration_s, 200)
        cmd = path_world(sc, r.start_pose, t)
        ax.plot(cmd[:, 0], cmd[:, 1], color="k", lw=1, alpha=0.5)
        ax.plot(r.xy[:, 0], r.xy[:, 1], label=SIDE_LABEL[side], **SIDE_STYLE[side])
        ax.plot(*cmd[-1, :2], marker="*", color="k", ms=10)
        xs += [*r.xy[:, 0], *cmd[:, 0]]
        ys += [*r.xy[:, 1], *cmd[:, 1]]
    pad = 0.6
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(min(min(ys) - pad, -1.0), max(max(ys) + pad, 1.0))
    ax.set_aspect("equal")
    ax.set_title(
        f"{sc.name}: pelvis path (black: command, star: goal;\nterrain darker = higher)", fontsize=10
    )
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(fontsize=8, loc="upper left")
    panels = (
        (axes[0, 1], "height", "pelvis height above terrain (m)"),
        (axes[0, 2], "tilt", "pelvis tilt (rad; fall above the line)"),
        (axes[1, 0], "target", "root target the policy got: x (solid), y (thin) (m)"),
        (axes[1, 1], "tau_ratio", "max |tau| / effort limit"),
        (axes[1, 2], "qlim_margin", "min joint-limit margin (rad)"),
    )
    for ax, attr, title in panels:
        for side, r in res.rollouts.items():
            if not r.ran:
                continue
            if attr == "target":
                ax.plot(r.target_t, r.target[:, 0], label=SIDE_LABEL[side], **SIDE_STYLE[side])
                ax.plot(r.target_t, r.target[:, 1], lw=0.7, **SIDE_STYLE[side])
            else:
                ax.plot(r.t, getattr(r, attr), label=SIDE_LABEL[side], **SIDE_STYLE[side])
            if r.ended != "duration":  # a safety trip or an abort: where the policy lost control
                ax.axvline(r.t[-1], lw=0.8, **SIDE_STYLE[side])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("time since the policy took over (s)")
        ax.grid(alpha=0.3)
    axes[0, 2].axhline(sc.fall_tilt_rad, color="k", lw=0.8)
    axes[1, 1].axhline(1.0, color="k", lw=0.8)
    axes[1, 2].axhline(0.0, color="k", lw=0.8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    from PIL import Image  # matplotlib's own dependency

    # a 64-colour palette: line plots lose nothing visible and the committed reports stay ~4x smaller
    img = Image.open(buf).convert("RGB").quantize(colors=64)
    with atomic_path(path, suffix=".png", mode=0o644) as tmp:
        img.save(tmp, format="PNG", optimize=True)
    return path


ROWS = (
    ("completed", "completed", None),
    ("fell", "fell", None),
    ("safety trip", "safety_trip", None),
    ("ran (s)", "ran_s", 1),
    ("goal error (m)", "goal_error_m", 2),
    ("path RMS error (m)", "track_rms_m", 2),
    ("path final error (m)", "track_final_m", 2),
    ("yaw RMS error (rad)", "yaw_rms_rad", 3),
    ("final pelvis height (m)", "final_height_m", 3),
    ("lowest pelvis (m above start ground)", "min_pelvis_z_m", 3),
    ("max torque / limit", "max_torque_ratio", 3),
    ("  at joint", "torque_joint", None),
    ("min joint-limit margin (rad)", "min_joint_limit_margin_rad", 3),
    ("  at joint", "joint_limit_joint", None),
    ("policy rate (Hz)", "policy_rate_hz", 1),
    ("policy period p99 (ms)", "policy_period_p99_ms", 1),
    ("missed cycles (> 30 ms)", "missed_cycles", None),
    ("LiDAR + odometry (scans/s)", "odometry_hz", 1),
    ("mean root target distance (m)", "root_target_mean_m", 3),
    ("why not completed", "why_not", None),
)


def markdown(results: list[ScenarioResult], header: dict, pngs: dict[str, str]) -> str:
    """The whole report as Markdown text."""
    sides = [s for s in SIDES if any(s in r.metrics for r in results)]
    out = [f"# Sim-to-sim evaluation: `{header['policy_name']}`", ""]
    out += [
        f"- policy: `{header['policy_name']}` (sha256 `{header['policy_sha256'][:16]}...`), "
        f"{header['dof']}-DoF, observation {header['obs_dim']} values"
        + (", heightmap" if header["heightmap"] else ", blind"),
        f"- provenance: `{header['provenance']}`",
        f"- seed {header['seed']}, duration scale {header['duration_scale']}, training-env randomisation "
        f"{'on' if header['randomise'] else 'off'}",
        f"- reproduce: `{header['command']}`",
        "",
    ]
    out += [
        "## Summary",
        "",
        "| side | completed | completion rate | falls | safety trips |",
        "|---|---|---|---|---|",
    ]
    for side in sides:
        tot = totals([r.metrics[side] for r in results if side in r.metrics])
        rate = _fmt(tot["completion_rate"] * 100, 0, " %")
        out.append(
            f"| {SIDE_LABEL[side]} | {tot['completed']}/{tot['scenarios']} | {rate} | "
            f"{tot['falls']} | {tot['safety_trips']} |"
        )
    out += [
        "",
        "| scenario | " + " | ".join(f"{SIDE_LABEL[s]}" for s in sides) + " |",
        "|---|" + "---|" * len(sides),
    ]
    for r in results:
        cells = []
        for s in sides:
            m = r.metrics.get(s)
            cells.append(
                "-"
                if m is None
                else ("**completed**" if m.completed else ("fell" if m.fell else "not completed"))
            )
        out.append(f"| {r.scenario.name} | " + " | ".join(cells) + " |")
    out += ["", "## How it was run", ""] + [f"- {h}" for h in HOW]
    out += ["", "### Exact and wall-clock dependent figures", ""]
    out += [f"- exact for a seed: {e}" for e in EXACT]
    out += [f"- wall-clock dependent: {w}" for w in WALL_CLOCK]
    for r in results:
        sc = r.scenario
        out += [
            "",
            f"## {sc.name} (scene `{sc.scene}`)",
            "",
            f"{sc.description}; {sc.duration_s:.1f} s, "
            f"path {sc.path_length_m:.2f} m, goal tolerance {sc.goal_tolerance_m:.2f} m.",
            "",
        ]
        if sc.name in pngs:
            out += [f"![{sc.name}]({pngs[sc.name]})", ""]
        out += [
            "| | " + " | ".join(SIDE_LABEL[s] for s in sides if s in r.metrics) + " |",
            "|---|" + "---|" * sum(s in r.metrics for s in sides),
        ]
        for label, key, digits in ROWS:
            vals = [getattr(r.metrics[s], key) for s in sides if s in r.metrics]
            cells = [
                _fmt(v, digits)
                if digits is not None or isinstance(v, bool) or v is None
                else (str(v) if v != "" else "-")
                for v in vals
            ]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        for a, b in GAPS:
            if a in r.metrics and b in r.metrics:
                g = gap(r.metrics[a], r.metrics[b])
                out += [
                    "",
                    f"Gap ({SIDE_LABEL[a]} - {SIDE_LABEL[b]}): "
                    + ", ".join(
                        f"{k} {v:+.3f}" for k, v in g.items() if not isinstance(v, bool) and math.isfinite(v)
                    )
                    + (". Same verdict." if g["same_verdict"] else ". **Different verdicts.**"),
                ]
        notes = [f"{s}: {n}" for s in sides if s in r.rollouts for n in r.rollouts[s].notes]
        if notes:
            out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def summary_json(results: list[ScenarioResult], header: dict) -> dict:
    """The machine-readable summary (``--json``, and ``summary.json`` beside the report)."""
    sides = [s for s in SIDES if any(s in r.metrics for r in results)]
    scen = []
    for r in results:
        entry = {
            "name": r.scenario.name,
            "scene": r.scenario.scene,
            "duration_s": round(r.scenario.duration_s, 4),
            "path_length_m": round(r.scenario.path_length_m, 4),
            "goal_tolerance_m": r.scenario.goal_tolerance_m,
        }
        for s in sides:
            if s in r.metrics:
                ro = r.rollouts[s]
                entry[s] = {**r.metrics[s].to_dict(), "ended": ro.ended, "seed": ro.seed, "notes": ro.notes}
        gaps = {
            f"{a}-{b}": {
                k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in gap(r.metrics[a], r.metrics[b]).items()
            }
            for a, b in GAPS
            if a in r.metrics and b in r.metrics
        }
        if "deploy-training_env" in gaps:
            entry["gap"] = gaps["deploy-training_env"]  # schema 1's field
        if gaps:
            entry["gaps"] = gaps
        scen.append(entry)
    tot = {s: totals([r.metrics[s] for r in results if s in r.metrics]) for s in sides}
    return {
        "schema": SCHEMA,
        **header,
        "totals": tot,
        "scenarios": scen,
        "exact": list(EXACT),
        "wall_clock_dependent": list(WALL_CLOCK),
    }


def write_report(
    results: list[ScenarioResult], header: dict, out_dir: Path, json_path: Path | None = None
) -> dict[str, Path]:
    """Write ``report.md``, one PNG per scenario and ``summary.json`` into ``out_dir`` (and ``json_path``)."""
    from hsi_kernel.terrain import make_scene_terrain

    out_dir.mkdir(parents=True, exist_ok=True)
    pngs: dict[str, str] = {}
    written: dict[str, Path] = {}
    for r in results:
        if any(ro.ran for ro in r.rollouts.values()):
            name = f"{r.scenario.name}.png"
            written[name] = plot_scenario(r, make_scene_terrain(r.scenario.scene), out_dir / name)
            pngs[r.scenario.name] = name
    text = markdown(results, header, pngs)
    written["report.md"] = write_bytes_atomic(out_dir / "report.md", text.encode())
    summary = summary_json(results, header)
    written["summary.json"] = write_json_atomic(out_dir / "summary.json", summary)
    if json_path is not None:
        written["json"] = write_json_atomic(json_path, summary)
    return written
