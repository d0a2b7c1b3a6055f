"""The simulated G1's physics and motor drivers, free of DDS and ROS so tests can drive it directly.

A real G1 motor driver runs its PD loop far faster than any controller sends commands, from the latest
command it holds: ``tau = tau_ff + kp (q* - q) + kd (dq* - dq)``, clipped to the motor's torque limit, and
only for motors whose command ``mode`` is 1. ``SimRobot.step`` does exactly that every 2 ms physics step.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from hsi_kernel.contract import SIM_MODE_MACHINE, TORSO_LINK, get_contract
from hsi_kernel.motor import MotorCommand, pd_torque
from hsi_sim.scene import Scene


@dataclass
class RobotState:
    """What LowState carries, in motor slots (35) plus the pelvis IMU."""

    q: np.ndarray
    dq: np.ndarray
    ddq: np.ndarray
    tau_est: np.ndarray
    quat_wxyz: np.ndarray
    gyro: np.ndarray
    acc: np.ndarray
    rpy: np.ndarray
    tick: int


def quat_to_rpy(q: np.ndarray) -> np.ndarray:
    """w-x-y-z quaternion -> roll, pitch, yaw (ZYX convention, as the G1 IMU reports)."""
    w, x, y, z = q
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return np.array([roll, pitch, yaw])


@dataclass
class ElasticBand:
    """A spring-damper holding the torso to a point above its start (a gantry / unitree_mujoco's 'elastic
    band'). It pulls at the torso's centre of mass, above the robot's, so the robot hangs upright."""

    anchor: np.ndarray
    stiffness: float = 1500.0
    damping: float = 200.0
    enabled: bool = True

    def force(self, pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return np.zeros(3)
        return self.stiffness * (self.anchor - pos) - self.damping * vel


class SimRobot:
    """MuJoCo G1 with motor drivers. Call ``set_command`` whenever a LowCmd arrives and ``step`` every dt."""

    def __init__(self, scene: Scene, band: bool = False):
        self.scene = scene
        self.model = scene.model
        self.data = mujoco.MjData(self.model)
        self.contract = get_contract(scene.dof)
        self.mode_machine = SIM_MODE_MACHINE[scene.dof]
        m = self.model
        names = self.contract.joint_names
        jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in names]
        self._qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self._vadr = np.array([m.jnt_dofadr[j] for j in jids])
        self._act = np.array(
            [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n.removesuffix("_joint")) for n in names]
        )
        self._slots = self.contract.motor_slots
        self._effort = self.contract.effort
        self._pelvis = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "pelvis")
        self._torso = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, TORSO_LINK)
        self._sens = {
            n: m.sensor_adr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, n)]
            for n in ("imu_quat", "imu_gyro", "imu_acc")
        }
        self.command = MotorCommand()
        self.tick = 0
        self.reset()
        self.band = ElasticBand(self.data.xipos[self._torso].copy() + np.array([0, 0, 0.03]), enabled=band)
        self._last_dq = np.zeros(len(names))
        self._ddq = np.zeros(len(names))

    @property
    def dt(self) -> float:
        return float(self.model.opt.timestep)

    def reset(self, q: np.ndarray | None = None) -> None:
        """Back to the start pose: default joint angles (or ``q``), at rest, zero torque."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qadr] = self.contract.default_q if q is None else q
        mujoco.mj_forward(self.model, self.data)
        self.command = MotorCommand()
        self.tick = 0

    def set_command(self, cmd: MotorCommand) -> None:
        self.command = cmd

    def joint_q(self) -> np.ndarray:
        return self.data.qpos[self._qadr].copy()

    def joint_dq(self) -> np.ndarray:
        return self.data.qvel[self._vadr].copy()

    def step(self, n: int = 1) -> None:
        """Advance ``n`` physics steps, recomputing PD torque from the latest command every step."""
        c = self.command
        slots = self._slots
        sub = MotorCommand(c.mode[slots], c.q[slots], c.dq[slots], c.tau[slots], c.kp[slots], c.kd[slots])
        d = self.data
        for _ in range(n):
            q, dq = d.qpos[self._qadr], d.qvel[self._vadr]
            d.ctrl[self._act] = pd_torque(sub, q, dq, self._effort)
            if self.band.enabled:
                vel = np.zeros(6)
                mujoco.mj_objectVelocity(self.model, d, mujoco.mjtObj.mjOBJ_BODY, self._torso, vel, 0)
                d.xfrc_applied[self._torso, :3] = self.band.force(d.xipos[self._torso], vel[3:])
            else:
                d.xfrc_applied[self._torso, :3] = 0.0
            mujoco.mj_step(self.model, d)
            self.tick += 1
        dq = d.qvel[self._vadr]
        self._ddq = (dq - self._last_dq) / (self.dt * n)
        self._last_dq = dq.copy()

    def base_height(self) -> float:
        """Pelvis height above the terrain directly below it."""
        pos = self.data.qpos[:3]
        return float(pos[2] - self.scene.terrain.height_at(pos[:2]))

    def state(self) -> RobotState:
        """Joint and IMU state in motor slots, as the robot's LowState reports it."""
        d, c = self.data, self.contract
        s = d.sensordata
        quat = s[self._sens["imu_quat"] : self._sens["imu_quat"] + 4].copy()
        q = c.joints_to_slots(d.qpos[self._qadr])
        dq = c.joints_to_slots(d.qvel[self._vadr])
        ddq = c.joints_to_slots(self._ddq)
        tau = c.joints_to_slots(d.actuator_force[self._act])
        gyro, acc = self._sens["imu_gyro"], self._sens["imu_acc"]
        return RobotState(
            q,
            dq,
            ddq,
            tau,
            quat,
            s[gyro : gyro + 3].copy(),
            s[acc : acc + 3].copy(),
            quat_to_rpy(quat),
            self.tick,
        )
