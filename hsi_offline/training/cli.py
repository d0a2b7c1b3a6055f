"""``hsi-offline train --stage mpt|track|distill|finetune --config config/training/<stage>.yaml``.

Each run writes into ``--out`` (default ``runs/<stage>``): rsl-rl checkpoints ``model_<it>.pt`` carrying the
observation layout and robot contract, TensorBoard logs, ``history.json`` and ``learning_curves.png``.
``--resume CKPT`` continues a run (weights, optimiser, iteration); a stage's ``init_from`` starts it from the
previous stage's weights (stage 2 from stage 1 at its lower learning rate, stage 4 from the distilled
student).
"""

from __future__ import annotations

import argparse

from .config import STAGES, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", choices=STAGES, required=True)
    p.add_argument("--config", required=True, help="stage YAML (config/training/<stage>.yaml)")
    p.add_argument("--clips", nargs="*", default=None, help="motion clip files/folders (override the config)")
    p.add_argument("--out", default=None, help="run folder (default runs/<stage>)")
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--num-envs", type=int, default=None)
    p.add_argument("--backend", choices=("cpu", "warp"), default=None)
    p.add_argument("--device", default=None, help="torch device (cuda:0 with the warp backend)")
    p.add_argument("--init-from", default=None, help="checkpoint of the previous stage")
    p.add_argument("--resume", default=None, help="checkpoint of this stage to continue")


def run(args: argparse.Namespace) -> int:
    from hsi_offline.cli import UserError

    over: dict = {"stage": args.stage, "env": {}}
    if args.clips is not None:
        over["env"]["clips"] = list(args.clips)
    for key, val in (("num_envs", args.num_envs), ("backend", args.backend), ("device", args.device)):
        if val is not None:
            over["env"][key] = val
    if args.iterations is not None:
        over["iterations"] = args.iterations
    if args.init_from is not None:
        over["init_from"] = args.init_from
    cfg = load_config(args.config, over)
    if not cfg.env.clips:
        raise UserError("no motion clips: set env.clips in the config or pass --clips")
    from hsi_offline.outputs import check_output_dir

    out = check_output_dir(args.out or f"runs/{cfg.stage}", "run folder")  # before the env is built
    if not args.resume and any(out.glob("model_*.pt")):
        # the next stage starts from a run folder's last checkpoint: an old run's would be taken silently
        raise UserError(
            f"{out} already holds checkpoints of an earlier run: pass another --out, remove "
            "them, or --resume one"
        )
    from .env import TrackingEnv
    from .runner import load_checkpoint, make_runner

    if cfg.env.backend == "cpu":
        import torch

        torch.set_num_threads(1)  # small batched tensors: intra-op threads only fight the physics threads
    env = TrackingEnv(cfg.env)
    runner = make_runner(env, cfg, str(out))
    if args.resume:
        ckpt = load_checkpoint(args.resume)
        runner.load(args.resume)
        # the curves continue where the checkpoint's run left off (history.json and the plot cover both parts)
        runner.history[:] = list(((ckpt.get("infos") or {}).get("hsi_robot") or {}).get("history") or [])
        runner.current_learning_iteration += 1  # rsl-rl stores the last finished iteration
        if cfg.algorithm.schedule == "fixed" and cfg.stage != "distill":
            # rsl-rl restores the checkpoint's optimiser rate; a fixed rate is the config's to set on resume
            runner.alg.learning_rate = cfg.algorithm.learning_rate
            for group in runner.alg.optimizer.param_groups:
                group["lr"] = cfg.algorithm.learning_rate
        earned = ((ckpt.get("infos") or {}).get("hsi_robot") or {}).get("termination_distance_now")
        if earned is not None:
            print(f"termination distance continues at {env.termination.restore(earned):.2f} m")
    elif cfg.init_from:
        init_weights(runner, cfg.stage, cfg.init_from)
        if cfg.stage == "finetune":
            from .runner import warmup_critic

            warmup_critic(runner, cfg.critic_warmup_iterations, cfg.critic_warmup_learning_rate)
    runner.learn(cfg.iterations)
    png = runner.finish()
    env.close()
    print(f"run written to {out} (curves: {png})")
    return 0


def init_weights(runner, stage: str, path: str) -> None:
    """Start a stage from the previous one.

    track <- mpt actor and critic; distill <- teacher; finetune <- the distilled student.
    """
    from .runner import load_checkpoint

    ckpt = load_checkpoint(path)
    if stage == "distill":
        runner.alg.load(ckpt, {"teacher": True}, strict=True)
    elif stage == "finetune":
        state = ckpt.get("student_state_dict")
        if state is None:
            raise ValueError(f"'{path}' is not a distillation checkpoint (no student weights) for finetune")
        runner.alg.get_policy().load_state_dict(state, strict=True)
    else:
        runner.alg.load(ckpt, {"actor": True, "critic": True}, strict=True)
