"""LowState_/LowCmd_ (unitree_hg) on the wire, encoded/decoded with numpy instead of cyclonedds' IDL classes.

Why: cyclonedds' Python IDL machinery takes ~220 us to deserialize one LowState and ~140-250 us to serialize
a LowCmd/LowState (measured on this machine), all of it holding the GIL. At 500 Hz on both ends that is a
sixth of a core per process and GIL stalls right on the control path. Both messages are fixed-size, so a
precomputed byte layout turns decoding into a few numpy gathers (~tens of us).

Two layouts of the same fields, computed from one field list below:

- XCDR1 (what DDS sends): every primitive aligned to its own size, counted from the end of the 4-byte
  encapsulation header; a struct adds no padding of its own.
- the C struct (what the Unitree CRC is computed over, ``unitree.crc``): natural alignment AND every struct
  padded to a multiple of its largest member, as the robot's firmware lays it out.

tests/test_unitree_wire.py checks both byte for byte against cyclonedds' own serializer and against
``unitree.crc``'s struct formats, for random messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hsi_kernel.unitree.crc import crc32_words

Field = tuple[str, "str | list", int]  # (name, numpy type code or nested field list, count)

IMU_STATE: list = [
    ("quaternion", "f4", 4),
    ("gyroscope", "f4", 3),
    ("accelerometer", "f4", 3),
    ("rpy", "f4", 3),
    ("temperature", "i2", 1),
]
MOTOR_STATE: list = [
    ("mode", "u1", 1),
    ("q", "f4", 1),
    ("dq", "f4", 1),
    ("ddq", "f4", 1),
    ("tau_est", "f4", 1),
    ("temperature", "i2", 2),
    ("vol", "f4", 1),
    ("sensor", "u4", 2),
    ("motorstate", "u4", 1),
    ("reserve", "u4", 4),
]
MOTOR_CMD: list = [
    ("mode", "u1", 1),
    ("q", "f4", 1),
    ("dq", "f4", 1),
    ("tau", "f4", 1),
    ("kp", "f4", 1),
    ("kd", "f4", 1),
    ("reserve", "u4", 1),
]
NUM_MOTOR_SLOTS = 35
LOW_STATE: list = [
    ("version", "u4", 2),
    ("mode_pr", "u1", 1),
    ("mode_machine", "u1", 1),
    ("tick", "u4", 1),
    ("imu_state", IMU_STATE, 1),
    ("motor_state", MOTOR_STATE, NUM_MOTOR_SLOTS),
    ("wireless_remote", "u1", 40),
    ("reserve", "u4", 4),
    ("crc", "u4", 1),
]
LOW_CMD: list = [
    ("mode_pr", "u1", 1),
    ("mode_machine", "u1", 1),
    ("motor_cmd", MOTOR_CMD, NUM_MOTOR_SLOTS),
    ("reserve", "u4", 4),
    ("crc", "u4", 1),
]

CDR_HEADER = b"\x00\x01\x00\x00"  # XCDR1, little endian


def _max_align(fields: list) -> int:
    return max(_max_align(t) if isinstance(t, list) else np.dtype(t).itemsize for _, t, _ in fields)


def _walk(fields: list, pos: int, c_struct: bool, prefix: str, out: dict[str, list[int]]) -> int:
    """Append each leaf's element offsets to ``out[path]``; return the position after ``fields``."""
    start = pos
    for name, t, count in fields:
        path = prefix + name
        for _ in range(count):
            if isinstance(t, list):
                if c_struct:  # a C struct starts at a multiple of its alignment
                    a = _max_align(t)
                    pos = -(-pos // a) * a
                pos = _walk(t, pos, c_struct, path + ".", out)
            else:
                size = np.dtype(t).itemsize
                pos = -(-pos // size) * size
                out.setdefault(path, []).append(pos)
                pos += size
    if c_struct:  # and is padded to a multiple of it
        a = _max_align(fields)
        pos = start + -(-(pos - start) // a) * a
    return pos


@dataclass(frozen=True)
class _Leaf:
    dtype: np.dtype
    shape: tuple[int, ...]
    cdr: np.ndarray  # byte offsets in the CDR payload (after the header), one per element
    c: np.ndarray  # byte offsets in the C struct


class Layout:
    """Byte layout of one fixed-size message type: CDR to arrays, arrays to CDR, and the C-struct CRC."""

    def __init__(self, fields: list):
        cdr: dict[str, list[int]] = {}
        c: dict[str, list[int]] = {}
        self.cdr_size = _walk(fields, 0, False, "", cdr)
        self.c_size = _walk(fields, 0, True, "", c)
        self.leaves: dict[str, _Leaf] = {}
        for path in cdr:
            dt = np.dtype(self._type_of(fields, path.split(".")))
            n = len(cdr[path])
            shape = self._shape_of(fields, path.split("."))
            assert int(np.prod(shape)) == n
            self.leaves[path] = _Leaf(dt.newbyteorder("<"), shape, np.array(cdr[path]), np.array(c[path]))
        # byte gather CDR payload -> C struct (padding bytes read a zero appended at index cdr_size)
        src = np.full(self.c_size, self.cdr_size, dtype=np.int64)
        for leaf in self.leaves.values():
            k = leaf.dtype.itemsize
            src[(leaf.c[:, None] + np.arange(k)).ravel()] = (leaf.cdr[:, None] + np.arange(k)).ravel()
        self._cdr_to_c = src
        self._byte_index = {
            p: (lf.cdr[:, None] + np.arange(lf.dtype.itemsize)).ravel() for p, lf in self.leaves.items()
        }

    @staticmethod
    def _type_of(fields: list, parts: list[str]):
        for name, t, _ in fields:
            if name == parts[0]:
                return Layout._type_of(t, parts[1:]) if isinstance(t, list) else t
        raise KeyError(parts[0])

    @staticmethod
    def _shape_of(fields: list, parts: list[str]) -> tuple[int, ...]:
        for name, t, count in fields:
            if name == parts[0]:
                outer = (count,) if count > 1 else ()
                return outer + (Layout._shape_of(t, parts[1:]) if isinstance(t, list) else ())
        raise KeyError(parts[0])

    # -- decoding ---------------------------------------------------------------------------------------
    def payload(self, data: bytes | bytearray | memoryview) -> np.ndarray:
        """The CDR payload as uint8 (header checked; one-line ValueError on a wrong size or encoding)."""
        raw = np.frombuffer(data, dtype=np.uint8)
        if len(raw) < 4 + self.cdr_size or bytes(raw[:2]) != CDR_HEADER[:2]:
            raise ValueError(f"not a {self.cdr_size}-byte little-endian XCDR1 sample ({len(raw)} bytes)")
        return raw[4 : 4 + self.cdr_size]

    def get(self, payload: np.ndarray, path: str) -> np.ndarray:
        """One field, e.g. ``motor_state.q`` -> (35,) float32; scalars come back as 0-d arrays."""
        leaf = self.leaves[path]
        return payload[self._byte_index[path]].view(leaf.dtype).reshape(leaf.shape)

    def c_struct(self, payload: np.ndarray) -> bytes:
        """The same message as the robot's C struct (for its CRC)."""
        return np.append(payload, np.uint8(0))[self._cdr_to_c].tobytes()

    def crc(self, payload: np.ndarray) -> int:
        return crc32_words(self.c_struct(payload))

    # -- encoding ---------------------------------------------------------------------------------------
    def new_payload(self) -> np.ndarray:
        return np.zeros(self.cdr_size, dtype=np.uint8)

    def set(self, payload: np.ndarray, path: str, value) -> None:
        leaf = self.leaves[path]
        arr = np.asarray(value, dtype=leaf.dtype)
        if arr.shape != leaf.shape:  # scalars and broadcastable values (broadcast_to costs ~5 us a call)
            arr = np.broadcast_to(arr, leaf.shape)
        payload[self._byte_index[path]] = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)

    def seal(self, payload: np.ndarray) -> bytes:
        """Set the trailing ``crc`` field from the C-struct CRC and return the sample as DDS sends it."""
        self.set(payload, "crc", self.crc(payload))
        data = CDR_HEADER + payload.tobytes()
        return data + b"\0" * (-len(data) % 4)


LOWSTATE = Layout(LOW_STATE)
LOWCMD = Layout(LOW_CMD)
