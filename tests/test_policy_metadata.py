"""Policy metadata and loading: every way a policy can disagree with the robot is refused in one line."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from hsi_kernel.contract import get_contract
from hsi_kernel.observation import make_layout
from hsi_kernel.policy_file import METADATA_KEY, PolicyMetadata, load_metadata
from hsi_offline.export import export_policy
from hsi_robot_nodes.policy.runner import PolicyRunner

C = get_contract(23)


def _export(path, layout=None):
    layout = layout or make_layout(23, "student", heightmap=False)
    torch.manual_seed(0)
    actor = torch.nn.Sequential(torch.nn.Linear(layout.dim, 16), torch.nn.ELU(), torch.nn.Linear(16, 23))
    return export_policy(actor, None, PolicyMetadata.for_contract(23, layout, 0.25, 8.0, C.kp, C.kd), path)


def _rewrite_metadata(src, dst, edit):
    """Copy an exported model with its metadata JSON edited (like a hand-edited or foreign file)."""
    model = onnx.load(str(src))
    entry = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    d = json.loads(entry.value)
    edit(d)
    entry.value = json.dumps(d)
    onnx.save(model, str(dst))
    return dst


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("m") / "good.onnx").path


def test_roundtrip(good):
    md = load_metadata(good)
    assert PolicyMetadata.from_json(md.to_json()).to_json() == md.to_json()
    assert md.validate(C) is md


def _swap(d):
    d["joint_names"][0], d["joint_names"][1] = d["joint_names"][1], d["joint_names"][0]


def _drop(d):
    d["joint_names"].pop()


def _knee(d):
    d["default_q"][3] = 0.5


@pytest.mark.parametrize(
    "edit, message",
    [
        (_swap, "joint 0 is 'left_hip_roll_joint' but the contract has 'left_hip_pitch_joint'"),
        (_drop, "names 22 joints"),
        (_knee, "default pose disagrees with the contract at left_knee_joint"),
        (lambda d: d.update(dof=29), "policy is for a 29-DoF G1 but the robot is configured for 23"),
        (lambda d: d.update(schema="other/9"), "schema"),
        (lambda d: d.pop("kp"), "missing the field 'kp'"),
        (lambda d: d["kd"].__setitem__(0, 1e6), "gains out of range"),
        (lambda d: d["observation"]["extras"].append({"name": "base_lin_vel", "size": 3}), "not supported"),
    ],
)
def test_runner_refuses_metadata_that_disagrees(good, tmp_path, edit, message):
    bad = _rewrite_metadata(good, tmp_path / "bad.onnx", edit)
    with pytest.raises(ValueError, match=message) as e:
        PolicyRunner({"blind": bad})
    assert "\n" not in str(e.value)


def test_runner_refuses_missing_corrupt_and_foreign_files(good, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        PolicyRunner({"blind": tmp_path / "nope.onnx"})
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x01garbage" * 10)
    with pytest.raises(ValueError, match="not a loadable ONNX model") as e:
        PolicyRunner({"blind": junk})
    assert "\n" not in str(e.value)
    torch.onnx.export(
        torch.nn.Linear(378, 23),
        (torch.zeros(1, 378),),
        str(tmp_path / "plain.onnx"),
        input_names=["obs"],
        output_names=["actions"],
        dynamo=False,
    )
    with pytest.raises(ValueError, match="no 'hsi_robot.policy' metadata"):
        PolicyRunner({"blind": tmp_path / "plain.onnx"})
    with pytest.raises(ValueError, match="robot is configured for 29 DoF|'default_q' must be 29"):
        PolicyRunner({"blind": good}, dof=29)
    with pytest.raises(ValueError, match="no policy given"):
        PolicyRunner({"blind": ""})
    with pytest.raises(ValueError, match="unknown policy slots"):
        PolicyRunner({"stairs": good})


def test_model_shape_must_match_layout(good, tmp_path):
    # metadata says 499 inputs (heightmap layout) but the network takes 378
    lay = make_layout(23, "student", heightmap=True)
    bad = _rewrite_metadata(
        good,
        tmp_path / "shape.onnx",
        lambda d: d.update(
            observation=lay.to_dict(), heightmap_spec={"size": 11, "resolution": 0.1, "fill": 0.85}
        ),
    )
    with pytest.raises(ValueError, match="model input has 378 values but the observation layout has 499"):
        PolicyRunner({"terrain": bad})


def test_refuses_terms_it_cannot_supply(tmp_path):
    teacher = _export(tmp_path / "teacher.onnx", make_layout(23, "teacher", heightmap=False)).path
    with pytest.raises(ValueError, match=r"terms \['ref_joint_pos', 'ref_root_roll_pitch'\] that the"):
        PolicyRunner({"blind": teacher})
    from hsi_kernel.heightmap.sampler import HeightmapSpec

    lay = make_layout(23, "student", heightmap=True)
    torch.manual_seed(0)
    md = PolicyMetadata.for_contract(23, lay, 0.25, 8.0, C.kp, C.kd, heightmap_spec=HeightmapSpec())
    terrain = export_policy(torch.nn.Linear(lay.dim, 23), None, md, tmp_path / "terrain.onnx").path
    with pytest.raises(ValueError, match="no heightmap source is configured"):
        PolicyRunner({"terrain": terrain}, heightmap_available=False)
    assert PolicyRunner({"terrain": terrain}).policies["terrain"].needs_heightmap
    assert np.allclose(load_metadata(terrain).default_q, C.default_q)
