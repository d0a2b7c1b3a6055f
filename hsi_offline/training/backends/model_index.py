"""Addresses of the contract's joints, actuators and tracked bodies in a G1 scene model, looked up by name."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from hsi_kernel.contract import (
    FOOT_LINKS,
    FORBIDDEN_CONTACT_LINKS,
    TORSO_LINK,
    TRACKED_LINKS,
    get_contract,
)

BODY_LINKS = tuple(TRACKED_LINKS) + (TORSO_LINK,)
"""Bodies whose poses the backends report: the tracked links, then the torso (last)."""


@dataclass(frozen=True)
class ModelIndex:
    """Addresses in a G1 scene model, looked up by name (never by position)."""

    qadr: np.ndarray  # qpos address of each contract joint
    vadr: np.ndarray  # qvel address of each contract joint
    act: np.ndarray  # actuator id of each contract joint
    bodies: np.ndarray  # ids of BODY_LINKS
    root_body: int
    body_flags: np.ndarray  # per body: 1 left foot, 2 right foot, 4 forbidden contact
    geom_body: np.ndarray
    effort: np.ndarray
    # contact sensors (add_contact_sensors): sensordata address of each and the body flag it reports
    sensor_adr: np.ndarray
    sensor_flag: np.ndarray


CONTACT_SENSOR_PREFIX = "contact_"


def add_contact_sensors(spec: mujoco.MjSpec) -> None:
    """One MuJoCo contact sensor per foot and per forbidden-contact body, reporting whether that body touches
    anything (self-collision is off, so: the terrain).

    Why sensors: the CPU backend steps every world in C (``mujoco.batch``), which exposes MjData fields such
    as ``sensordata`` but no contact list; a contact sensor is computed in the position stage, so the flags
    are those of the state the step reached."""
    found = 1 << int(mujoco.mjtConDataField.mjCONDATA_FOUND)
    for body in dict.fromkeys((*FOOT_LINKS, *FORBIDDEN_CONTACT_LINKS)):
        spec.add_sensor(
            name=CONTACT_SENSOR_PREFIX + body,
            type=mujoco.mjtSensor.mjSENS_CONTACT,
            objtype=mujoco.mjtObj.mjOBJ_BODY,
            objname=body,
            intprm=[found, 1, 1],  # data = found, reduce = mindist, num = 1: one value, the contact count
        )


def model_index(model: mujoco.MjModel, dof: int, allow_pelvis_contact: bool = False) -> ModelIndex:
    c = get_contract(dof)
    obj = mujoco.mjtObj

    def ids(kind: mujoco.mjtObj, names: list[str]) -> np.ndarray:
        out = [mujoco.mj_name2id(model, kind, n) for n in names]
        missing = [n for n, i in zip(names, out) if i < 0]
        if missing:
            raise ValueError(f"the scene model lacks {missing}: was it built from the {dof}-DoF G1 MJCF?")
        return np.asarray(out, dtype=np.int64)

    jids = ids(obj.mjOBJ_JOINT, list(c.joint_names))
    flags = np.zeros(model.nbody, dtype=np.int64)
    left, right = ids(obj.mjOBJ_BODY, list(FOOT_LINKS))
    flags[left] |= 1
    flags[right] |= 2
    forbidden = [n for n in FORBIDDEN_CONTACT_LINKS if not (allow_pelvis_contact and n == "pelvis")]
    flags[ids(obj.mjOBJ_BODY, forbidden)] |= 4
    sensor_adr, sensor_flag = [], []
    for body in dict.fromkeys((*FOOT_LINKS, *FORBIDDEN_CONTACT_LINKS)):
        sid = mujoco.mj_name2id(model, obj.mjOBJ_SENSOR, CONTACT_SENSOR_PREFIX + body)
        if sid >= 0:
            sensor_adr.append(int(model.sensor_adr[sid]))
            sensor_flag.append(int(flags[mujoco.mj_name2id(model, obj.mjOBJ_BODY, body)]))
    return ModelIndex(
        qadr=model.jnt_qposadr[jids].astype(np.int64),
        vadr=model.jnt_dofadr[jids].astype(np.int64),
        act=ids(obj.mjOBJ_ACTUATOR, [n.removesuffix("_joint") for n in c.joint_names]),
        bodies=ids(obj.mjOBJ_BODY, list(BODY_LINKS)),
        root_body=int(ids(obj.mjOBJ_BODY, ["pelvis"])[0]),
        body_flags=flags,
        sensor_adr=np.asarray(sensor_adr, dtype=np.int64),
        sensor_flag=np.asarray(sensor_flag, dtype=np.int64),
        geom_body=model.geom_bodyid.astype(np.int64),
        effort=c.effort,
    )
