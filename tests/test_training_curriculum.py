"""The termination-distance curriculum: it tightens on earned episodes, loosens on failures, and a resumed
run continues from the distance its checkpoint had reached instead of starting loose again."""

from __future__ import annotations

import torch

from hsi_offline.cli import main
from hsi_offline.training.procedural_clips import standing_clip
from hsi_offline.training.runner import load_checkpoint
from hsi_offline.training.terminations import TerminationCurriculum

YAML = """stage: mpt
iterations: 1
num_steps_per_env: 4
save_interval: 1
env:
  num_envs: 2
  threads: 1
  episode_length_s: 1.0
  termination_distance: 0.3
  termination_start: 0.8
  clips: [{clip}]
policy:
  actor_hidden: [16]
  critic_hidden: [16]
algorithm:
  num_mini_batches: 1
  num_learning_epochs: 1
"""


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
    cfg.write_text(YAML.format(clip=clip))
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
    cfg.write_text(YAML.format(clip=clip) + "  learning_rate: 1.0e-3\n  schedule: fixed\n")
    out = tmp_path / "run"
    assert main(["train", "--stage", "mpt", "--config", str(cfg), "--out", str(out)]) == 0
    assert load_checkpoint(out / "model_0.pt")["optimizer_state_dict"]["param_groups"][0]["lr"] == 1.0e-3
    cfg.write_text(YAML.format(clip=clip) + "  learning_rate: 2.0e-4\n  schedule: fixed\n")
    args = ["train", "--stage", "mpt", "--config", str(cfg), "--out", str(out), "--iterations", "1"]
    assert main([*args, "--resume", str(out / "model_0.pt")]) == 0
    assert load_checkpoint(out / "model_1.pt")["optimizer_state_dict"]["param_groups"][0]["lr"] == 2.0e-4
