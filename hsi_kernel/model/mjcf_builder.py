"""Write the G1 MJCF (23 or 29 DoF) from ``models/g1_description.yaml`` and the robot contract.

Why generated: the joint limits, efforts and armature must be the contract's, not a second copy typed into
XML. The 23-DoF variant is the 29-DoF tree with six joints welded and the masses of Unitree's 23-DoF upper
body (no waist yaw/roll link masses, rigid rubber hands: ``bodies_for``), so both models weigh what Unitree
publishes. Collision geometry is primitives only (capsules, spheres, boxes for the feet): cheap and robust
for contact-rich training on CPU and in MuJoCo Warp. Self-collision is off (contype/conaffinity: robot=1/2,
terrain=2/1); the terrain is added by scenes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from hsi_kernel.atomic import atomic_path
from hsi_kernel.contract import LOCKED_IN_23, get_contract
from hsi_kernel.paths import models_dir

ROBOT_CONTYPE, ROBOT_CONAFFINITY = 1, 2
TERRAIN_CONTYPE, TERRAIN_CONAFFINITY = 2, 1

# Collision primitives per body (this project's own fit to the G1's links): (type, attributes).
_FOOT_BOX = {"type": "box", "size": "0.103 0.036 0.011", "pos": "0.039 0 -0.026"}
COLLISION: dict[str, list[dict[str, str]]] = {
    "pelvis": [{"type": "capsule", "size": "0.065", "fromto": "0 -0.06 -0.07 0 0.06 -0.07"}],
    "left_hip_yaw_link": [{"type": "capsule", "size": "0.055", "fromto": "-0.01 0 -0.03 -0.065 0 -0.16"}],
    "right_hip_yaw_link": [{"type": "capsule", "size": "0.055", "fromto": "-0.01 0 -0.03 -0.065 0 -0.16"}],
    "left_knee_link": [{"type": "capsule", "size": "0.045", "fromto": "0.01 0 -0.04 0 0 -0.24"}],
    "right_knee_link": [{"type": "capsule", "size": "0.045", "fromto": "0.01 0 -0.04 0 0 -0.24"}],
    "left_ankle_roll_link": [_FOOT_BOX],
    "right_ankle_roll_link": [_FOOT_BOX],
    "torso_link": [
        {"type": "capsule", "size": "0.085", "fromto": "0 -0.05 0.12 0 0.05 0.12"},
        {"type": "capsule", "size": "0.075", "fromto": "0 -0.06 0.25 0 0.06 0.25"},
        {"type": "sphere", "size": "0.075", "pos": "0.01 0 0.42"},
    ],
    "left_shoulder_yaw_link": [{"type": "capsule", "size": "0.035", "fromto": "0 0 0.02 0 0 -0.09"}],
    "right_shoulder_yaw_link": [{"type": "capsule", "size": "0.035", "fromto": "0 0 0.02 0 0 -0.09"}],
    "left_elbow_link": [{"type": "capsule", "size": "0.03", "fromto": "0 0 -0.01 0.1 0 -0.01"}],
    "right_elbow_link": [{"type": "capsule", "size": "0.03", "fromto": "0 0 -0.01 0.1 0 -0.01"}],
    "left_wrist_yaw_link": [{"type": "sphere", "size": "0.045", "pos": "0.07 0 0"}],
    "right_wrist_yaw_link": [{"type": "sphere", "size": "0.045", "pos": "0.07 0 0"}],
}


def load_description(path: Path | None = None) -> dict:
    """The body tree, inertials and sensor mounts (validated for the fields the builder needs)."""
    path = path or models_dir() / "g1_description.yaml"
    data = yaml.safe_load(Path(path).read_text())
    for b in data["bodies"]:
        missing = {"name", "pos", "quat", "mass", "com", "inertia_quat", "diag_inertia"} - set(b)
        if missing:
            raise ValueError(f"{path}: body {b.get('name')} lacks {sorted(missing)}")
    return data


def bodies_for(dof: int, description: dict) -> list[dict]:
    """The body list of the ``dof`` model, parents before children.

    Why a variant and not the welded 29-DoF tree: Unitree's 23-DoF G1 has a different upper body (rubber
    hands, no waist yaw/roll links; 1.23 kg lighter), and a controller trained on the wrong masses leans
    differently on the robot. The facts are in ``description["g1_23dof"]``; its ``frames`` keep their names
    and poses as massless bodies so that kinematics, collision primitives and link names are shared by both
    models (and every 23-DoF clip's stored link poses stay valid).
    """
    bodies = [dict(b) for b in description["bodies"]]
    if dof == 29:
        return bodies
    v = description.get("g1_23dof")
    if v is None:
        raise ValueError("g1_description.yaml: no `g1_23dof` section (the 23-DoF upper body)")
    removed = set(v.get("remove", []))
    overrides = {b["name"]: b for b in v["bodies"]}
    frames = set(v.get("frames", []))
    known = {b["name"] for b in bodies}
    unknown = (removed | frames | set(overrides)) - known
    if unknown:
        raise ValueError(f"g1_description.yaml: g1_23dof names unknown bodies {sorted(unknown)}")
    out = []
    for b in bodies:
        if b["name"] in removed:
            continue
        b.update({k: val for k, val in overrides.get(b["name"], {}).items() if k != "published_name"})
        if b["name"] in frames:
            b.update(mass=0.0, com=[0.0, 0.0, 0.0], inertia_quat=[1.0, 0.0, 0.0, 0.0], diag_inertia=[0.0] * 3)
        if b.get("parent") in removed:
            raise ValueError(f"g1_description.yaml: {b['name']} hangs from a removed 23-DoF body")
        out.append(b)
    return out


def _fmt(v) -> str:
    return " ".join(f"{float(x):.10g}" for x in v)


def build_mjcf(dof: int, description: dict | None = None) -> str:
    """Return the MJCF text of the G1 with ``dof`` actuated joints (motor actuators, torque-controlled)."""
    contract = get_contract(dof)
    desc = description or load_description()
    specs = {j.name: j for j in contract.all_joints}
    locked = set(LOCKED_IN_23) if dof == 23 else set()

    root = ET.Element("mujoco", model=f"g1_{dof}dof")
    ET.SubElement(root, "compiler", angle="radian", autolimits="true")
    ET.SubElement(root, "option", timestep="0.002", integrator="implicitfast")
    default = ET.SubElement(root, "default")
    g1 = ET.SubElement(default, "default", attrib={"class": "g1"})
    ET.SubElement(g1, "joint", damping="0", frictionloss="0.1")
    ET.SubElement(
        g1,
        "geom",
        contype=str(ROBOT_CONTYPE),
        conaffinity=str(ROBOT_CONAFFINITY),
        condim="3",
        friction="0.9 0.02 0.01",
        rgba="0.55 0.6 0.65 1",
        group="1",
    )
    ET.SubElement(g1, "site", group="5", size="0.01", rgba="1 0 0 1")

    world = ET.SubElement(root, "worldbody")
    elements: dict[str, ET.Element] = {}
    for b in bodies_for(dof, desc):
        parent = world if b.get("parent") is None else elements[b["parent"]]
        attrs = {"name": b["name"], "pos": _fmt(b["pos"]), "quat": _fmt(b["quat"])}
        if b.get("parent") is None:
            attrs["childclass"] = "g1"
        body = ET.SubElement(parent, "body", attrib=attrs)
        elements[b["name"]] = body
        ET.SubElement(
            body,
            "inertial",
            pos=_fmt(b["com"]),
            quat=_fmt(b["inertia_quat"]),
            mass=f"{b['mass']:.10g}",
            diaginertia=_fmt(b["diag_inertia"]),
        )
        if b.get("parent") is None:
            ET.SubElement(body, "freejoint", name="floating_base_joint")
        joint = b.get("joint")
        if joint and joint["name"] not in locked:
            j = specs[joint["name"]]
            ET.SubElement(
                body,
                "joint",
                name=j.name,
                axis=_fmt(joint["axis"]),
                range=f"{j.lower:.10g} {j.upper:.10g}",
                armature=f"{j.armature:.10g}",
                actuatorfrcrange=f"{-j.effort:.10g} {j.effort:.10g}",
            )
        for i, geom in enumerate(COLLISION.get(b["name"], [])):
            ET.SubElement(body, "geom", attrib={"name": f"{b['name']}_col{i}", **geom})
    for name, s in desc.get("sites", {}).items():
        ET.SubElement(elements[s["body"]], "site", name=name, pos=_fmt(s["pos"]), quat=_fmt(s["quat"]))

    act = ET.SubElement(root, "actuator")
    for j in contract.joints:
        ET.SubElement(
            act,
            "motor",
            name=j.name.removesuffix("_joint"),
            joint=j.name,
            ctrlrange=f"{-j.effort:.10g} {j.effort:.10g}",
        )
    sensor = ET.SubElement(root, "sensor")
    ET.SubElement(sensor, "framequat", name="imu_quat", objtype="site", objname="imu_in_pelvis")
    ET.SubElement(sensor, "gyro", name="imu_gyro", site="imu_in_pelvis")
    ET.SubElement(sensor, "accelerometer", name="imu_acc", site="imu_in_pelvis")
    ET.indent(root)
    header = (
        f"<!-- G1 {dof}-DoF, generated by hsi_kernel/model/mjcf_builder.py from "
        "models/g1_description.yaml and the robot contract. "
        "Do not edit: run `hsi-robot model build`. -->\n"
    )
    return header + ET.tostring(root, encoding="unicode") + "\n"


def write_models(out_dir: Path | None = None) -> list[Path]:
    """(Re)write models/g1_23dof.xml and g1_29dof.xml atomically."""
    out_dir = Path(out_dir or models_dir())
    written = []
    for dof in (23, 29):
        path = out_dir / get_contract(dof).mjcf_name
        with atomic_path(path, ".xml.tmp", mode=0o644) as tmp:  # committed files: readable by all
            tmp.write_text(build_mjcf(dof))
        written.append(path)
    return written


def model_path(dof: int) -> Path:
    """Path of the committed MJCF for a DoF."""
    return models_dir() / get_contract(dof).mjcf_name
