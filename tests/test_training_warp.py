"""The MuJoCo Warp backend, run with its kernels on the CPU, against the CPU backend.

The GPU backend used to be code nobody had run on a machine without a GPU. Warp compiles the same kernels
for the CPU, so here the whole environment (reset, PD, physics, contacts, observations, rewards,
terminations) runs on both backends from the same seed and must agree to float32 rounding. The first run
compiles MuJoCo Warp's kernels (about a minute; cached in ~/.cache/warp afterwards).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi_offline.training.backends.warp import BackendUnavailableError, require_warp
from hsi_offline.training.config import EnvConfig
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.synthetic import sway_clip
from hsi_robot_nodes.terrain import make_scene_terrain


def _env(lib, backend: str, n: int = 3) -> TrackingEnv:
    cfg = EnvConfig(num_envs=n, threads=1, backend=backend, device="cpu", seed=7)
    cfg.randomization.enabled = False
    return TrackingEnv(cfg, lib)


def test_warp_on_cpu_matches_the_cpu_backend_step_for_step():
    lib = MotionLibrary([sway_clip(seconds=2.0)])
    cpu, warp = _env(lib, "cpu"), _env(lib, "warp")
    assert torch.allclose(cpu.get_observations()["policy"], warp.get_observations()["policy"], atol=1e-4)
    g = torch.Generator().manual_seed(0)
    start = cpu.backend.read("cpu")["joint_pos"].clone()
    moved, contact_steps, resets = 0.0, 0, 0
    for _ in range(20):
        a = 0.3 * torch.randn(3, 23, generator=g)
        oc, rc, dc, _ = cpu.step(a)
        ow, rw, dw, _ = warp.step(a)
        sc, sw = cpu.backend.read("cpu"), warp.backend.read("cpu")
        for key in ("joint_pos", "root_pos", "root_quat", "body_pos", "joint_vel", "torque"):
            tol = 2e-2 if key in ("joint_vel", "torque") else 1e-3
            err = (sc[key] - sw[key]).abs().max().item()
            assert err < tol, f"{key} differs by {err:.2e}"
        assert torch.equal(sc["foot_contact"], sw["foot_contact"])
        assert torch.equal(dc, dw)
        assert torch.allclose(rc, rw, atol=1e-3)
        assert torch.allclose(oc["policy"], ow["policy"], atol=1e-3)
        assert torch.allclose(oc["student"], ow["student"], atol=1e-3)
        moved = max(moved, (sc["joint_pos"] - start).abs().max().item())
        contact_steps += int(sc["foot_contact"].any())
        resets += int(dc.any())
    assert moved > 0.05, "the actions must actually move the robot for the comparison to mean something"
    assert contact_steps == 20, "feet on the ground throughout: contacts are part of what is compared"
    # placing worlds recomputes everything derived from the state, contacts included (lifted 0.5 m: none)
    qpos, qvel = cpu.qpos0.copy(), np.zeros((1, cpu.base_models[0].nv))
    qpos[2] += 0.5
    for env in (cpu, warp):
        env.backend.set_state(np.array([2]), qpos[None], qvel)
        s = env.backend.read("cpu")
        assert not s["foot_contact"][2].any() and abs(s["root_pos"][2, 2].item() - qpos[2]) < 1e-5
        assert s["foot_contact"][0].any(), "the other worlds keep their contacts"
    cpu.close()
    warp.close()


def test_warp_backend_refuses_several_terrains_and_bad_devices():
    clips = [sway_clip(seconds=1.0), sway_clip(seconds=1.0)]
    lib = MotionLibrary(clips, terrains=[None, make_scene_terrain("stairs")])
    with pytest.raises(ValueError, match="one terrain"):
        _env(lib, "warp")
    with pytest.raises(BackendUnavailableError, match="cpu or cuda"):
        require_warp("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="NVIDIA GPU"):
            require_warp("cuda:0")
