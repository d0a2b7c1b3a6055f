"""``hsi-offline train`` end to end on CPU with a clip file on disk, and its one-line errors; the
termination-distance curriculum and a fixed learning rate carried through ``--resume``."""

from __future__ import annotations

import torch

from hsi_offline.cli import main
from hsi_offline.training.procedural_clips import standing_clip
from hsi_offline.training.runner import load_checkpoint
from hsi_offline.training.terminations import TerminationCurriculum

YAML = """stage: mpt
iterations: 2
num_steps_per_env: 4
save_interval: 1
env:
  num_envs: 2
  threads: 1
  episode_length_s: 1.0
  clips: [{clip}]
policy:
  actor_hidden: [16]
  critic_hidden: [16]
algorithm:
  num_mini_batches: 1
  num_learning_epochs: 1
"""


def test_train_cli_writes_checkpoints_curves_and_resumes(tmp_path, capsys):
    threads = torch.get_num_threads()
    clip = standing_clip(seconds=1.0).save(tmp_path / "clips" / "stand.npz")
    cfg = tmp_path / "mpt.yaml"
    cfg.write_text(YAML.format(clip=clip))
    out = tmp_path / "run"
    try:
        assert main(["train", "--stage", "mpt", "--config", str(cfg), "--out", str(out)]) == 0
        assert (out / "learning_curves.png").is_file() and (out / "history.json").is_file()
        assert load_checkpoint(out / "model_1.pt")["iter"] == 1
        assert "[mpt] it 2/2" in capsys.readouterr().out
        # a new run into a folder that holds checkpoints would mix runs: refused in one line
        assert main(["train", "--stage", "mpt", "--config", str(cfg), "--out", str(out)]) == 2
        assert "already holds checkpoints" in capsys.readouterr().err
        assert (
            main(
                [
                    "train",
                    "--stage",
                    "mpt",
                    "--config",
                    str(cfg),
                    "--out",
                    str(out),
                    "--iterations",
                    "1",
                    "--resume",
                    str(out / "model_1.pt"),
                ]
            )
            == 0
        )
        assert (out / "model_2.pt").is_file()
        assert load_checkpoint(out)["iter"] == 2  # a run folder stands for its last checkpoint (init_from)
        import json

        rows = json.loads((out / "history.json").read_text())
        its = [row["iteration"] for row in rows]
        assert all("success_rate" in row for row in rows)  # issue 5's tracking success rate, per iteration
        assert its == [0, 1, 2], its  # the resumed run's curves include the first part
    finally:
        torch.set_num_threads(threads)


def test_train_cli_errors_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("stage: mpt\nenv:\n  clips: [does/not/exist.npz]\n")
    assert main(["train", "--stage", "mpt", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does/not/exist.npz" in err[0]
    cfg.write_text("stage: mpt\nenv:\n  clips: []\n")
    assert main(["train", "--stage", "mpt", "--config", str(cfg)]) == 2
    assert "no motion clips" in capsys.readouterr().err


def test_warp_backend_without_gpu_is_a_one_line_error(capsys):
    if torch.cuda.is_available():  # a GPU machine runs the backend instead; this test is about its absence
        from hsi_offline.training.backends.warp import require_warp

        try:
            require_warp("cuda:0")
        except ValueError as e:
            assert "mujoco-warp" in str(e)
        return
    assert main(["bench", "env", "--backend", "warp", "--envs", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NVIDIA GPU" in err[0]


def test_clips_command_writes_valid_procedural_clips(tmp_path, capsys):
    from hsi_kernel.contract import get_contract
    from hsi_offline.motion.clip import load

    out = tmp_path / "clips"
    assert main(["clips", "--out", str(out), "--seconds", "2"]) == 0
    stand, sway = load(out / "standing.npz"), load(out / "sway.npz")
    assert stand.num_frames == sway.num_frames == 101 and stand.terrain == "" == sway.terrain
    q0 = get_contract(23).default_q
    assert abs(stand.joint_pos - q0).max() == 0.0
    assert abs(sway.joint_pos - q0).max() > 0.1  # the arms swing
    assert main(["clips", "--out", str(out), "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err


def test_cpu_stage_configs_chain_into_each_other_and_the_makefile():
    """config/training/cpu: each stage starts from the previous stage's LAST checkpoint, and make train-cpu
    exports the fine-tuning run's last checkpoint."""
    import re
    from pathlib import Path

    from hsi_offline.training.config import load_config

    root = Path(__file__).resolve().parents[1]
    cfgs = {
        s: load_config(root / "config/training/cpu" / f"{s}.yaml")
        for s in ("mpt", "track", "distill", "finetune")
    }
    make = (root / "Makefile").read_text()
    for prev, stage in (("mpt", "track"), ("track", "distill"), ("distill", "finetune")):
        assert cfgs[stage].init_from == f"runs/cpu/{prev}", stage  # the folder: its last checkpoint
        assert f"--init-from $(CPU_RUNS)/{prev} --out $(CPU_RUNS)/{stage}" in make, stage
    for c in cfgs.values():
        assert c.env.backend == "cpu" and c.env.clips == ["runs/cpu/clips"]
        assert c.policy.actor_hidden == cfgs["mpt"].policy.actor_hidden
    assert re.search(r"export \$\(CPU_RUNS\)/finetune ", make)  # the run folder: its last checkpoint


def test_export_of_a_run_folder_takes_its_last_checkpoint(tmp_path, capsys):
    from hsi_offline.training.export import last_checkpoint

    for it in (0, 50, 178, 29):
        (tmp_path / f"model_{it}.pt").write_bytes(b"")
    (tmp_path / "model_best.pt").write_bytes(b"")
    # the run finished (see test_bad_input_training)
    (tmp_path / "history.json").write_text('[{"iteration": 178}]')
    assert last_checkpoint(tmp_path).name == "model_178.pt"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["export", str(empty)]) == 2
    assert "no model_<iteration>.pt" in capsys.readouterr().err


def _curriculum_yaml(clip) -> str:
    """One iteration per run, with the termination-distance curriculum on (0.8 m -> 0.3 m)."""
    text = YAML.format(clip=clip).replace("\niterations: 2\n", "\niterations: 1\n")
    return text.replace("  clips:", "  termination_distance: 0.3\n  termination_start: 0.8\n  clips:")


def test_curriculum_moves_with_outcomes_and_restores_within_its_range():
    c = TerminationCurriculum(0.8, 0.3, window=4, up=0.6, down=0.2, step=0.1)
    assert c.record([1, 1, 1]) == 0.8  # not a full window yet
    assert abs(c.record([1]) - 0.7) < 1e-9  # 4/4 earned: one step tighter
    assert abs(c.record([0, 0, 0, 0]) - 0.8) < 1e-9  # all failed: one step looser, never past the start
    assert c.record([0, 0, 0, 0]) == 0.8
    assert c.restore(0.45) == 0.45
    assert c.restore(0.1) == 0.3 and c.restore(2.0) == 0.8  # clamped to this run's range


def test_resume_continues_the_earned_termination_distance(tmp_path, capsys):
    clip = standing_clip(seconds=1.0).save(tmp_path / "clips" / "stand.npz")
    cfg = tmp_path / "mpt.yaml"
    cfg.write_text(_curriculum_yaml(clip))
    out = tmp_path / "run"
    assert main(["train", "--stage", "mpt", "--config", str(cfg), "--out", str(out)]) == 0
    first = out / "model_0.pt"
    ckpt = load_checkpoint(first)
    assert ckpt["infos"]["hsi_robot"]["termination_distance_now"] == 0.8  # 4 steps earn nothing yet
    # as if the run had earned 0.46 m before it was cut off
    ckpt["infos"]["hsi_robot"]["termination_distance_now"] = 0.46
    earned = tmp_path / "earned.pt"
    torch.save(ckpt, earned)
    args = ["train", "--stage", "mpt", "--config", str(cfg), "--out", str(out), "--iterations", "1"]
    assert main([*args, "--resume", str(earned)]) == 0
    assert "termination distance continues at 0.46 m" in capsys.readouterr().out
    resumed = load_checkpoint(out / "model_1.pt")
    assert abs(resumed["infos"]["hsi_robot"]["termination_distance_now"] - 0.46) <= 0.02 + 1e-9


def test_resume_takes_a_fixed_learning_rate_from_the_config(tmp_path):
    """rsl-rl restores the optimiser's rate from the checkpoint: without the config's, a resumed run would
    silently keep the old rate (the walking run's lower rate would never take effect)."""
    clip = standing_clip(seconds=1.0).save(tmp_path / "clips" / "stand.npz")
    cfg = tmp_path / "mpt.yaml"
    cfg.write_text(_curriculum_yaml(clip) + "  learning_rate: 1.0e-3\n  schedule: fixed\n")
    out = tmp_path / "run"
    assert main(["train", "--stage", "mpt", "--config", str(cfg), "--out", str(out)]) == 0
    assert load_checkpoint(out / "model_0.pt")["optimizer_state_dict"]["param_groups"][0]["lr"] == 1.0e-3
    cfg.write_text(_curriculum_yaml(clip) + "  learning_rate: 2.0e-4\n  schedule: fixed\n")
    args = ["train", "--stage", "mpt", "--config", str(cfg), "--out", str(out), "--iterations", "1"]
    assert main([*args, "--resume", str(out / "model_0.pt")]) == 0
    assert load_checkpoint(out / "model_1.pt")["optimizer_state_dict"]["param_groups"][0]["lr"] == 2.0e-4
