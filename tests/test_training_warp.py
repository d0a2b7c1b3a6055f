"""The MuJoCo Warp backend, run with its kernels on the CPU, against the CPU backend.

The GPU backend used to be code nobody had run on a machine without a GPU. Warp compiles the same kernels
for the CPU, so here the whole environment (reset, PD, physics, contacts, observations, rewards,
terminations) runs on both backends from the same seed and must agree to float32 rounding. The first run
compiles MuJoCo Warp's kernels (about a minute; cached in ~/.cache/warp afterwards).
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from hsi_kernel.terrain import make_scene_terrain
from hsi_offline.training.backends.warp import BackendUnavailableError, require_warp
from hsi_offline.training.config import EnvConfig
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.procedural_clips import sway_clip
from hsi_sim.scene import build_tiled_model


def _env(lib, backend: str, n: int = 3, randomize: bool = False) -> TrackingEnv:
    cfg = EnvConfig(num_envs=n, threads=1, backend=backend, device="cpu", seed=7)
    cfg.randomization.enabled = randomize
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


def test_tiled_model_puts_each_terrain_surface_on_its_tile():
    """Ray-cast the tiled model straight down: each tile's surface is its terrain (height fields stay height
    fields, piecewise-flat terrains become boxes whose risers sit half a cell from the sampled ones)."""
    terrains = [make_scene_terrain(n) for n in ("flat", "stairs", "kerb", "rough")]
    model, offsets = build_tiled_model(terrains)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    rng = np.random.default_rng(0)
    geomid = np.zeros(1, np.int32)
    for t, (ox, oy) in zip(terrains, offsets):
        xmin, xmax, ymin, ymax = t.extent if not t.is_flat else (-5, 5, -5, 5)
        xy = rng.uniform([xmin + 0.1, ymin + 0.1], [xmax - 0.1, ymax - 0.1], size=(200, 2))
        hit = []
        for x, y in xy:
            d = mujoco.mj_ray(
                model, data, np.array([x + ox, y + oy, 5.0]), np.array([0, 0, -1.0]), None, 1, -1, geomid
            )
            assert model.geom_bodyid[geomid[0]] == 0, "the ray hits terrain, not the robot"
            hit.append(5.0 - d)
        err = np.abs(np.array(hit) - t.height_at(xy))
        assert np.median(err) < 1e-3 and np.percentile(err, 90) < 0.01, (t.name, np.median(err))


def test_warp_tiles_several_terrains_and_batches_randomised_dynamics():
    """Clips on flat ground and on stairs in one run, dynamics randomisation on: the Warp worlds stand on
    tiles of one model and carry per-world friction/mass. Flat-tile worlds agree with the CPU backend's to
    float32 rounding; stairs worlds collide with boxes on Warp and with the height field on the CPU backend,
    so there they must agree as physics (same contacts, pelvis within millimetres), not bit for bit."""
    lib = MotionLibrary(
        [sway_clip(seconds=2.0), sway_clip(seconds=2.0)], terrains=[None, make_scene_terrain("stairs")]
    )
    cpu, warp = _env(lib, "cpu", n=4, randomize=True), _env(lib, "warp", n=4, randomize=True)
    origins = warp.backend.origins[:, 0].tolist()
    assert origins[0] == origins[2] == 0.0 and origins[1] == origins[3] > 20.0  # env i on terrain i % 2
    fr = warp.backend._batched["geom_friction"][:, 0, 0]
    assert len(set(fr.tolist())) == 4, "each world has its own randomised friction"
    for i in range(4):
        assert abs(fr[i].item() - cpu.models[i].geom_friction[0, 0]) < 1e-6
        mass = warp.backend._batched["body_mass"][i]
        assert torch.allclose(mass, torch.as_tensor(cpu.models[i].body_mass, dtype=mass.dtype), atol=1e-5)
    g = torch.Generator().manual_seed(1)
    flat, stairs = [0, 2], [1, 3]
    for _ in range(10):
        a = 0.2 * torch.randn(4, 23, generator=g)
        oc, rc, dc, _ = cpu.step(a)
        ow, rw, dw, _ = warp.step(a)
        sc, sw = cpu.backend.read("cpu"), warp.backend.read("cpu")
        for key in ("joint_pos", "root_pos", "body_pos"):
            err = (sc[key][flat] - sw[key][flat]).abs().max().item()
            assert err < 1e-3, f"flat tile: {key} differs by {err:.2e}"
        assert (sc["root_pos"][stairs] - sw["root_pos"][stairs]).abs().max().item() < 5e-3
        # contacts exactly where the states agree to 1e-3 (flat tiles); on the stairs tiles the float32 Warp
        # state may differ by millimetres, enough to flip a foot that is just lifting off
        assert torch.equal(sc["foot_contact"][flat], sw["foot_contact"][flat]) and torch.equal(dc, dw)
        assert torch.allclose(oc["policy"][flat], ow["policy"][flat], atol=1e-3)
    cpu.close()
    warp.close()


def test_warp_backend_refuses_bad_devices():
    with pytest.raises(BackendUnavailableError, match="cpu or cuda"):
        require_warp("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="NVIDIA GPU"):
            require_warp("cuda:0")
