"""Export: normaliser in the graph, golden check, contract validation, checkpoint CLI, shipped placeholder."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from rsl_rl.models import MLPModel
from rsl_rl.modules import EmpiricalNormalization
from tensordict import TensorDict

from hsi_kernel.contract import get_contract, stand_gains
from hsi_kernel.heightmap.sampler import HeightmapSpec
from hsi_kernel.observation import make_layout
from hsi_kernel.paths import models_dir
from hsi_kernel.policy_file import METADATA_KEY, PolicyMetadata, load_metadata
from hsi_offline import cli
from hsi_offline.export import export_policy
from hsi_offline.export.hold_default import export_hold_default
from hsi_offline.export.onnx_export import DEFAULT_TOL

C = get_contract(23)
BLIND = make_layout(23, "student", heightmap=False)


def _actor(dim: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(dim, 64), torch.nn.ELU(), torch.nn.Linear(64, 23))


def _export(path, actor=None, obs_normalizer=None, recorded_obs=None, tol=DEFAULT_TOL, **metadata):
    """Export a blind 23-DoF policy; keyword arguments other than the exporter's change the metadata."""
    fields = dict(
        dof=23,
        layout=BLIND,
        action_scale=0.25,
        action_clip=8.0,
        kp=C.kp,
        kd=C.kd,
        default_q=C.default_q,
        heightmap_spec=None,
        provenance={"test": True},
    )
    fields.update(metadata)
    md = PolicyMetadata.for_contract(**fields)
    actor = actor if actor is not None else _actor(BLIND.dim)
    return export_policy(actor, obs_normalizer, md, path, recorded_obs=recorded_obs, tol=tol)


def test_export_puts_normaliser_in_graph_and_passes_golden_check(tmp_path):
    norm = EmpiricalNormalization(BLIND.dim)
    rng = np.random.default_rng(0)
    norm._mean.copy_(torch.as_tensor(rng.normal(0, 0.5, (1, BLIND.dim)), dtype=torch.float32))
    norm._std.copy_(torch.as_tensor(rng.uniform(0.2, 3.0, (1, BLIND.dim)), dtype=torch.float32))
    actor = _actor(BLIND.dim)
    res = _export(tmp_path / "p.onnx", actor=actor, obs_normalizer=norm)
    assert res.num_golden == 64 and res.max_abs_diff < 1e-5
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["obs"]
    assert [o.name for o in sess.get_outputs()] == ["actions"]
    x = rng.normal(size=(3, BLIND.dim)).astype(np.float32)  # batch of 3: the batch axis is dynamic
    (out,) = sess.run(["actions"], {"obs": x})
    with torch.no_grad():
        ref = actor((torch.from_numpy(x) - norm._mean) / (norm._std + norm.eps)).numpy()
        raw = actor(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert np.abs(out - raw).max() > 1e-2  # the normaliser really is applied inside the graph
    md = load_metadata(res.path)
    assert md.joint_names == C.joint_names and md.layout == BLIND and md.provenance == {"test": True}
    assert md.action_scale == 0.25 and md.action_clip == 8.0 and md.heightmap_spec is None


def test_heightmap_policy_carries_its_spec(tmp_path):
    lay = make_layout(23, "student", heightmap=True)
    res = _export(tmp_path / "t.onnx", actor=_actor(lay.dim), layout=lay, heightmap_spec=HeightmapSpec())
    assert HeightmapSpec.from_dict(load_metadata(res.path).heightmap_spec) == HeightmapSpec()
    with pytest.raises(ValueError, match="no heightmap_spec"):
        _export(tmp_path / "t2.onnx", actor=_actor(lay.dim), layout=lay, heightmap_spec=None)
    with pytest.raises(ValueError, match="cells"):
        _export(tmp_path / "t3.onnx", actor=_actor(lay.dim), layout=lay, heightmap_spec=HeightmapSpec(size=9))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"default_q": C.default_q + np.eye(23)[3] * 0.05}, "default pose disagrees .* left_knee_joint"),
        ({"dof": 29}, "'default_q' must be 29"),
        ({"dof": 27}, "unsupported G1 DoF"),
        ({"kp": -C.kp}, "gains out of range"),
        ({"kd": C.kd[:20]}, "'kd' must be 23"),
        ({"action_scale": 0.0}, "action_scale"),
        ({"layout": make_layout(29, "student", heightmap=False)}, "layout is for 29 DoF"),
    ],
)
def test_export_refuses_metadata_that_disagrees_with_contract(tmp_path, change, message):
    out = tmp_path / "p.onnx"
    out.write_bytes(b"previous policy")
    with pytest.raises(ValueError, match=message) as e:
        _export(out, **change)
    assert "\n" not in str(e.value)
    assert out.read_bytes() == b"previous policy"  # nothing was replaced
    assert list(tmp_path.iterdir()) == [out]  # and no temp file left behind


def test_export_refuses_wrong_network_and_failed_golden_check(tmp_path):
    with pytest.raises(ValueError, match="does not accept a 378-value"):
        _export(tmp_path / "a.onnx", actor=_actor(100))
    with pytest.raises(ValueError, match=r"must return \(batch, 23\)"):
        _export(tmp_path / "b.onnx", actor=torch.nn.Linear(BLIND.dim, 12))
    with pytest.raises(ValueError, match="recorded observations must be"):
        _export(tmp_path / "c.onnx", recorded_obs=np.zeros((4, 10)))
    with pytest.raises(ValueError, match="golden check failed"):
        _export(tmp_path / "d.onnx", tol=-1.0)  # an impossible tolerance: the check really runs
    assert list(tmp_path.iterdir()) == []


def test_export_cli_reads_rsl_rl_checkpoint(tmp_path, capsys):
    obs = TensorDict({"policy": torch.zeros(4, BLIND.dim)}, batch_size=[4])
    torch.manual_seed(3)
    model = MLPModel(
        obs,
        {"actor": ["policy"]},
        "actor",
        23,
        hidden_dims=[32, 32],
        activation="elu",
        obs_normalization=True,
    )
    model.train()
    model.obs_normalizer.update(torch.randn(256, BLIND.dim) * 2.0 + 0.5)  # real running statistics
    model.eval()
    recorded = torch.randn(16, BLIND.dim)
    meta = {
        "layout": BLIND.to_dict(),
        "dof": 23,
        "action_scale": 0.25,
        "action_clip": 8.0,
        "kp": C.kp.tolist(),
        "kd": C.kd.tolist(),
        "heightmap_spec": None,
        "activation": "elu",
        "provenance": {"stage": "finetune", "iterations": 3},
    }
    ckpt = tmp_path / "model_3.pt"
    torch.save({"actor_state_dict": model.state_dict(), "hsi_meta": meta, "recorded_obs": recorded}, ckpt)
    out = tmp_path / "student.onnx"
    assert cli.main(["export", str(ckpt), "--out", str(out)]) == 0
    assert "golden check max abs diff" in capsys.readouterr().out
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (onnx_out,) = sess.run(["actions"], {"obs": recorded.numpy()})
    with torch.no_grad():
        ref = model(TensorDict({"policy": recorded}, batch_size=[16])).numpy()
    np.testing.assert_allclose(onnx_out, ref, atol=1e-5)
    assert load_metadata(out).provenance["stage"] == "finetune"
    # bad input: one line, exit code 2
    bad = tmp_path / "bad.pt"
    torch.save({"actor_state_dict": model.state_dict()}, bad)
    assert cli.main(["export", str(bad)]) == 2
    assert "no 'hsi_meta'" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert cli.main(["export", str(tmp_path / "junk.pt")]) == 2


def test_shipped_hold_default_policy_is_the_exporter_output(tmp_path):
    shipped = models_dir() / "hold_default_23dof.onnx"
    md = load_metadata(shipped)
    assert md.provenance["kind"] == "hold_default_pose" and md.provenance["trained"] is False
    kp, kd = stand_gains(C)  # a constant target stands only with the stiff stand gains
    np.testing.assert_allclose(md.kp, kp)
    np.testing.assert_allclose(md.kd, kd)
    assert md.kp.max() == 350.0
    sess = ort.InferenceSession(str(shipped), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(5, md.layout.dim)).astype(np.float32) * 10
    assert np.all(sess.run(["actions"], {"obs": x})[0] == 0.0)
    regen = export_hold_default(23, tmp_path / "hold.onnx")
    assert regen.metadata.to_json() == md.to_json()
    a, b = onnx.load(str(shipped)), onnx.load(str(regen.path))
    assert a.graph.SerializeToString() == b.graph.SerializeToString()  # regenerating gives the same network
    meta = {p.key: p.value for p in a.metadata_props}
    assert PolicyMetadata.from_dict(json.loads(meta[METADATA_KEY])).to_json() == md.to_json()
