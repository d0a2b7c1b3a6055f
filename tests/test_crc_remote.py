import os

import numpy as np
import pytest

from hsi_kernel.unitree import remote, sdk
from hsi_kernel.unitree.crc import (
    LOWCMD_SIZE,
    crc32_reference,
    crc32_words,
    lowcmd_crc,
    pack_lowcmd,
    pack_lowstate,
)


def test_fast_crc_equals_bitwise_reference():
    for n in (8, 64, LOWCMD_SIZE):
        data = os.urandom(n)
        assert crc32_words(data) == crc32_reference(data)


def test_lowcmd_packing_and_crc_depend_on_every_field():
    cmd = sdk.new_lowcmd()
    assert len(pack_lowcmd(cmd)) == LOWCMD_SIZE == 1004
    base = lowcmd_crc(cmd)
    cmd.motor_cmd[34].kd = 1.0
    assert lowcmd_crc(cmd) != base
    cmd.crc = 123  # the crc field itself is not covered
    assert lowcmd_crc(cmd) == crc32_words(pack_lowcmd(cmd))
    assert len(pack_lowstate(sdk.new_lowstate())) % 4 == 0


def test_remote_round_trip_and_layout():
    st = remote.RemoteState(lx=0.5, ly=-0.25, rx=1.0)
    st.buttons["A"] = st.buttons["start"] = True
    raw = remote.encode(st)
    assert len(raw) == 40 and raw[2] == 1 << 2 and raw[3] == 1  # start = bit 2, A = bit 8
    back = remote.decode(raw)
    assert back.pressed() == {"A", "start"}
    assert np.isclose(back.lx, 0.5) and np.isclose(back.ly, -0.25) and np.isclose(back.rx, 1.0)
    with pytest.raises(ValueError, match="40 bytes"):
        remote.decode(raw[:10])
