"""A motor command (the content of one LowCmd, in motor slots) and the motor driver's PD law.

The G1's motor drivers run ``tau = tau_ff + kp (q* - q) + kd (dq* - dq)``, clipped to the torque limit,
for motors whose ``mode`` is 1, far faster than any controller commands them. The simulated robot, the
training physics and the bridge's command builder all use these definitions, so they agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hsi_kernel.contract import NUM_MOTOR_SLOTS, get_contract


@dataclass
class MotorCommand:
    """The latest LowCmd content in motor-slot arrays (35 slots)."""

    mode: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTOR_SLOTS, np.uint8))
    q: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTOR_SLOTS))
    dq: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTOR_SLOTS))
    tau: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTOR_SLOTS))
    kp: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTOR_SLOTS))
    kd: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTOR_SLOTS))


def pd_torque(cmd: MotorCommand, q: np.ndarray, dq: np.ndarray, effort: np.ndarray) -> np.ndarray:
    """Motor-driver PD law for the given slots' q/dq (arrays over the same slots as ``effort``)."""
    tau = cmd.tau + cmd.kp * (cmd.q - q) + cmd.kd * (cmd.dq - dq)
    tau = np.where(cmd.mode == 1, tau, 0.0)
    return np.clip(tau, -effort, effort)


def hold_default_command(dof: int = 23) -> MotorCommand:
    """A LowCmd content that holds the contract's default pose with the contract's gains."""
    c = get_contract(dof)
    cmd = MotorCommand()
    cmd.mode[c.motor_slots] = 1
    cmd.q[c.motor_slots] = c.default_q
    cmd.kp[c.motor_slots] = c.kp
    cmd.kd[c.motor_slots] = c.kd
    return cmd
