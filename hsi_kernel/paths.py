"""Where the project's data folders are, for editable installs, wheels and colcon installs alike."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _find(folder: str, env: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    candidates = [REPO_ROOT / folder, Path(sys.prefix) / "share" / "hsi_robot" / folder]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(f"cannot find the hsi_robot '{folder}' folder; set {env}")


def models_dir() -> Path:
    return _find("models", "HSI_ROBOT_MODELS")


def config_dir() -> Path:
    return _find("config", "HSI_ROBOT_CONFIG")
