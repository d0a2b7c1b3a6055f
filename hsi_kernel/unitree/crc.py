"""The Unitree CRC of unitree_hg LowCmd_/LowState_, implemented here (the SDK wheel lacks its helper library).

CRC-32 with polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no final XOR, fed the message as 32-bit
little-endian words, each processed most-significant bit first; the last word (the crc field) is excluded.
Processing a word MSB-first is the same as running the non-reflected CRC-32/MPEG-2 over its big-endian bytes.
That equals a reflected CRC (zlib's, in C) over bit-reversed bytes, bit-reversed back, so no Python bit loop
runs on the 500 Hz path.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

LOWCMD_FMT = "<2B2x" + "B3x5fI" * 35 + "5I"
LOWSTATE_FMT = "<2I2B2xI" + "13fh2x" + "B3x4f2hf7I" * 35 + "40B5I"
LOWCMD_SIZE = struct.calcsize(LOWCMD_FMT)  # 1004
LOWSTATE_SIZE = struct.calcsize(LOWSTATE_FMT)

_REV8 = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], dtype=np.uint8)


def _bitrev32(x: int) -> int:
    return int(f"{x:032b}"[::-1], 2)


def crc32_words(packed: bytes) -> int:
    """Unitree CRC over all 32-bit words of ``packed`` except the last."""
    n_words = len(packed) // 4 - 1
    words = np.frombuffer(packed, dtype="<u4", count=n_words)
    be_bytes = words.astype(">u4").view(np.uint8)
    reflected = zlib.crc32(_REV8[be_bytes].tobytes()) ^ 0xFFFFFFFF  # undo zlib's final XOR
    return _bitrev32(reflected)


def crc32_reference(packed: bytes) -> int:
    """Bit-by-bit CRC exactly as the robot's documentation describes it (slow; for tests)."""
    crc = 0xFFFFFFFF
    for (word,) in struct.iter_unpack("<I", packed[: (len(packed) // 4 - 1) * 4]):
        for bit in range(31, -1, -1):
            top = crc & 0x80000000
            crc = (crc << 1) & 0xFFFFFFFF
            if top ^ (((word >> bit) & 1) << 31):
                crc ^= 0x04C11DB7
    return crc


def pack_lowcmd(cmd) -> bytes:
    """Pack an unitree_hg LowCmd_ as the C struct (little-endian, 1004 bytes)."""
    vals: list = [cmd.mode_pr, cmd.mode_machine]
    for m in cmd.motor_cmd:
        vals += [m.mode, m.q, m.dq, m.tau, m.kp, m.kd, m.reserve]
    vals += [*cmd.reserve, cmd.crc]
    return struct.pack(LOWCMD_FMT, *vals)


def pack_lowstate(s) -> bytes:
    """Pack an unitree_hg LowState_ as the C struct (little-endian)."""
    imu = s.imu_state
    vals: list = [
        *s.version,
        s.mode_pr,
        s.mode_machine,
        s.tick,
        *imu.quaternion,
        *imu.gyroscope,
        *imu.accelerometer,
        *imu.rpy,
        imu.temperature,
    ]
    for m in s.motor_state:
        vals += [
            m.mode,
            m.q,
            m.dq,
            m.ddq,
            m.tau_est,
            *m.temperature,
            m.vol,
            *m.sensor,
            m.motorstate,
            *m.reserve,
        ]
    vals += [*s.wireless_remote, *s.reserve, s.crc]
    return struct.pack(LOWSTATE_FMT, *vals)


def lowcmd_crc(cmd) -> int:
    return crc32_words(pack_lowcmd(cmd))


def lowstate_crc(state) -> int:
    return crc32_words(pack_lowstate(state))
