"""Import the Unitree SDK 2 Python package despite its broken wheel, and open its DDS channels.

``unitree_sdk2==1.0.1``'s ``__init__`` imports a ``b2`` subpackage the wheel does not contain, so a plain
``import unitree_sdk2py`` fails. We register the package object without running that ``__init__`` (its
subpackages ``idl`` and ``core`` are complete) instead of editing site-packages. The SDK's CRC helper needs a
missing shared library; ``unitree.crc`` replaces it.
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
channel = importlib.import_module("unitree_sdk2py.core.channel")

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
    return LowState_([0, 0], 0, 0, 0, IMUState_([1.0, 0.0, 0.0, 0.0], [0.0] * 3, [0.0] * 3, [0.0] * 3, 0),
                     [MotorState_(0, 0.0, 0.0, 0.0, 0.0, [0, 0], 0.0, [0, 0], 0, [0, 0, 0, 0])
                      for _ in range(35)], [0] * 40, [0, 0, 0, 0], 0)


def check_interface(name: str) -> None:
    """Fail with a clear message when the network interface does not exist."""
    if not Path("/sys/class/net", name).exists():
        have = ", ".join(sorted(os.listdir("/sys/class/net"))) if Path("/sys/class/net").is_dir() else "?"
        raise DdsSetupError(f"network interface '{name}' does not exist (have: {have}); pass --interface")


_INITIALISED: tuple[int, str] | None = None


def init_channels(domain: int, interface: str) -> None:
    """Initialise the SDK's (process-wide, single) DDS domain on ``interface``. Idempotent for equal args."""
    global _INITIALISED
    if _INITIALISED is not None:
        if (domain, interface) != _INITIALISED:
            raise DdsSetupError(f"this process already joined DDS domain {_INITIALISED[0]} on "
                                f"{_INITIALISED[1]}; one domain per process")
        return
    if not 0 <= domain <= 232:
        raise DdsSetupError(f"DDS domain {domain} is out of range 0..232")
    check_interface(interface)
    try:
        channel.ChannelFactoryInitialize(domain, interface)
    except Exception as e:  # cyclonedds raises DDSException with a numeric code
        raise DdsSetupError(f"cannot join DDS domain {domain} on '{interface}' ({e}); check the interface "
                            "and permissions") from None
    _INITIALISED = (domain, interface)


def publisher(topic: str, msg_type):
    pub = channel.ChannelPublisher(topic, msg_type)
    pub.Init()
    return pub


def subscriber(topic: str, msg_type, handler=None, queue_len: int = 0):
    sub = channel.ChannelSubscriber(topic, msg_type)
    sub.Init(handler, queue_len)
    return sub


def someone_publishes(topic: str, msg_type, wait_s: float = 0.4) -> bool:
    """True when samples arrive on ``topic`` within ``wait_s``: another writer (robot, simulator or
    controller, all of which publish at 500 Hz) already owns it on this domain.

    Polls a reader WITHOUT a listener: dropping a reader whose listener is delivering 500 Hz samples on the
    DDS thread segfaulted cyclonedds' Python binding now and then (seen in the simulator tests).
    """
    import contextlib
    import io

    sub = subscriber(topic, msg_type, None, 0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the SDK prints "[Reader] take sample timeout"
            return sub.Read(wait_s) is not None
    finally:
        sub.Close()
