"""The policy heightmap sampler: ONE function shared by training (batched torch) and the robot (numpy).

The policy sees an ``size x size`` grid (VideoMimic: 11 x 11 at 0.1 m) centred on the torso and aligned with
the torso's yaw. Each value is the torso height above the terrain under the sample point (metres, positive);
where the terrain is unknown the value is ``spec.fill`` (VideoMimic's 0.85 m, i.e. "flat ground at standing
height"). A grid computed differently in training and onboard is a silent sim-to-real gap, so both sides call
``sample_heightmap`` with their own height source: the true ``Terrain`` in simulation/training
(``terrain_height_fn``) and the fused elevation map onboard (``ElevationMap.height_fn``).

Layout (the observation vector order): sample ``k = a * size + b`` sits at offset
``(dx, dy) = ((a - c) * res, (b - c) * res)`` with ``c = (size - 1) / 2`` in the torso's yaw-aligned frame,
i.e. the FIRST index runs along +x (forward, -0.5 .. +0.5 m for the default spec) and the SECOND along +y
(left). Reshaping the flat vector to ``(size, size)`` in C order gives ``grid[a, b]`` with ``a`` forward and
``b`` left.

Array-generic: every function takes numpy arrays or torch tensors and returns the same kind (same device and
float dtype for torch). Dispatch is a small lookup of the array's namespace, not a second implementation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

LAYOUT = "x_forward_major"
"""Name of the grid order above; stored in metadata so a consumer can refuse a grid in another order."""

HeightFn = Callable[[Any], tuple[Any, Any]]
"""``height_fn(xy (..., 2)) -> (z (...), valid (...) bool)``: the terrain height source."""


@dataclass(frozen=True)
class HeightmapSpec:
    """Geometry of the policy heightmap. Defaults are VideoMimic's; the policy metadata may override them."""

    size: int = 11  # cells per side
    resolution: float = 0.1  # metres between samples
    fill: float = 0.85  # value where the terrain is unknown: torso height above flat ground when standing

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int | np.integer) or self.size < 1:
            raise ValueError(f"heightmap size must be a positive integer, got {self.size!r}")
        if not (math.isfinite(self.resolution) and self.resolution > 0):
            raise ValueError(
                f"heightmap resolution must be a positive number of metres, got {self.resolution!r}"
            )
        if not math.isfinite(self.fill):
            raise ValueError(f"heightmap fill must be a finite number of metres, got {self.fill!r}")

    @property
    def num_cells(self) -> int:
        return self.size * self.size

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for ONNX/JSON metadata (includes the layout name so a reader can check the order)."""
        return {**asdict(self), "layout": LAYOUT}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HeightmapSpec:
        """Inverse of ``to_dict``; accepts numeric strings (ONNX metadata values are strings)."""
        unknown = set(d) - {"size", "resolution", "fill", "layout"}
        if unknown:
            raise ValueError(
                f"heightmap spec has unknown keys {sorted(unknown)}; expected size, resolution, fill, layout"
            )
        if "layout" in d and d["layout"] != LAYOUT:
            raise ValueError(
                f"heightmap layout '{d['layout']}' is not supported; this code produces '{LAYOUT}'"
            )
        try:
            kw: dict[str, Any] = {}
            if "size" in d:
                size_f = float(d["size"])
                if size_f != int(size_f):
                    raise ValueError
                kw["size"] = int(size_f)
            for k in ("resolution", "fill"):
                if k in d:
                    kw[k] = float(d[k])
        except (TypeError, ValueError):
            raise ValueError(f"heightmap spec values must be numbers, got {dict(d)}") from None
        return cls(**kw)


DEFAULT_SPEC = HeightmapSpec()
"""VideoMimic's 11 x 11 grid at 0.1 m with 0.85 m fill."""


def _is_torch(a: Any) -> bool:
    return type(a).__module__.startswith("torch")


def _like(values: np.ndarray, ref: Any) -> Any:
    """``values`` as the array kind of ``ref`` (torch: same device, ref's float dtype)."""
    if _is_torch(ref):
        import torch

        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        if not values.flags.writeable:  # a read-only view (e.g. of a terrain grid): torch wants its own copy
            values = values.copy()
        return torch.as_tensor(values, dtype=dtype, device=ref.device)
    return values


@functools.lru_cache(maxsize=16)
def _offsets(spec: HeightmapSpec) -> np.ndarray:
    c = (spec.size - 1) / 2.0
    a, b = np.meshgrid(np.arange(spec.size), np.arange(spec.size), indexing="ij")
    out = np.stack([(a.ravel() - c) * spec.resolution, (b.ravel() - c) * spec.resolution], axis=-1)
    out.flags.writeable = False  # cached: shared by every call
    return out


def grid_offsets(spec: HeightmapSpec = DEFAULT_SPEC) -> np.ndarray:
    """(size*size, 2) sample offsets (dx forward, dy left) in the torso's yaw-aligned frame, layout above."""
    return _offsets(spec).copy()


def sample_points(torso_xy: Any, yaw: Any, spec: HeightmapSpec = DEFAULT_SPEC) -> Any:
    """World xy of every sample: (..., 2) torso xy and (...) yaw -> (..., size*size, 2)."""
    torch_mode = _is_torch(torso_xy)
    if not torch_mode:
        torso_xy = np.asarray(torso_xy, dtype=np.float64)
        yaw = np.asarray(yaw, dtype=np.float64)
    if torso_xy.shape[-1] != 2 or tuple(torso_xy.shape[:-1]) != tuple(yaw.shape):
        raise ValueError(
            f"torso_xy must be (..., 2) and yaw (...) with the same batch shape, got "
            f"{tuple(torso_xy.shape)} and {tuple(yaw.shape)}"
        )
    off = _like(_offsets(spec), torso_xy)
    c, s = (yaw.cos(), yaw.sin()) if torch_mode else (np.cos(yaw), np.sin(yaw))
    c, s = c[..., None], s[..., None]
    ox, oy = off[:, 0], off[:, 1]
    x = torso_xy[..., 0:1] + c * ox - s * oy
    y = torso_xy[..., 1:2] + s * ox + c * oy
    if torch_mode:
        import torch

        # a (2, ..., n) block seen as (..., n, 2): each coordinate stays contiguous for the height source
        return torch.stack([x, y]).movedim(0, -1)
    return np.stack([x, y], axis=-1)


def sample_heightmap(
    height_fn: HeightFn, torso_pos: Any, yaw: Any, spec: HeightmapSpec = DEFAULT_SPEC
) -> tuple[Any, Any]:
    """The policy heightmap: (values (..., size*size), valid (..., size*size) bool).

    ``values = torso_z - ground_z`` where ``height_fn`` reports the ground as known, ``spec.fill`` elsewhere.
    """
    torch_mode = _is_torch(torso_pos)
    if not torch_mode:
        torso_pos = np.asarray(torso_pos, dtype=np.float64)
    if torso_pos.shape[-1] != 3:
        raise ValueError(f"torso_pos must be (..., 3), got {tuple(torso_pos.shape)}")
    pts = sample_points(torso_pos[..., :2], yaw, spec)
    z, valid = height_fn(pts)
    if tuple(z.shape) != tuple(pts.shape[:-1]) or tuple(valid.shape) != tuple(pts.shape[:-1]):
        raise ValueError(
            f"height_fn returned shapes {tuple(z.shape)}/{tuple(valid.shape)}, "
            f"expected {tuple(pts.shape[:-1])}"
        )
    diff = torso_pos[..., 2:3] - z
    if torch_mode:
        import torch

        valid = valid.to(torch.bool)
        diff = diff.to(torso_pos.dtype)
        return torch.where(valid, diff, spec.fill), valid
    valid = np.asarray(valid, dtype=bool)
    return np.where(valid, diff, spec.fill), valid


def terrain_height_fn(terrain: Any) -> HeightFn:
    """A ``height_fn`` over a ``Terrain``: the exact MuJoCo surface, valid inside the heightfield's extent.

    Outside the extent ``Terrain.height_at`` would clamp to the edge, which is a guess, so those samples are
    reported unknown (and get the fill value), as the onboard map does for ground it has not seen.
    """
    xmin, xmax, ymin, ymax = terrain.extent

    def height_fn(xy: Any) -> tuple[Any, Any]:
        z = terrain.height_at(xy)
        x, y = xy[..., 0], xy[..., 1]
        valid = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
        return z, valid

    return height_fn
