"""Gamepad profiles: where the sticks and buttons of a sensor_msgs/Joy are, in the Unitree convention.

Everything downstream uses the Unitree remote's convention (lx right-positive, ly forward-positive, rx
right-positive; button names of ``unitree.remote.BUTTONS``), so VideoMimic's mapping (forward 0.5*ly, left
-0.5*lx, yaw -0.3*rx) is written once. A profile only says which Joy index holds which value and its sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hsi_kernel.unitree.remote import AXES, BUTTONS


@dataclass(frozen=True)
class JoyProfile:
    """``axes``: name -> (Joy axis index, sign); ``buttons``: Joy button index -> Unitree button name."""

    name: str
    axes: dict[str, tuple[int, float]]
    buttons: dict[int, str] = field(default_factory=dict)
    forward_events: bool = True  # whether start/A/select here should be sent to the bridge as events


UNITREE = JoyProfile(
    "unitree",
    {"lx": (AXES.index("lx"), 1.0), "ly": (AXES.index("ly"), 1.0), "rx": (AXES.index("rx"), 1.0)},
    dict(enumerate(BUTTONS)),
    forward_events=False,  # the bridge reads start/A/select from LowState itself; sending them again would
    # double every transition
)
"""The bridge's republished remote: axes in ``remote.AXES`` order, buttons in ``remote.BUTTONS`` order."""

XBOX = JoyProfile(
    "xbox",
    # ROS joy (Linux xpad): axis 0 left stick left+, 1 left stick up+, 3 right stick left+
    {"lx": (0, -1.0), "ly": (1, 1.0), "rx": (3, -1.0)},
    {0: "A", 1: "B", 2: "X", 3: "Y", 4: "L1", 5: "R1", 6: "select", 7: "start"},
)

PROFILES = {p.name: p for p in (UNITREE, XBOX)}


def get_profile(name: str) -> JoyProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown joystick profile '{name}' (use {', '.join(PROFILES)})") from None


def read_joy(
    profile: JoyProfile, axes: Sequence[float], buttons: Sequence[int]
) -> tuple[dict[str, float], set[str]]:
    """(sticks {lx, ly, rx} in the Unitree convention, names of pressed buttons); short messages read as 0."""
    sticks = {}
    for key, (idx, sign) in profile.axes.items():
        sticks[key] = sign * float(axes[idx]) if 0 <= idx < len(axes) else 0.0
    pressed = {name for idx, name in profile.buttons.items() if idx < len(buttons) and buttons[idx]}
    return sticks, pressed
