"""unitree.wire against the references: cyclonedds' own IDL serializer (the bytes DDS sends) and the C-struct
packing the Unitree CRC is defined over (unitree.crc)."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_kernel.unitree import sdk, wire
from hsi_kernel.unitree.crc import lowcmd_crc, lowstate_crc, pack_lowcmd, pack_lowstate


def f32(rng, n=None):
    x = np.asarray(rng.normal(size=n), dtype=np.float32)
    return x.tolist() if n else float(x)


def random_lowstate(rng):
    m = sdk.new_lowstate()
    m.version = rng.integers(0, 2**32, 2).tolist()
    m.mode_pr, m.mode_machine, m.tick = 1, int(rng.integers(0, 256)), int(rng.integers(0, 2**32))
    imu = m.imu_state
    imu.quaternion, imu.gyroscope = f32(rng, 4), f32(rng, 3)
    imu.accelerometer, imu.rpy = f32(rng, 3), f32(rng, 3)
    imu.temperature = int(rng.integers(-100, 100))
    for ms in m.motor_state:
        ms.mode = int(rng.integers(0, 256))
        ms.q, ms.dq, ms.ddq, ms.tau_est, ms.vol = (f32(rng) for _ in range(5))
        ms.temperature = rng.integers(-300, 300, 2).tolist()
        ms.sensor, ms.motorstate = rng.integers(0, 2**32, 2).tolist(), int(rng.integers(0, 2**32))
        ms.reserve = rng.integers(0, 2**32, 4).tolist()
    m.wireless_remote = rng.integers(0, 256, 40).tolist()
    m.reserve = rng.integers(0, 2**32, 4).tolist()
    m.crc = lowstate_crc(m)
    return m


def random_lowcmd(rng):
    c = sdk.new_lowcmd()
    c.mode_pr, c.mode_machine = 0, int(rng.integers(0, 256))
    for mc in c.motor_cmd:
        mc.mode = int(rng.integers(0, 2))
        mc.q, mc.dq, mc.tau, mc.kp, mc.kd = (f32(rng) for _ in range(5))
        mc.reserve = int(rng.integers(0, 2**32))
    c.reserve = rng.integers(0, 2**32, 4).tolist()
    c.crc = lowcmd_crc(c)
    return c


@pytest.mark.parametrize("seed", range(5))
def test_lowstate_decodes_what_cyclonedds_encodes(seed):
    rng = np.random.default_rng(seed)
    m = random_lowstate(rng)
    W = wire.LOWSTATE
    p = W.payload(m.serialize())
    assert W.c_struct(p) == pack_lowstate(m)
    assert W.crc(p) == m.crc == int(W.get(p, "crc"))
    assert int(W.get(p, "tick")) == m.tick and int(W.get(p, "mode_machine")) == m.mode_machine
    assert W.get(p, "motor_state.q").tolist() == [x.q for x in m.motor_state]
    assert W.get(p, "motor_state.mode").tolist() == [x.mode for x in m.motor_state]
    assert W.get(p, "motor_state.temperature").tolist() == [x.temperature for x in m.motor_state]
    assert W.get(p, "imu_state.quaternion").tolist() == m.imu_state.quaternion
    assert int(W.get(p, "imu_state.temperature")) == m.imu_state.temperature
    assert W.get(p, "wireless_remote").tolist() == m.wireless_remote
    # and everything re-encoded field by field is the same sample, byte for byte
    q = W.new_payload()
    for path in W.leaves:
        W.set(q, path, W.get(p, path))
    assert W.seal(q) == m.serialize()


@pytest.mark.parametrize("seed", range(5))
def test_lowcmd_encodes_what_cyclonedds_encodes(seed):
    rng = np.random.default_rng(seed)
    c = random_lowcmd(rng)
    W = wire.LOWCMD
    p = W.new_payload()
    W.set(p, "mode_pr", c.mode_pr)
    W.set(p, "mode_machine", c.mode_machine)
    for name in ("mode", "q", "dq", "tau", "kp", "kd", "reserve"):
        W.set(p, f"motor_cmd.{name}", [getattr(mc, name) for mc in c.motor_cmd])
    W.set(p, "reserve", c.reserve)
    data = W.seal(p)
    assert data == c.serialize() and int(W.get(p, "crc")) == c.crc
    assert W.c_struct(W.payload(data)) == pack_lowcmd(c)
    assert sdk.LowCmd_.deserialize(data) == c


def test_wrong_samples_are_one_line_errors():
    with pytest.raises(ValueError, match="XCDR1"):
        wire.LOWSTATE.payload(b"\x00\x01\x00\x00" + bytes(100))
    with pytest.raises(ValueError, match="XCDR1"):
        wire.LOWCMD.payload(b"\x00\x03\x00\x00" + bytes(wire.LOWCMD.cdr_size))  # big-endian encapsulation
