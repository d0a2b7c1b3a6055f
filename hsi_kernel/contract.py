"""The G1 robot contract: the single source of truth for joints, motor slots, limits, gains and pose.

Everything that touches the robot (the MJCF builder, the simulator, the onboard bridge and policy node,
the training environment, retargeting) reads these tables from here. A mismatch in joint order, slot, default
pose or gains between training and deployment is the commonest reason a policy "shakes and falls" on a real
robot, so nothing else in the project may carry its own copy.

Numbers come from Unitree's published G1 (29-DoF, rev 1.0) description and from VideoMimic's deploy
configuration (see ``docs/robot_contract.md``). Motor slots follow the LowCmd/LowState layout: 35 slots, the
23-DoF robot keeps the sparse 29-DoF slots and leaves 13, 14, 20, 21, 27, 28 inert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

NUM_MOTOR_SLOTS = 35
"""Length of ``motor_cmd``/``motor_state`` in the unitree_hg LowCmd_/LowState_ messages."""

MODE_MACHINE = {1: 23, 2: 29, 3: 29, 4: 23, 5: 29, 6: 29}
"""``mode_machine`` reported by the robot -> DoF of the configuration (9 = dual-arm is not supported)."""

SIM_MODE_MACHINE = {23: 4, 29: 5}
"""The ``mode_machine`` value the simulator reports for each DoF (rev 1.0 hardware)."""

MODE_PR = 0
"""Serial pitch/roll ankle and waist control, the mode every known deploy stack uses."""


@dataclass(frozen=True)
class JointSpec:
    """One actuated joint: where it lives on the wire, how far it may move and how it is driven."""

    name: str
    slot: int  # index in LowCmd.motor_cmd / LowState.motor_state
    lower: float  # rad
    upper: float  # rad
    effort: float  # N*m, symmetric torque limit of the motor
    velocity: float  # rad/s, motor speed limit
    armature: float  # kg*m^2, reflected rotor inertia (same value in sim and training)
    default_q: float  # rad, the default standing pose
    kp: float  # N*m/rad, default PD stiffness (VideoMimic gains)
    kd: float  # N*m*s/rad, default PD damping


def _j(
    name: str,
    slot: int,
    lo: float,
    hi: float,
    effort: float,
    vel: float,
    arm: float,
    q0: float = 0.0,
    kp: float = 75.0,
    kd: float = 2.0,
) -> JointSpec:
    return JointSpec(name, slot, lo, hi, effort, vel, arm, q0, kp, kd)


_A88, _A139, _A50, _A25, _A5 = 0.01017752004, 0.025101925, 0.00721945, 0.003609725, 0.00425


def _leg(side: str, base: int) -> list[JointSpec]:
    roll = (-0.5236, 2.9671) if side == "left" else (-2.9671, 0.5236)
    return [
        _j(f"{side}_hip_pitch_joint", base + 0, -2.5307, 2.8798, 88, 32, _A88, -0.1),
        _j(f"{side}_hip_roll_joint", base + 1, *roll, 139, 20, _A139),
        _j(f"{side}_hip_yaw_joint", base + 2, -2.7576, 2.7576, 88, 32, _A88),
        _j(f"{side}_knee_joint", base + 3, -0.087267, 2.8798, 139, 20, _A139, 0.3),
        _j(f"{side}_ankle_pitch_joint", base + 4, -0.87267, 0.5236, 50, 37, _A50, -0.2, 20.0, 0.2),
        _j(f"{side}_ankle_roll_joint", base + 5, -0.2618, 0.2618, 50, 37, _A50, 0.0, 20.0, 0.1),
    ]


def _arm(side: str, base: int) -> list[JointSpec]:
    roll = (-1.5882, 2.2515) if side == "left" else (-2.2515, 1.5882)
    return [
        _j(f"{side}_shoulder_pitch_joint", base + 0, -3.0892, 2.6704, 25, 37, _A25),
        _j(f"{side}_shoulder_roll_joint", base + 1, *roll, 25, 37, _A25),
        _j(f"{side}_shoulder_yaw_joint", base + 2, -2.618, 2.618, 25, 37, _A25),
        _j(f"{side}_elbow_joint", base + 3, -1.0472, 2.0944, 25, 37, _A25),
        _j(f"{side}_wrist_roll_joint", base + 4, -1.97222, 1.97222, 25, 37, _A25, 0.0, 20.0, 1.0),
        _j(f"{side}_wrist_pitch_joint", base + 5, -1.61443, 1.61443, 5, 22, _A5, 0.0, 20.0, 1.0),
        _j(f"{side}_wrist_yaw_joint", base + 6, -1.61443, 1.61443, 5, 22, _A5, 0.0, 20.0, 1.0),
    ]


G1_29_JOINTS: tuple[JointSpec, ...] = tuple(
    _leg("left", 0)
    + _leg("right", 6)
    + [
        _j("waist_yaw_joint", 12, -2.618, 2.618, 88, 32, _A88),
        _j("waist_roll_joint", 13, -0.52, 0.52, 50, 37, _A50),
        _j("waist_pitch_joint", 14, -0.52, 0.52, 50, 37, _A50),
    ]
    + _arm("left", 15)
    + _arm("right", 22)
)
"""All 29 joints in motor-slot order (slot == index)."""

LOCKED_IN_23 = (
    "waist_roll_joint",
    "waist_pitch_joint",
    "left_wrist_pitch_joint",
    "left_wrist_yaw_joint",
    "right_wrist_pitch_joint",
    "right_wrist_yaw_joint",
)
"""Joints the 23-DoF G1 does not have (rigid in its MJCF; their slots are inert)."""

TRACKED_LINKS = (
    "pelvis",
    "left_hip_roll_link",
    "left_knee_link",
    "left_ankle_roll_link",
    "right_hip_roll_link",
    "right_knee_link",
    "right_ankle_roll_link",
    "left_shoulder_roll_link",
    "left_elbow_link",
    "left_wrist_roll_link",
    "right_shoulder_roll_link",
    "right_elbow_link",
    "right_wrist_roll_link",
)
"""The 13 links whose positions the tracking rewards, terminations and retargeting use (VideoMimic's set:
pelvis, hips, knees, feet, shoulders, elbows, hands)."""

FOOT_LINKS = ("left_ankle_roll_link", "right_ankle_roll_link")
TORSO_LINK = "torso_link"
PELVIS_LINK = "pelvis"
IMU_SITE = "imu_in_pelvis"
LIDAR_SITE = "mid360"
NOMINAL_ROOT_HEIGHT = 0.78
TARGET_LIMIT_MARGIN = 0.02
"""rad inside each joint limit: every PD position target is clamped to [lower + margin, upper - margin], by
the bridge before the motors and by the training environment before its PD law. Training must clamp too: a
CPU-trained student learned to command the ankle pitch 0.4 rad beyond its limit for 20 N*m more torque than
the robot would give it, stood in training and fell within 2 s on the bridge's clamped targets."""
"""Pelvis height of the default pose standing on flat ground (VideoMimic's initial root height)."""

FORBIDDEN_CONTACT_LINKS = (
    "pelvis",
    "torso_link",
    "left_knee_link",
    "right_knee_link",
    "left_elbow_link",
    "right_elbow_link",
)
"""Links whose contact with the terrain ends an episode (sitting tasks allow pelvis contact via config)."""


@dataclass(frozen=True)
class RobotContract:
    """The contract for one configuration (23 or 29 DoF). Arrays are in ``joint_names`` order."""

    dof: int
    joints: tuple[JointSpec, ...]
    all_joints: tuple[JointSpec, ...] = field(repr=False)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def motor_slots(self) -> np.ndarray:
        return np.array([j.slot for j in self.joints], dtype=np.int64)

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in self.joints])

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in self.joints])

    @property
    def effort(self) -> np.ndarray:
        return np.array([j.effort for j in self.joints])

    @property
    def velocity(self) -> np.ndarray:
        return np.array([j.velocity for j in self.joints])

    @property
    def armature(self) -> np.ndarray:
        return np.array([j.armature for j in self.joints])

    @property
    def default_q(self) -> np.ndarray:
        return np.array([j.default_q for j in self.joints])

    @property
    def kp(self) -> np.ndarray:
        return np.array([j.kp for j in self.joints])

    @property
    def kd(self) -> np.ndarray:
        return np.array([j.kd for j in self.joints])

    @property
    def inert_slots(self) -> tuple[int, ...]:
        """Slots in 0..28 this configuration does not drive (left disabled: ``mode`` 0)."""
        driven = {j.slot for j in self.joints}
        return tuple(j.slot for j in self.all_joints if j.slot not in driven)

    @property
    def mjcf_name(self) -> str:
        return f"g1_{self.dof}dof.xml"

    def index(self, name: str) -> int:
        """Position of a joint in contract order; raises a one-line KeyError for unknown names."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"joint '{name}' is not in the {self.dof}-DoF G1 contract") from None

    def accepts_mode_machine(self, mode_machine: int) -> bool:
        return MODE_MACHINE.get(int(mode_machine)) == self.dof

    def slots_to_joints(self, slot_values: np.ndarray) -> np.ndarray:
        """Pick this configuration's joints out of a 35-slot motor array."""
        return np.asarray(slot_values)[..., self.motor_slots]

    def joints_to_slots(self, joint_values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Scatter contract-order values into a 35-slot motor array."""
        joint_values = np.asarray(joint_values)
        out = np.full(joint_values.shape[:-1] + (NUM_MOTOR_SLOTS,), fill, dtype=np.float64)
        out[..., self.motor_slots] = joint_values
        return out

    def clamp_to_limits(self, q: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Clip joint positions into [lower + margin, upper - margin]."""
        return np.clip(q, self.lower + margin, self.upper - margin)

    def target_bounds(self, margin: float = TARGET_LIMIT_MARGIN) -> tuple[np.ndarray, np.ndarray]:
        """The range a PD position target may take (see ``TARGET_LIMIT_MARGIN``)."""
        return self.lower + margin, self.upper - margin


@cache
def get_contract(dof: int = 23) -> RobotContract:
    """The contract for a 23- or 29-DoF G1; anything else is a one-line ValueError."""
    if dof == 29:
        return RobotContract(29, G1_29_JOINTS, G1_29_JOINTS)
    if dof == 23:
        joints = tuple(j for j in G1_29_JOINTS if j.name not in LOCKED_IN_23)
        return RobotContract(23, joints, G1_29_JOINTS)
    raise ValueError(f"unsupported G1 DoF {dof}: use 23 (VideoMimic) or 29 (full)")


def convert_joint_vector(q: np.ndarray, from_dof: int, to_dof: int) -> np.ndarray:
    """Map joint arrays (..., from_dof) between the 23- and 29-DoF orders by name; missing joints get 0."""
    src, dst = get_contract(from_dof), get_contract(to_dof)
    q = np.asarray(q)
    if q.shape[-1] != src.dof:
        raise ValueError(f"expected {src.dof} joint values, got {q.shape[-1]}")
    out = np.zeros(q.shape[:-1] + (dst.dof,), dtype=q.dtype)
    for i, name in enumerate(dst.joint_names):
        if name in src.joint_names:
            out[..., i] = q[..., src.index(name)]
    return out


STAND_LEG_KP, STAND_LEG_KD = 350.0, 10.0
STAND_WAIST_KP, STAND_WAIST_KD = 200.0, 5.0


def stand_gains(contract: RobotContract) -> tuple[np.ndarray, np.ndarray]:
    """Gains for holding the default pose without a policy (the bridge's stand-up and hold states).

    VideoMimic's policy gains (ankles Kp 20) are too soft to stand without the policy balancing: the ankles'
    2 x 20 N*m/rad is far below the m*g*l of about 220 N*m/rad of the body above them, so a constant PD hold
    tips over (the official Unitree MJCF does the same). Deploy stacks stand the robot up stiff, as Unitree's
    own stand-up does (legs up to Kp 350), and hand over to the policy's gains when it starts.
    """
    kp, kd = contract.kp.copy(), contract.kd.copy()
    for i, name in enumerate(contract.joint_names):
        if any(k in name for k in ("hip", "knee", "ankle")):
            kp[i], kd[i] = STAND_LEG_KP, STAND_LEG_KD
        elif "waist" in name:
            kp[i], kd[i] = STAND_WAIST_KP, STAND_WAIST_KD
    return kp, kd


UNITREE_LEG_GAINS = {
    "hip_pitch": (100.0, 2.0),
    "hip_roll": (100.0, 2.0),
    "hip_yaw": (100.0, 2.0),
    "knee": (150.0, 4.0),
    "ankle_pitch": (40.0, 2.0),
    "ankle_roll": (40.0, 2.0),
}
"""The leg gains Unitree deploys its walking policies with on the real G1 (unitree_rl_gym), (Kp, Kd)."""
GAIN_SETS = ("videomimic", "unitree")


def policy_gains(contract: RobotContract, name: str = "videomimic") -> tuple[np.ndarray, np.ndarray]:
    """The PD gains a policy is trained and deployed with (they travel in the policy file's metadata).

    ``videomimic``: the contract's (ankles Kp 20, everything else Kp 75). ``unitree``: Unitree's leg gains,
    which walk on the real G1, with the contract's gains on waist and arms. Why a choice: soft ankles make the
    policy balance actively, stiffer legs make a first walk far easier to find on a small sample budget."""
    kp, kd = contract.kp.copy(), contract.kd.copy()
    if name == "videomimic":
        return kp, kd
    if name != "unitree":
        raise ValueError(f"unknown gain set '{name}': use one of {', '.join(GAIN_SETS)}")
    for i, joint in enumerate(contract.joint_names):
        for key, (p, d) in UNITREE_LEG_GAINS.items():
            if joint.endswith(f"_{key}_joint"):
                kp[i], kd[i] = p, d
    return kp, kd
