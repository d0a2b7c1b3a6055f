"""The simulated G1 over real DDS (loopback): round trip, CRC handling, C++ SDK interop, CLI errors."""

import json
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from hsi_kernel.contract import get_contract, stand_gains
from hsi_kernel.unitree import dds, sdk
from hsi_kernel.unitree.crc import lowcmd_crc, lowstate_crc
from hsi_sim.dds_sim import DdsSimulator, SimConfig


@pytest.fixture
def sim(dds_domain):
    s = DdsSimulator(SimConfig(domain=dds_domain, band=True)).start()
    yield s
    s.stop()


def _stand_cmd(mode_machine, knee=None):
    c = get_contract(23)
    kp, kd = stand_gains(c)
    cmd = sdk.new_lowcmd()
    cmd.mode_machine = mode_machine
    for i, j in enumerate(c.joints):
        m = cmd.motor_cmd[j.slot]
        m.mode, m.q, m.kp, m.kd = 1, float(j.default_q), float(kp[i]), float(kd[i])
    if knee is not None:
        cmd.motor_cmd[3].q = knee
    cmd.crc = lowcmd_crc(cmd)
    return cmd


def test_lowcmd_moves_joints_and_bad_crc_is_dropped(sim):
    states, bad = [], []
    lock = threading.Lock()

    def on_state(m):
        with lock:
            states.append((m.tick, m.motor_state[3].q, m.mode_machine))
            if lowstate_crc(m) != m.crc:
                bad.append(m.tick)

    sub = dds.Reader(sdk.TOPIC_LOWSTATE, sdk.LowState_, on_state)
    pub = dds.Writer(sdk.TOPIC_LOWCMD, sdk.LowCmd_)
    time.sleep(0.5)
    assert states and states[-1][2] == 4  # 23-DoF rev 1.0
    good = _stand_cmd(4, knee=0.9)
    tampered = _stand_cmd(4, knee=0.1)
    tampered.crc ^= 1
    for msg in (good, tampered):  # 1 s of good commands, then 1 s of commands with a wrong CRC
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            pub.write(msg)
            time.sleep(0.004)
    sub.close()
    assert sim.stats.lowcmd_bad_crc > 100
    assert abs(states[-1][1] - 0.9) < 0.1, "the good command moved the knee; the bad-CRC one never did"
    ticks = [s[0] for s in states]
    assert not bad and all(b > a for a, b in zip(ticks, ticks[1:]))
    t = np.array(sim.stats.publish_times[-500:])
    assert 400 < (len(t) - 1) / (t[-1] - t[0]) < 600  # paced to 500 Hz (timing figures: hsi-robot bench sim)


def test_second_simulator_on_the_same_domain_refuses(sim, dds_domain):
    with pytest.raises(sdk.DdsSetupError, match="already publishes rt/lowstate"):
        DdsSimulator(SimConfig(domain=dds_domain)).start()


def _cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "hsi_robot_nodes.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scene", "moon"], "unknown scene 'moon'"),
        (["--scene", "/nonexistent/terrain.npz"], "does not exist"),
        (["--interface", "nosuchif0"], "network interface 'nosuchif0' does not exist"),
    ],
)
def test_sim_cli_bad_input_is_one_line(args, message, dds_domain):
    p = _cli("sim", "--domain", str(dds_domain + 1), "--duration", "0.5", *args)
    assert p.returncode == 2
    lines = [ln for ln in p.stderr.splitlines() if "multicast" not in ln and ln.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_sim_cli_wrong_dof_is_refused():
    p = _cli("sim", "--dof", "27", "--duration", "0.1")
    assert p.returncode == 2 and "invalid choice" in p.stderr


CPP_CLIENT = textwrap.dedent("""
    import json, sys, time
    import unitree_interface as u
    iface = u.UnitreeInterface.create_g1("lo")
    time.sleep(1.0)
    q0 = iface.read_low_state().motor.q[3]
    cmd = iface.create_zero_command()
    kp, kd, qt = [0.0] * 29, [1.0] * 29, [0.0] * 29
    kp[3], kd[3], qt[3] = 100.0, 3.0, 0.6
    cmd.kp, cmd.kd, cmd.q_target = kp, kd, qt
    t = time.time()
    while time.time() - t < 2.0:
        iface.write_low_command(cmd)
        time.sleep(0.002)
    st = iface.read_low_state()
    print(json.dumps({"q0": q0, "q1": st.motor.q[3], "mode_machine": st.mode_machine}))
""")


def test_cpp_sdk_interop_both_ways(tmp_path):
    """The C++ unitree_sdk2 (far-unitree-sdk bindings, domain 0 on lo) reads our LowState with zero CRC
    errors, and the LowCmd it writes (its own CRC) moves the simulated knee."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "hsi_robot_nodes.cli", "sim", "--domain", "0", "--band", "--duration", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.0)
        client = tmp_path / "client.py"
        client.write_text(CPP_CLIENT)
        p = subprocess.run([sys.executable, str(client)], capture_output=True, text=True, timeout=60)
        out, err = sim.communicate(timeout=30)
    finally:
        sim.kill()
    assert "CRC Error" not in p.stdout + p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["mode_machine"] == 4 and abs(res["q1"] - 0.6) < 0.1
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["lowcmd_received"] > 500 and summary["lowcmd_bad_crc"] == 0


def test_readers_close_cleanly_while_500hz_samples_flow(sim):
    """Open and close LowState readers while the simulator publishes at 500 Hz: every reader gets samples,
    close() is idempotent and leaves no reader thread behind, and the ownership probe sees the writer."""
    for i in range(30):
        got: list[int] = []
        r = dds.Reader(
            sdk.TOPIC_LOWSTATE, sdk.LowState_, lambda m, got=got: got.append(m.tick), name=f"probe-{i}"
        )
        t0 = time.monotonic()
        while not got and time.monotonic() - t0 < 2.0:
            time.sleep(0.002)
        r.close()
        r.close()  # idempotent
        assert got, f"reader {i} received nothing in 2 s"
    assert not [t for t in threading.enumerate() if t.name.startswith("probe-")]
    assert dds.someone_publishes(sdk.TOPIC_LOWSTATE, sdk.LowState_)
    assert not dds.someone_publishes("rt/nobody_here", sdk.LowState_, wait_s=0.1)
