"""The G1 wireless remote as carried in ``LowState_.wireless_remote`` (40 bytes).

Bytes 0-1 header; 2-3 buttons (little-endian uint16, bit order in ``BUTTONS``); float32 sticks: lx at 4,
rx at 8, ry at 12, L2 analog at 16, ly at 20. Used by the simulator's scripted remote and by the bridge.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

BUTTONS = (
    "R1",
    "L1",
    "start",
    "select",
    "R2",
    "L2",
    "F1",
    "F2",
    "A",
    "B",
    "X",
    "Y",
    "up",
    "right",
    "down",
    "left",
)
AXES = ("lx", "ly", "rx", "ry", "L2")


@dataclass
class RemoteState:
    buttons: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(BUTTONS, False))
    lx: float = 0.0
    ly: float = 0.0
    rx: float = 0.0
    ry: float = 0.0
    l2: float = 0.0

    def pressed(self) -> set[str]:
        return {b for b, v in self.buttons.items() if v}


def encode(state: RemoteState) -> list[int]:
    """RemoteState -> the 40 wireless_remote bytes."""
    raw = bytearray(40)
    bits = sum(1 << i for i, b in enumerate(BUTTONS) if state.buttons.get(b))
    struct.pack_into("<H", raw, 2, bits)
    for off, v in ((4, state.lx), (8, state.rx), (12, state.ry), (16, state.l2), (20, state.ly)):
        struct.pack_into("<f", raw, off, float(v))
    return list(raw)


def decode(raw) -> RemoteState:
    """40 bytes (list or bytes) -> RemoteState; a one-line ValueError on a wrong length."""
    raw = bytes(bytearray(raw))
    if len(raw) != 40:
        raise ValueError(f"wireless_remote must be 40 bytes, got {len(raw)}")
    (bits,) = struct.unpack_from("<H", raw, 2)
    lx, rx, ry, l2, ly = (struct.unpack_from("<f", raw, o)[0] for o in (4, 8, 12, 16, 20))
    return RemoteState({b: bool(bits >> i & 1) for i, b in enumerate(BUTTONS)}, lx, ly, rx, ry, l2)
