"""``hsi-offline bench train --set KEY=VALUE``: dotted overrides reach the training config, checked by its
loader like any YAML key."""

from __future__ import annotations

import pytest

from hsi_offline.bench.train import parse_overrides
from hsi_offline.training.config import load_config, merge_settings


def test_overrides_reach_the_config() -> None:
    over = parse_overrides(["algorithm.symmetry=true", "algorithm.num_learning_epochs=3", "env.num_envs=64"])
    assert over == {"algorithm": {"symmetry": True, "num_learning_epochs": 3}, "env": {"num_envs": 64}}
    cfg = load_config("config/training/cpu/walk_mpt.yaml", merge_settings(over, {"env": {"threads": 1}}))
    assert cfg.algorithm.symmetry and cfg.algorithm.num_learning_epochs == 3
    assert cfg.env.num_envs == 64 and cfg.env.threads == 1 and cfg.env.gains == "unitree"


def test_bad_overrides_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["algorithm.symmetry"])
    with pytest.raises(ValueError, match="unknown keys"):
        load_config("config/training/cpu/walk_mpt.yaml", parse_overrides(["algorithm.symmetri=true"]))
