"""Import the Unitree SDK 2 Python package despite its broken wheel: its IDL message types for the G1 (hg).

``unitree_sdk2==1.0.1``'s ``__init__`` imports a ``b2`` subpackage the wheel does not contain, so a plain
``import unitree_sdk2py`` fails. We register the package object without running that ``__init__`` (its
subpackages ``idl`` and ``core`` are complete) instead of editing site-packages. The SDK's CRC helper needs a
missing shared library; ``unitree.crc`` replaces it. The DDS endpoints are ours: ``unitree.dds``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path


def _register_package() -> None:
    if "unitree_sdk2py" in sys.modules:
        return
    spec = importlib.util.find_spec("unitree_sdk2py")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "unitree_sdk2py is not installed: run `make setup` (pip install unitree_sdk2==1.0.1)"
        )
    pkg = types.ModuleType("unitree_sdk2py")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__file__ = spec.origin
    pkg.__spec__ = spec
    sys.modules["unitree_sdk2py"] = pkg


_register_package()
hg = importlib.import_module("unitree_sdk2py.idl.unitree_hg.msg.dds_")

LowCmd_ = hg.LowCmd_
LowState_ = hg.LowState_
MotorCmd_ = hg.MotorCmd_
MotorState_ = hg.MotorState_
IMUState_ = hg.IMUState_

TOPIC_LOWCMD = "rt/lowcmd"
TOPIC_LOWSTATE = "rt/lowstate"


class DdsSetupError(RuntimeError):
    """DDS cannot start as configured (one-line, actionable)."""


def new_lowcmd():
    return LowCmd_(0, 0, [MotorCmd_(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0) for _ in range(35)], [0, 0, 0, 0], 0)


def new_lowstate():
    return LowState_(
        [0, 0],
        0,
        0,
        0,
        IMUState_([1.0, 0.0, 0.0, 0.0], [0.0] * 3, [0.0] * 3, [0.0] * 3, 0),
        [MotorState_(0, 0.0, 0.0, 0.0, 0.0, [0, 0], 0.0, [0, 0], 0, [0, 0, 0, 0]) for _ in range(35)],
        [0] * 40,
        [0, 0, 0, 0],
        0,
    )


def check_interface(name: str) -> None:
    """Fail with a clear message when the network interface does not exist."""
    if not Path("/sys/class/net", name).exists():
        have = ", ".join(sorted(os.listdir("/sys/class/net"))) if Path("/sys/class/net").is_dir() else "?"
        raise DdsSetupError(f"network interface '{name}' does not exist (have: {have}); pass --interface")
