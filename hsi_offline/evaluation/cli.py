"""``hsi-offline evaluate POLICY``: sim-to-sim evaluation of an exported ONNX policy.

Runs each scenario (stand still, flat walk, stairs up, stairs down, kerb, bench sit/stand) through the
onboard nodes against the simulated robot (``deploy``), through the same nodes' cores in lock-step with the
simulated robot (``lockstep``: no DDS, exact heightmap) and in the training environment, and writes
``report.md`` + PNGs + ``summary.json`` into ``--out`` (default: beside the policy, ``POLICY.eval/``). A
policy that fails scenarios is a result, not an error: the exit code is 0 when every run produced data, 1
when the stack itself could not run a scenario, and 2 (one line) for bad input: a missing or corrupt ONNX
file, metadata that disagrees with the robot contract, an unknown scenario.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from hsi_offline.evaluation.rollout import SIDES
from hsi_offline.evaluation.scenarios import NAMES, get_scenarios, scenario_seed
from hsi_offline.outputs import check_output_dir, check_output_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("policy", type=Path, help="exported ONNX policy (with hsi_robot metadata)")
    p.add_argument("--json", type=Path, default=None, help="also write the JSON summary here")
    p.add_argument("--seed", type=int, default=0, help="seed of the scenario noise and the training env")
    p.add_argument(
        "--scenarios",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"scenarios to run (default all: {' '.join(NAMES)})",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="report folder (default: POLICY.eval beside the policy file)"
    )
    p.add_argument(
        "--duration-scale",
        type=float,
        default=1.0,
        help="play every scenario this many times as long (< 1: shorter, for tests)",
    )
    p.add_argument(
        "--sides",
        nargs="+",
        choices=SIDES,
        default=list(SIDES),
        help="deploy (onboard nodes + simulated robot), lockstep (their cores in lock-step with "
        "the simulated robot, exact heightmap) and/or training_env",
    )
    p.add_argument(
        "--randomise",
        action="store_true",
        help="training env with its training randomisation (seeded) instead of nominal dynamics",
    )
    p.add_argument("--domain", type=int, default=1, help="Unitree DDS domain of the simulated robot (not 0)")
    p.add_argument("--interface", default="lo")
    p.add_argument(
        "--deploy-attempts",
        type=int,
        default=3,
        help="tries per scenario when the stack fails before the policy took over (stand-up)",
    )


def _command_line(args: argparse.Namespace) -> str:
    parts = ["hsi-offline evaluate", str(args.policy), f"--seed {args.seed}"]
    if args.scenarios:
        parts.append("--scenarios " + " ".join(args.scenarios))
    if args.duration_scale != 1.0:
        parts.append(f"--duration-scale {args.duration_scale:g}")
    if list(args.sides) != list(SIDES):
        parts.append("--sides " + " ".join(args.sides))
    if args.randomise:
        parts.append("--randomise")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    from hsi_kernel.child_process import sweep_temp_dirs
    from hsi_offline.evaluation.deploy import EVAL_TMP_PREFIX, run_deploy_isolated
    from hsi_offline.evaluation.report import ScenarioResult, write_report
    from hsi_offline.evaluation.scenario_metrics import score
    from hsi_offline.evaluation.training_env import load_policy

    sweep_temp_dirs(EVAL_TMP_PREFIX)  # folders of evaluations killed outright (SIGKILL runs no clean-up)
    policy_path = Path(args.policy)
    if policy_path.is_dir():
        raise ValueError(f"policy file {policy_path} is a folder, not an ONNX file")
    if not policy_path.is_file():
        raise FileNotFoundError(f"policy file {policy_path} does not exist")
    if args.domain == 0:
        raise ValueError("--domain 0 is a real robot's DDS domain: the simulated robot needs another one")
    if args.deploy_attempts < 1:
        raise ValueError("--deploy-attempts must be at least 1")
    out_dir = check_output_dir(args.out or policy_path.with_suffix(".eval"), "report folder")
    if args.json is not None:
        check_output_file(args.json, "JSON summary")
    scenarios = get_scenarios(args.scenarios, args.duration_scale)
    policy = load_policy(policy_path)  # the onboard runner's own checks: one-line ValueError
    meta = policy.meta
    sha = hashlib.sha256(policy_path.read_bytes()).hexdigest()
    header = {
        "policy_name": policy_path.name,
        "policy_sha256": sha,
        "dof": meta.dof,
        "obs_dim": meta.layout.dim,
        "heightmap": bool(meta.layout.heightmap_size),
        "provenance": json.dumps(meta.provenance, sort_keys=True),
        "seed": args.seed,
        "duration_scale": args.duration_scale,
        "randomise": bool(args.randomise),
        "sides": list(args.sides),
        "command": _command_line(args),
    }
    results, infra_errors = [], 0
    t_all = time.monotonic()
    for sc in scenarios:
        seed = scenario_seed(args.seed, sc.name)
        rollouts = {}
        if "training_env" in args.sides:
            from hsi_offline.evaluation.training_env import run_training_env

            rollouts["training_env"] = run_training_env(sc, policy_path, seed, args.randomise)
        if "lockstep" in args.sides:
            from hsi_offline.evaluation.lockstep import run_lockstep

            rollouts["lockstep"] = run_lockstep(sc, policy_path, seed)
        if "deploy" in args.sides:
            for attempt in range(args.deploy_attempts):
                r = run_deploy_isolated(
                    sc, args.duration_scale, policy_path, seed, args.domain, args.interface, meta.dof
                )
                if not r.ended.startswith("error:"):
                    break
                print(f"evaluate: {sc.name}: deploy attempt {attempt + 1} failed: {r.ended}", flush=True)
            if attempt:
                r.notes.append(f"{attempt} earlier attempt(s) failed before the policy took over")
            rollouts["deploy"] = r
        metrics = {side: score(r, sc, meta.dof) for side, r in rollouts.items()}
        infra_errors += sum(r.ended.startswith("error:") for r in rollouts.values())
        results.append(ScenarioResult(sc, rollouts, metrics))
        print(
            f"evaluate: {sc.name:16s} "
            + "  ".join(
                f"{side}: {'completed' if m.completed else ('FELL' if m.fell else 'not completed')}"
                f" (path RMS {m.track_rms_m:.2f} m)"
                for side, m in metrics.items()
            ),
            flush=True,
        )
    written = write_report(results, header, out_dir, args.json)
    print(
        f"evaluate: {len(results)} scenario(s) in {time.monotonic() - t_all:.0f} s; report "
        f"{written['report.md']}" + (f", JSON {args.json}" if args.json else ""),
        flush=True,
    )
    return 1 if infra_errors else 0
