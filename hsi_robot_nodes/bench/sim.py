"""``hsi-robot bench sim``: LowState publish period and jitter, real-time factor at 500 Hz with DDS on, and
LowCmd -> LowState round-trip latency, measured against a live simulator from a separate DDS reader/writer."""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np

from hsi_robot_nodes import defaults


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--dof", type=int, default=defaults.DOF, choices=(23, 29))
    p.add_argument("--domain", type=int, default=defaults.DOMAIN)
    p.add_argument("--interface", default=defaults.INTERFACE)
    p.add_argument("--json", type=Path, default=None)


def run(args: argparse.Namespace) -> int:
    from hsi_kernel.contract import get_contract, stand_gains
    from hsi_kernel.unitree import dds, sdk
    from hsi_kernel.unitree.crc import lowcmd_crc
    from hsi_sim.dds_sim import DdsSimulator, SimConfig

    cfg = SimConfig(dof=args.dof, domain=args.domain, interface=args.interface, band=True)
    sim = DdsSimulator(cfg).start()
    c = get_contract(args.dof)
    kp, kd = stand_gains(c)
    recv: list[float] = []
    probe = {"marker": None, "sent": 0.0, "rtt": []}
    lock = threading.Lock()
    slot = int(c.motor_slots[0])

    def on_state(msg) -> None:
        now = time.monotonic()
        recv.append(now)
        with lock:
            tau = msg.motor_state[slot].tau_est
            # the answer: first LowState whose torque reflects the probe's feed-forward torque sign
            answered = probe["marker"] is not None and abs(tau) > 0 and probe["sent"]
            if answered and np.sign(tau) == probe["marker"]:
                probe["rtt"].append(now - probe["sent"])
                probe["marker"] = None

    sub = dds.Reader(sdk.TOPIC_LOWSTATE, sdk.LowState_, on_state)
    pub = dds.Writer(sdk.TOPIC_LOWCMD, sdk.LowCmd_)
    cmd = sdk.new_lowcmd()
    cmd.mode_machine = sim.robot.mode_machine
    for i, j in enumerate(c.joints):
        m = cmd.motor_cmd[j.slot]
        m.mode, m.q, m.kp, m.kd = 1, float(j.default_q), float(kp[i]), float(kd[i])
    time.sleep(0.5)
    t_start, sim_start = time.monotonic(), sim.sim_time
    n0 = len(recv)
    sign = 1.0
    while time.monotonic() - t_start < args.seconds:
        # alternate a large feed-forward torque with zero gains on one joint; wait for LowState to show it
        m = cmd.motor_cmd[slot]
        m.kp, m.kd, m.tau = 0.0, 0.0, 20.0 * sign
        cmd.crc = lowcmd_crc(cmd)
        with lock:
            probe["marker"], probe["sent"] = sign, time.monotonic()
        pub.write(cmd)
        time.sleep(0.05)
        sign = -sign
    wall = time.monotonic() - t_start
    rtf = (sim.sim_time - sim_start) / wall
    sub.close()
    sim.stop()
    per = np.diff(np.array(sim.stats.publish_times[-int(wall * 500) :])) * 1e3
    rx = np.diff(np.array(recv[n0:])) * 1e3
    rtt = np.array(probe["rtt"]) * 1e3
    out = {
        "lowstate_publish_period_ms": {
            "p50": float(np.percentile(per, 50)),
            "p99": float(np.percentile(per, 99)),
            "jitter_std": float(per.std()),
        },
        "lowstate_receive_period_ms": {
            "p50": float(np.percentile(rx, 50)),
            "p99": float(np.percentile(rx, 99)),
        },
        "real_time_factor": float(rtf),
        "roundtrip_lowcmd_to_lowstate_ms": {
            "p50": float(np.percentile(rtt, 50)) if rtt.size else None,
            "p99": float(np.percentile(rtt, 99)) if rtt.size else None,
            "n": int(rtt.size),
        },
        "overruns": sim.stats.overruns,
        "seconds": wall,
        "dof": args.dof,
    }
    print(json.dumps(out, indent=2))
    if args.json:
        from hsi_kernel.atomic import write_json_atomic

        write_json_atomic(args.json, out, indent=2)  # a reader never sees half a file
    return 0
