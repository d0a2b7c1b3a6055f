"""Policy metadata: everything the robot needs to run an exported policy exactly as it was trained.

It travels inside the ONNX file (``metadata_props["hsi_robot.policy"]`` = one JSON document), so a policy
cannot be separated from its observation layout, joint order, default pose, action scaling and gains. The
exporter writes it and checks it against the robot contract; the policy node reads it and checks it again,
because a policy built for another DoF, another joint order or another default pose is the commonest way
to make a robot "shake and fall". Every check fails with one line that says what disagrees.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hsi_kernel.contract import RobotContract, get_contract
from hsi_kernel.observation import ObservationLayout

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hsi_kernel.heightmap.sampler import HeightmapSpec

SCHEMA = "hsi_robot.policy/1"
METADATA_KEY = "hsi_robot.policy"
"""Key of the JSON document in the ONNX model's ``metadata_props``."""

INPUT_NAME, OUTPUT_NAME = "obs", "actions"
MAX_KP, MAX_KD = 500.0, 50.0
"""Gains above these are not a policy's business (Unitree's stiffest stand-up uses Kp 350)."""
DEFAULT_POSE_TOL = 1e-6


@dataclass
class PolicyMetadata:
    """The deploy contract of one policy. Arrays are in the robot contract's joint order."""

    dof: int
    joint_names: tuple[str, ...]
    default_q: np.ndarray
    action_scale: float
    action_clip: float
    kp: np.ndarray
    kd: np.ndarray
    layout: ObservationLayout
    heightmap_spec: dict[str, Any] | None = None  # HeightmapSpec.to_dict() when the layout has a heightmap
    control_hz: float = 50.0
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_contract(
        cls,
        dof: int,
        layout: ObservationLayout,
        action_scale: float,
        action_clip: float,
        kp: ArrayLike,
        kd: ArrayLike,
        default_q: ArrayLike | None = None,
        heightmap_spec: HeightmapSpec | dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
        control_hz: float = 50.0,
    ) -> PolicyMetadata:
        """Metadata for a new policy file. The joint names and the graph's input/output names are the
        contract's and this module's (a policy does not choose them), arrays become float64 vectors, the
        default pose defaults to the contract's, and a blind layout carries no heightmap geometry.

        Not checked against the contract yet (``validate``): the exporter does that before it writes."""
        contract = get_contract(dof)
        q0 = contract.default_q if default_q is None else default_q
        if heightmap_spec is not None and not isinstance(heightmap_spec, dict):
            heightmap_spec = heightmap_spec.to_dict()
        return cls(
            dof=dof,
            joint_names=contract.joint_names,
            default_q=np.asarray(q0, dtype=np.float64).reshape(-1),
            action_scale=float(action_scale),
            action_clip=float(action_clip),
            kp=np.asarray(kp, dtype=np.float64).reshape(-1),
            kd=np.asarray(kd, dtype=np.float64).reshape(-1),
            layout=layout,
            heightmap_spec=heightmap_spec if layout.heightmap_size else None,
            control_hz=float(control_hz),
            input_name=INPUT_NAME,
            output_name=OUTPUT_NAME,
            provenance=dict(provenance or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "dof": self.dof,
            "joint_names": list(self.joint_names),
            "default_q": [float(v) for v in self.default_q],
            "action_scale": float(self.action_scale),
            "action_clip": float(self.action_clip),
            "kp": [float(v) for v in self.kp],
            "kd": [float(v) for v in self.kd],
            "observation": self.layout.to_dict(),
            "heightmap_spec": self.heightmap_spec,
            "control_hz": float(self.control_hz),
            "input_name": self.input_name,
            "output_name": self.output_name,
            "provenance": self.provenance,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PolicyMetadata:
        """Parse (not checked against the contract yet: call ``validate``); ValueError if malformed."""
        if not isinstance(d, dict):
            raise ValueError("policy metadata must be a JSON object")
        if d.get("schema") != SCHEMA:
            raise ValueError(f"policy metadata schema is {d.get('schema')!r}, this code reads {SCHEMA!r}")
        try:
            md = cls(
                dof=int(d["dof"]),
                joint_names=tuple(str(n) for n in d["joint_names"]),
                default_q=np.asarray(d["default_q"], dtype=np.float64),
                action_scale=float(d["action_scale"]),
                action_clip=float(d["action_clip"]),
                kp=np.asarray(d["kp"], dtype=np.float64),
                kd=np.asarray(d["kd"], dtype=np.float64),
                layout=ObservationLayout.from_dict(d["observation"]),
                heightmap_spec=d.get("heightmap_spec"),
                control_hz=float(d.get("control_hz", 50.0)),
                input_name=str(d.get("input_name", INPUT_NAME)),
                output_name=str(d.get("output_name", OUTPUT_NAME)),
                provenance=dict(d.get("provenance") or {}),
            )
        except KeyError as e:
            raise ValueError(f"policy metadata is missing the field {e}") from None
        except (TypeError, ValueError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"policy metadata is malformed ({msg})") from None
        return md

    @classmethod
    def from_json(cls, text: str) -> PolicyMetadata:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"policy metadata is not valid JSON ({e.msg} at char {e.pos})") from None
        return cls.from_dict(d)

    def validate(self, contract: RobotContract | None = None) -> PolicyMetadata:
        """Check against the robot contract; returns self, one-line ValueError on any disagreement."""
        if self.dof not in (23, 29):
            raise ValueError(f"policy metadata DoF {self.dof} is not a G1 configuration (23 or 29)")
        c = contract or get_contract(self.dof)
        if c.dof != self.dof:
            raise ValueError(f"policy is for a {self.dof}-DoF G1 but the robot is configured for {c.dof} DoF")
        if tuple(self.joint_names) != c.joint_names:
            if len(self.joint_names) != c.dof:
                raise ValueError(
                    f"policy names {len(self.joint_names)} joints, the {c.dof}-DoF contract has {c.dof}"
                )
            bad = next(i for i, (a, b) in enumerate(zip(self.joint_names, c.joint_names)) if a != b)
            raise ValueError(
                f"policy joint {bad} is '{self.joint_names[bad]}' but the contract has "
                f"'{c.joint_names[bad]}' there (joint order must be the contract's)"
            )
        for name in ("default_q", "kp", "kd"):
            arr = getattr(self, name)
            if arr.shape != (c.dof,) or not np.all(np.isfinite(arr)):
                raise ValueError(
                    f"policy metadata '{name}' must be {c.dof} finite numbers, got shape {arr.shape}"
                )
        err = np.abs(self.default_q - c.default_q)
        if err.max() > DEFAULT_POSE_TOL:
            i = int(err.argmax())
            raise ValueError(
                f"policy default pose disagrees with the contract at {c.joint_names[i]}: "
                f"{self.default_q[i]:.6g} vs {c.default_q[i]:.6g}"
            )
        kp_ok = np.all(self.kp > 0) and np.all(self.kp <= MAX_KP)
        if not (kp_ok and np.all(self.kd >= 0) and np.all(self.kd <= MAX_KD)):
            raise ValueError(f"policy gains out of range: need 0 < kp <= {MAX_KP} and 0 <= kd <= {MAX_KD}")
        if not (math.isfinite(self.action_scale) and self.action_scale > 0):
            raise ValueError(f"policy action_scale must be a positive number, got {self.action_scale}")
        if not (math.isfinite(self.action_clip) and self.action_clip > 0):
            raise ValueError(f"policy action_clip must be a positive number, got {self.action_clip}")
        if self.layout.dof != c.dof:
            raise ValueError(f"observation layout is for {self.layout.dof} DoF but the policy is for {c.dof}")
        if not (math.isfinite(self.control_hz) and 1.0 <= self.control_hz <= 1000.0):
            raise ValueError(f"policy control_hz {self.control_hz} is not a plausible control rate")
        if self.layout.heightmap_size:
            from hsi_kernel.heightmap.sampler import HeightmapSpec

            if self.heightmap_spec is None:
                raise ValueError("observation layout has a heightmap but the metadata has no heightmap_spec")
            spec = HeightmapSpec.from_dict(self.heightmap_spec)
            if spec.num_cells != self.layout.heightmap_size:
                raise ValueError(
                    f"heightmap_spec has {spec.num_cells} cells but the observation layout "
                    f"expects {self.layout.heightmap_size}"
                )
        return self


def read_metadata_json(model_bytes_or_session: Any) -> str:
    """The metadata JSON string of an onnxruntime InferenceSession (custom metadata map)."""
    meta = model_bytes_or_session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise ValueError(f"ONNX model has no '{METADATA_KEY}' metadata: export it with hsi-offline export")
    return meta[METADATA_KEY]


def load_metadata(path: str | Path, contract: RobotContract | None = None) -> PolicyMetadata:
    """Read and validate the metadata of an ONNX policy file, then run the model once on a zero observation
    of the metadata's size (``trial_inference``)."""
    import onnx

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"policy file {path} is a folder, not an ONNX file")
    if not path.is_file():
        raise ValueError(f"policy file {path} does not exist")
    data = path.read_bytes()
    if not data:  # protobuf reads zero bytes as an empty model: it would be "a model with no metadata"
        raise ValueError(f"policy file {path} is empty (0 bytes), not an ONNX file")
    try:
        model = onnx.load_from_string(data)
    except Exception as e:  # onnx raises DecodeError and friends
        raise ValueError(f"policy file {path} is not a readable ONNX model ({type(e).__name__})") from None
    if not model.graph.node:
        raise ValueError(f"policy file {path} is not an ONNX model (it holds no graph)")
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise ValueError(
            f"ONNX model {path} has no '{METADATA_KEY}' metadata: export it with hsi-offline export"
        )
    md = PolicyMetadata.from_json(props[METADATA_KEY]).validate(contract)
    trial_inference(data, md, path)
    return md


def trial_inference(model: bytes | str | Path, md: PolicyMetadata, path: str | Path) -> None:
    """Run the model once on a zero observation of ``md.layout.dim`` values; one-line ValueError unless it
    answers ``md.dof`` finite actions.

    Why: an input declared with a symbolic size says nothing about the width the weights need, so a model
    that disagrees with its metadata would otherwise load and fail later, inside onnxruntime, with its
    traceback (or, on the robot, only when the operator starts the policy)."""
    import onnxruntime as ort

    obs = np.zeros((1, md.layout.dim), dtype=np.float32)
    try:
        sess = ort.InferenceSession(
            model if isinstance(model, bytes) else str(model), providers=["CPUExecutionProvider"]
        )
        out = np.asarray(sess.run([md.output_name], {md.input_name: obs})[0])
    except Exception as e:  # onnxruntime's own exception types
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"policy file {path} does not run on its metadata's {md.layout.dim}-value observation ({first})"
        ) from None
    if out.size != md.dof:
        raise ValueError(
            f"policy file {path} answers {out.size} values for a {md.dof}-DoF policy (shape {out.shape})"
        )
    if not np.all(np.isfinite(out)):
        raise ValueError(f"policy file {path} answers non-finite actions to a zero observation")
