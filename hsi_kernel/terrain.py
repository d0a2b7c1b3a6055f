"""Terrain as a regular heightfield: the one representation the simulator, training and heightmap share.

MuJoCo collides meshes as convex hulls, so every non-flat terrain (stairs, kerb, bench, a reconstruction) is
a heightfield. ``Terrain`` stores heights at grid points ``(x0 + i*res, y0 + j*res)`` as ``heights[j, i]``
(rows along +y, columns along +x, the MuJoCo ``hfield`` row order), in metres, +z up. ``height_at`` samples it
exactly as MuJoCo's triangulated heightfield surface does, so "true terrain height" means the same thing in
simulation, in the heightmap accuracy benchmark and in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path

TERRAIN_SCHEMA = "hsi_robot.terrain/1"
SCENES = ("flat", "stairs", "stairs_down", "kerb", "kerb_up_down", "bench", "rough")


class TerrainError(ValueError):
    """A terrain file or parameter that cannot be used (one-line message)."""


@dataclass
class Terrain:
    heights: np.ndarray  # (ny, nx) metres
    resolution: float  # metres between grid points
    origin: tuple[float, float]  # (x, y) of heights[0, 0]
    name: str = "terrain"

    def __post_init__(self) -> None:
        h = np.asarray(self.heights, dtype=np.float64)
        if h.ndim != 2 or min(h.shape) < 2:
            raise TerrainError(
                f"terrain '{self.name}': heights must be a 2-D grid of at least 2x2, got {h.shape}"
            )
        if not np.all(np.isfinite(h)):
            raise TerrainError(f"terrain '{self.name}': heights contain NaN or inf")
        if not (np.isfinite(self.resolution) and 0.005 <= self.resolution <= 1.0):
            raise TerrainError(f"terrain '{self.name}': resolution {self.resolution} m outside 0.005..1.0")
        self.heights = h
        self.origin = (float(self.origin[0]), float(self.origin[1]))

    @property
    def shape(self) -> tuple[int, int]:
        return self.heights.shape  # type: ignore[return-value]

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) covered by the grid."""
        ny, nx = self.shape
        return (
            self.origin[0],
            self.origin[0] + (nx - 1) * self.resolution,
            self.origin[1],
            self.origin[1] + (ny - 1) * self.resolution,
        )

    @property
    def is_flat(self) -> bool:
        return float(np.ptp(self.heights)) < 1e-9

    def height_at(self, xy: np.ndarray) -> np.ndarray:
        """Height of the triangulated surface at points ``xy`` (..., 2); outside the grid: nearest edge.

        MuJoCo splits each cell along the diagonal from (i, j) to (i+1, j+1); we interpolate on the same two
        triangles so the value matches what the simulated feet stand on. ``xy`` may be a torch tensor
        (batched training on CPU/GPU): the same formula runs on it and returns a tensor on its device, so the
        training environment never needs a second terrain lookup.
        """
        ny, nx = self.shape
        if type(xy).__module__.startswith("torch"):
            return self._height_at_torch(xy)
        xy = np.asarray(xy, dtype=np.float64)
        u = np.clip((xy[..., 0] - self.origin[0]) / self.resolution, 0.0, nx - 1 - 1e-9)
        v = np.clip((xy[..., 1] - self.origin[1]) / self.resolution, 0.0, ny - 1 - 1e-9)
        i, j = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
        h = self.heights
        fu, fv = u - i, v - j
        h00, h10, h01, h11 = h[j, i], h[j, i + 1], h[j + 1, i], h[j + 1, i + 1]
        lower = fu >= fv  # triangle (00, 10, 11)
        z_lower = h00 + fu * (h10 - h00) + fv * (h11 - h10)
        z_upper = h00 + fv * (h01 - h00) + fu * (h11 - h01)
        return np.where(lower, z_lower, z_upper)

    def _height_at_torch(self, xy):  # torch is an optional import here, hence no annotations
        """``height_at`` on a tensor: the same formula and operation order as the numpy branch (so the same
        float rounding as before), with the four corner heights gathered from the flat grid by one linear
        index (``torch.take``) instead of four two-index lookups, and in-place updates of temporaries."""
        import torch

        ny, nx = self.shape
        h = self._heights_like(xy).view(-1)
        # clamp the index, not the coordinate: float32 cannot represent nx - 1 - 1e-9
        u = ((xy[..., 0] - self.origin[0]) / self.resolution).clamp_(0.0, nx - 1)
        v = ((xy[..., 1] - self.origin[1]) / self.resolution).clamp_(0.0, ny - 1)
        i, j = u.floor().long().clamp_(max=nx - 2), v.floor().long().clamp_(max=ny - 2)
        fu, fv = u - i, v - j
        # flat index of corner (i, j); the other corners: the same index into the grid shifted by 1, nx, nx+1
        k = j.mul_(nx).add_(i)
        h00, h10, h01, h11 = h.take(k), h[1:].take(k), h[nx:].take(k), h[nx + 1 :].take(k)
        lower = fu >= fv  # triangle (00, 10, 11)
        z_lower = h00 + fu * (h10 - h00) + fv * (h11 - h10)
        z_upper = h00 + fv * (h01 - h00) + fu * (h11 - h01)
        return torch.where(lower, z_lower, z_upper)

    def _heights_like(self, ref):  # torch is an optional import here, hence no annotations
        """``heights`` as a tensor on ``ref``'s device and float dtype, cached: training calls it often."""
        import torch

        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        key = (str(ref.device), dtype)
        cache = self.__dict__.setdefault("_torch_heights", {})
        hit = cache.get(key)
        if hit is None or hit[0] is not self.heights:
            hit = (self.heights, torch.as_tensor(self.heights, dtype=dtype, device=ref.device))
            cache[key] = hit
        return hit[1]

    # ---- files -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` atomically (a reader never sees half a file)."""
        path = Path(path)
        with atomic_path(path, ".npz") as tmp:
            np.savez(
                tmp,
                schema=TERRAIN_SCHEMA,
                heights=self.heights.astype(np.float32),
                resolution=self.resolution,
                origin=np.array(self.origin),
                name=self.name,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Terrain:
        """Read and validate a terrain ``.npz`` (keys: heights, resolution, origin)."""
        path = Path(path)
        if not path.is_file():
            raise TerrainError(f"heightfield file '{path}' does not exist")
        try:
            with np.load(path, allow_pickle=False) as f:
                missing = {"heights", "resolution", "origin"} - set(f.files)
                if missing:
                    raise TerrainError(f"heightfield file '{path}' lacks {sorted(missing)}")
                schema = str(f["schema"]) if "schema" in f.files else TERRAIN_SCHEMA
                if schema != TERRAIN_SCHEMA:
                    raise TerrainError(
                        f"heightfield file '{path}' has schema {schema}, expected {TERRAIN_SCHEMA}"
                    )
                origin = np.asarray(f["origin"], dtype=np.float64).reshape(-1)
                if origin.shape != (2,):
                    raise TerrainError(f"heightfield file '{path}': origin must be 2 numbers")
                return cls(
                    np.asarray(f["heights"]),
                    float(f["resolution"]),
                    (origin[0], origin[1]),
                    str(f["name"]) if "name" in f.files else path.stem,
                )
        except TerrainError:
            raise
        except Exception as e:  # zip/npy corruption, wrong dtypes
            raise TerrainError(f"heightfield file '{path}' is not a readable terrain npz ({e})") from None


# ---- procedural scenes ------------------------------------------------------------------------------
def _grid(size_x: float, size_y: float, res: float, x0: float, y0: float) -> tuple[np.ndarray, np.ndarray]:
    nx, ny = int(round(size_x / res)) + 1, int(round(size_y / res)) + 1
    xs = x0 + np.arange(nx) * res
    ys = y0 + np.arange(ny) * res
    return np.meshgrid(xs, ys)


def make_scene_terrain(scene: str, res: float = 0.02, seed: int = 0) -> Terrain:
    """Procedural terrain for a named scene. The robot starts at (0, 0) facing +x on flat ground.

    - flat: 0 everywhere. - stairs: 1 m flat, 4 steps up (0.15 x 0.30 m), 1.2 m landing, 4 steps down.
    - stairs_down: starts on a 0.6 m platform, 4 steps down. - kerb: a 0.15 m step 1.0 m ahead.
    - kerb_up_down: a 0.15 m high, 1.0 m long raised strip from 1.0 m ahead (step up, then down again).
    - bench: a 0.42 m high, 0.40 m deep bench right behind the robot (sit down backwards, stand up).
    - rough: smoothed random bumps of about +-3 cm.
    """
    X, Y = _grid(10.0, 6.0, res, -3.0, -3.0)
    H = np.zeros_like(X)
    rise, run = 0.15, 0.30
    if scene == "flat":
        pass
    elif scene == "stairs":
        x = X - 1.0
        up = np.clip(np.floor(x / run) + 1, 0, 4) * rise
        down = np.clip(4 - np.floor((x - 4 * run - 1.2) / run) - 1, 0, 4) * rise
        H = np.where(x < 4 * run + 1.2, np.where(x >= 0, up, 0.0), down)
    elif scene == "stairs_down":
        x = X - 0.6
        H = np.where(x < 0, 4 * rise, np.clip(4 - np.floor(x / run) - 1, 0, 4) * rise)
    elif scene == "kerb":
        H = np.where(X >= 1.0, 0.15, 0.0)
    elif scene == "kerb_up_down":
        H = np.where((X >= 1.0) & (X < 2.0), 0.15, 0.0)
    elif scene == "bench":
        H = np.where((X <= -0.15) & (X >= -0.55) & (np.abs(Y) <= 0.6), 0.42, 0.0)
    elif scene == "rough":
        rng = np.random.default_rng(seed)
        noise = rng.uniform(-1, 1, X.shape)
        from scipy.ndimage import gaussian_filter

        H = gaussian_filter(noise, sigma=0.15 / res)
        H = 0.03 * H / max(np.abs(H).max(), 1e-9)
        H[np.hypot(X, Y) < 0.5] = 0.0
    else:
        raise TerrainError(
            f"unknown scene '{scene}': choose one of {', '.join(SCENES)} or give a heightfield file"
        )
    return Terrain(H, res, (X[0, 0], Y[0, 0]), scene)
