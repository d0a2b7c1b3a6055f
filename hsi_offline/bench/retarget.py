"""``hsi-offline bench retarget [--json PATH]``: trajectory optimisation vs per-frame IK, side by side.

Cases: procedural stair climbing and sitting down (generated here, with their terrains), and, when given or
installed, a real BVH walk (``--bvh``), a holosoma G1 clip re-retargeted (from the installed ``holosoma``
package's data), real box-climbing mocap with its boxes as terrain (``--climb``, from the installed
``holosoma_retargeting``) and a reconstruction clip folder (``--clip-folder``). For each: keypoint error,
skating,
penetration, self-collisions, limit violations, smoothness and time for both methods. Then the speed case:
a 300-frame clip solved 1 + ``--repeats`` times in one process (the first call compiles or loads the disk
cache; the median of the warm ones is the figure that matters), then where the time goes
(``solve_breakdown``). ``--speed-only`` runs just that.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

from hsi_kernel.atomic import write_json_atomic


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--bvh", type=Path, help="a real BVH motion to include")
    p.add_argument("--clip-folder", type=Path, help="a reconstruction clip folder (human_motion.npz)")
    p.add_argument("--no-holosoma", action="store_true", help="skip the installed holosoma G1 clip")
    p.add_argument(
        "--climb",
        type=int,
        nargs="*",
        default=[0],
        help="holosoma-retargeting box-climbing sequences to include (0-4; none: skip)",
    )
    p.add_argument("--dof", type=int, choices=(23, 29), default=23)
    p.add_argument("--iterations", type=int, default=None, help="LM iteration cap (default: SolverConfig's)")
    p.add_argument("--max-frames", type=int, default=300, help="cap per real input (at 30 fps)")
    p.add_argument(
        "--speed-only", action="store_true", help="only the 300-frame speed case (timing and breakdown)"
    )
    p.add_argument("--repeats", type=int, default=5, help="warm runs of the speed case (median reported)")
    p.add_argument(
        "--solver", choices=("banded", "jaxls_cg"), default=None, help="solver (default: SolverConfig's)"
    )
    p.add_argument(
        "--no-compile-time",
        action="store_true",
        help="skip measuring the solver's XLA compilation without the disk cache (20-100 s here)",
    )


def _cases(args):
    from hsi_offline.retarget.human import resample_human
    from hsi_offline.retarget.synthetic_human import sit_down, stair_climb

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
        yield from _climb_cases(args)
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


def _climb_cases(args):
    """holosoma-retargeting's real box-climbing mocap (when installed): the ``--max-frames`` window of each
    requested sequence where the ground under the feet changes most (the climb), at 30 fps."""
    try:
        import holosoma_retargeting
    except ImportError:
        return
    from hsi_offline.retarget.human import resample_human
    from hsi_offline.retarget.mocap_climb import busiest_window, load_mocap_climb

    root = Path(holosoma_retargeting.__file__).parent / "demo_data" / "climb"
    for seq in args.climb:
        folder = root / f"mocap_climb_seq_{seq}"
        if not folder.is_dir():
            continue
        h = resample_human(load_mocap_climb(folder), 30.0)
        s = busiest_window(h, args.max_frames)
        e = s + args.max_frames
        h.keypoints, h.confidence, h.contacts = h.keypoints[s:e], h.confidence[s:e], h.contacts[s:e]
        yield f"mocap box climb seq {seq} (real)", h


def speed_clip():
    """The speed case: the procedural stair climb resampled to exactly 300 frames."""
    from hsi_offline.retarget.human import resample_human
    from hsi_offline.retarget.synthetic_human import stair_climb

    h = stair_climb()
    h = resample_human(h, 299 / ((h.num_frames - 1) / h.fps))
    h.keypoints, h.confidence, h.contacts = h.keypoints[:300], h.confidence[:300], h.contacts[:300]
    return h


def _median_time(fn, repeats: int) -> float:
    import jax
    import numpy as np

    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def compile_probe(dof: int = 23) -> dict:
    """Trace and XLA-compile the banded solve for the 300-frame speed case, timed (run this in a fresh
    process with an empty ``HSI_JAX_CACHE``, see ``compile_probe_subprocess``)."""
    import numpy as np

    from hsi_offline.retarget.banded import make_solver, solver_settings
    from hsi_offline.retarget.problem import nominal_scales, window_problem
    from hsi_offline.retarget.warm_start import pelvis_root
    from hsi_offline.retarget.weights import RetargetWeights
    from hsi_offline.retarget.windowed_solve import SolverConfig

    cfg = SolverConfig(dof=dof)
    h = speed_clip()
    nominal = nominal_scales(h, dof)
    root, quat = pelvis_root(h, nominal, h.terrain)
    q = np.zeros((h.num_frames, dof))
    idx = np.arange(min(h.num_frames, cfg.window))
    wp = window_problem(
        h, idx, nominal, nominal, RetargetWeights(), root, quat, q, np.zeros((h.num_frames, 2))
    )
    solve, _ = make_solver(dof)
    settings = solver_settings(cfg)
    t0 = time.perf_counter()
    lowered = solve.lower(wp.roots7, wp.q, wp.scales, wp.data, wp.contact_both, wp.w, settings)
    t1 = time.perf_counter()
    lowered.compile()
    return {"trace_s": t1 - t0, "compile_s": time.perf_counter() - t1}


def compile_probe_subprocess(cfg) -> dict:
    """XLA compile time of the solve without any cache: a fresh interpreter with an empty disk cache."""
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "HSI_JAX_CACHE": cache}
        code = (
            "import json; from hsi_offline.bench.retarget import compile_probe; "
            f"print('PROBE' + json.dumps(compile_probe({cfg.dof})))"
        )
        res = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )
    for line in res.stdout.splitlines():
        if line.startswith("PROBE"):
            return json.loads(line[5:])
    return {"compile_error": res.stderr[-500:]}


def solve_breakdown(human, cfg, repeats: int, compile_time: bool = True) -> dict:
    """Where the time of one banded solve goes, measured piece by piece on the clip's first window.

    warm start (mink IK), XLA compilation of the solve (without the disk cache), the whole solve (median of
    ``repeats``), and the pieces of an LM iteration timed alone: Jacobians (FK, analytic point Jacobians,
    forward mode through the residual), normal-equation assembly, one damped linear solve (block-tridiagonal
    Cholesky + scale Schur complement) and one cost evaluation (every rejected or accepted trial step)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from hsi_offline.retarget.banded import make_solver, solver_settings
    from hsi_offline.retarget.problem import nominal_scales, swing_clearance, window_problem
    from hsi_offline.retarget.warm_start import ik_warm_start
    from hsi_offline.retarget.weights import RetargetWeights

    nominal = nominal_scales(human, cfg.dof)
    t_ik = []
    for _ in range(max(1, min(repeats, 3))):
        t0 = time.perf_counter()
        root, quat, q, _ = ik_warm_start(human, cfg.dof, cfg.ik_iterations, cfg.ik_stride)
        t_ik.append(time.perf_counter() - t0)
    n = min(human.num_frames, cfg.window)
    idx = np.arange(n)
    clear = swing_clearance(human, human.terrain, float(np.median(nominal[[1, 2, 5, 6]])))
    wp = window_problem(
        human,
        idx,
        nominal,
        nominal,
        RetargetWeights(),
        root[idx],
        quat[idx],
        q[idx],
        clear,
    )
    solve, pieces = make_solver(cfg.dof)
    settings = solver_settings(cfg)
    args = (wp.roots7, wp.q, wp.scales, wp.data, wp.contact_both, wp.w, settings)
    out = {"frames": n, "padded_frames": wp.n_pad, "warm_start_s": float(np.median(t_ik))}
    if compile_time:
        out.update(compile_probe_subprocess(cfg))
    jax.block_until_ready(solve(*args))
    out["solve_s"] = _median_time(lambda: solve(*args), repeats)
    *_, summary = solve(*args)
    it, solves, evals = int(summary["it"]), int(summary["solves"]), int(summary["evals"])
    state = (wp.roots7, wp.q, wp.scales, wp.data, wp.contact_both, wp.w)
    jac = pieces["jacobians"](*state)
    eqs, _ = pieces["assemble"](*jac)
    dmp = pieces["damping"](eqs, jnp.float32(cfg.marquardt))
    lam = jnp.float32(1.0)
    for f, a in (
        (pieces["jacobians"], state),
        (pieces["assemble"], jac),
        (pieces["damped_step"], (eqs, lam, *dmp)),
    ):
        jax.block_until_ready(f(*a))  # compile the pieces
    jax.block_until_ready(pieces["total_cost"](*state))
    reps = max(repeats, 5)
    out["jacobians_s"] = _median_time(lambda: pieces["jacobians"](*state), reps)
    out["assemble_s"] = _median_time(lambda: pieces["assemble"](*jac), reps)
    out["linear_solve_s"] = _median_time(lambda: pieces["damped_step"](eqs, lam, *dmp), reps)
    out["cost_eval_s"] = _median_time(lambda: pieces["total_cost"](*state), reps)
    out["iterations"], out["linear_solves"], out["cost_evals"] = it, solves, evals
    est = {
        "jacobians": it * out["jacobians_s"],
        "assembly": it * out["assemble_s"],
        "linear_solves": solves * out["linear_solve_s"],
        "trial_costs": evals * out["cost_eval_s"],
    }
    est["loop_and_fusion_rest"] = out["solve_s"] - sum(est.values())
    out["solve_split_s"] = est
    out["per_iteration_s"] = out["solve_s"] / max(it, 1)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()} | {
        "solve_split_s": {k: round(v, 4) for k, v in est.items()}
    }


def run(args: argparse.Namespace) -> int:
    from loguru import logger

    logger.remove()  # jaxls logs every problem build
    import numpy as np

    from hsi_offline.retarget.pipeline import retarget_clip
    from hsi_offline.retarget.problem import nominal_scales
    from hsi_offline.retarget.quality import evaluate
    from hsi_offline.retarget.warm_start import ik_clip
    from hsi_offline.retarget.weights import RetargetWeights
    from hsi_offline.retarget.windowed_solve import SolverConfig

    cfg = SolverConfig(dof=args.dof)
    if args.solver:
        cfg = replace(cfg, solver=args.solver)
    if args.iterations:
        cfg = replace(cfg, max_iterations=args.iterations)
    rows = []
    if not args.speed_only:
        print(
            f"{'case':32s} {'method':8s} {'frames':>6s} {'kp cm':>6s} {'skate cm':>8s} {'pen max':>7s} "
            f"{'pen mean':>8s} {'selfcol':>7s} {'limits':>6s} {'j acc':>6s} {'time s':>7s}"
        )
        for name, human in _cases(args):
            scales = nominal_scales(human, args.dof)
            ik_only, ik_s = ik_clip(human, args.dof)
            ik = evaluate(ik_only, human, scales)
            _, res, to = retarget_clip(human, args.dof, RetargetWeights(), cfg=cfg)
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
            rows[-1]["cost"] = [round(w["cost"], 2) for w in res.windows]

    # Speed: 300 frames, same process: the first call (compiles, or loads from the disk cache), then warm.
    h = speed_clip()
    speed: dict = {"frames": h.num_frames, "solver": cfg.solver}
    runs = []
    for k in range(1 + max(args.repeats, 1)):
        t0 = time.perf_counter()
        _, res, rep = retarget_clip(h, args.dof, RetargetWeights(), cfg=cfg)
        total = time.perf_counter() - t0
        row = {
            "total_s": round(total, 3),
            "warm_start_s": round(res.init_seconds, 3),
            "solve_s": round(res.solve_seconds, 3),
            "iterations": res.iterations,
            "linear_solves": int(sum(w.get("solves", 0) for w in res.windows)),
        }
        if k == 0:
            speed["first_call"] = row
            label = "first call (compile or disk cache)"
        else:
            runs.append(row)
            label = f"warm {k}"
        print(
            f"speed {h.num_frames} frames, {label}: total {row['total_s']:.2f} s (warm start "
            f"{row['warm_start_s']:.2f} s, LM {row['solve_s']:.2f} s, {row['iterations']} iterations, "
            f"{row['linear_solves']} linear solves)",
            flush=True,
        )
    speed["warm_runs"] = runs
    speed["warm_median"] = {
        k: float(np.median([r[k] for r in runs])) for k in ("total_s", "warm_start_s", "solve_s")
    }
    speed["quality"] = rep.to_dict()
    med = speed["warm_median"]
    print(
        f"speed {h.num_frames} frames, warm median of {len(runs)}: total {med['total_s']:.2f} s "
        f"(warm start {med['warm_start_s']:.2f} s, LM {med['solve_s']:.2f} s)"
    )
    if cfg.solver == "banded":
        b = solve_breakdown(h, cfg, args.repeats, compile_time=not args.no_compile_time)
        speed["breakdown"] = b
        if "compile_s" in b:
            print(f"  compile (XLA, no disk cache): {b['compile_s']:.1f} s (+ trace {b['trace_s']:.1f} s)")
        ms = {
            k: b[k] * 1e3
            for k in ("per_iteration_s", "jacobians_s", "assemble_s", "linear_solve_s", "cost_eval_s")
        }
        print(
            f"  warm start (mink IK, {cfg.ik_iterations} steps/frame): {b['warm_start_s']:.2f} s\n"
            f"  LM solve: {b['solve_s']:.2f} s = {b['iterations']} iterations"
            f" x {ms['per_iteration_s']:.0f} ms "
            f"({b['linear_solves']} linear solves, {b['cost_evals']} trial costs, "
            f"{b['padded_frames']} padded frames)\n"
            f"  per piece: Jacobians {ms['jacobians_s']:.1f} ms, assembly {ms['assemble_s']:.1f} ms, "
            f"linear solve {ms['linear_solve_s']:.1f} ms, cost {ms['cost_eval_s']:.1f} ms"
        )
        split = b["solve_split_s"]
        print("  solve split: " + ", ".join(f"{k} {v:.2f} s" for k, v in split.items()), flush=True)
    speed["cpu_count"] = os.cpu_count()
    speed["load_avg_1min"] = round(os.getloadavg()[0], 2)
    out = {
        "cases": rows,
        "speed": speed,
        "dof": args.dof,
        "solver_config": asdict(cfg),
        "numpy": np.__version__,
    }
    if args.json:
        write_json_atomic(args.json, out, indent=2)
    return 0
