"""Physics backends behind one small interface (torch tensors in, torch tensors out).

``cpu``: MuJoCo on the CPU, one ``MjData`` world per environment, stepped by a thread pool.
``warp``: MuJoCo Warp (on an NVIDIA GPU; its kernels also run on the CPU), all environments in one batched
``nworld`` model.
The environment (``hsi_offline.training.env``) computes observations, rewards and resets identically on both.
"""

from __future__ import annotations

import mujoco

from .model_index import BODY_LINKS, ModelIndex, model_index

__all__ = ["BODY_LINKS", "ModelIndex", "make_backend", "model_index"]


def make_backend(
    name: str,
    models: list[mujoco.MjModel],
    dof: int,
    decimation: int,
    threads: int = 0,
    device: str = "cpu",
    **warp_options,
):
    """The backend called ``name`` ('cpu' or 'warp') over one model per environment (``warp_options``:
    ``world_model`` and ``origins``, see ``WarpBackend``)."""
    if name == "cpu":
        from .cpu import CpuBackend

        return CpuBackend(models, dof, decimation, threads)
    if name == "warp":
        from .warp import WarpBackend

        return WarpBackend(models, dof, decimation, device, **warp_options)
    raise ValueError(f"unknown physics backend '{name}': use cpu or warp")
