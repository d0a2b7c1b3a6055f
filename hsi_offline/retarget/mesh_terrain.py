"""Triangle meshes (OBJ) -> a terrain heightfield: the top surface of the meshes over a flat ground.

Why: motion-capture scenes ship their obstacles as meshes (holosoma's box-climbing sequences: one OBJ per
box), while retargeting, the simulator and the policy's heightmap all read ``Terrain`` heightfields. A
heightfield keeps the highest surface under each grid point, which is exact for boxes and steps (anything
the feet can stand on) and cannot represent overhangs (none in these scenes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_kernel.terrain import Terrain


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V,3) and triangles (F,3, 0-based) of a Wavefront OBJ; polygons are fanned into triangles."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mesh '{path}' does not exist")
    verts: list[list[float]] = []
    faces: list[list[int]] = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "v":
                verts.append([float(x) for x in parts[1:4]])
            elif parts[0] == "f":
                idx = [int(p.split("/")[0]) for p in parts[1:]]
                idx = [i - 1 if i > 0 else len(verts) + i for i in idx]  # OBJ: 1-based, negative = relative
                faces += [[idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1)]
        except ValueError:
            raise ValueError(f"mesh '{path}' line {n}: cannot parse '{line.strip()}'") from None
    v = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(v) == 0 or len(f) == 0:
        raise ValueError(f"mesh '{path}' has no vertices or no faces")
    if f.min() < 0 or f.max() >= len(v) or not np.all(np.isfinite(v)):
        raise ValueError(f"mesh '{path}': face index out of range or non-finite vertex")
    return v, f


def rasterise_top(
    heights: np.ndarray, origin: tuple[float, float], res: float, verts: np.ndarray, faces: np.ndarray
) -> np.ndarray:
    """Raise ``heights`` (ny,nx) to every triangle's height at the grid points it covers (max), in place."""
    ny, nx = heights.shape
    for tri in verts[faces]:
        (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = tri
        det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
        if abs(det) < 1e-12:  # vertical (or degenerate) in plan view: its top edge is another face's edge
            continue
        i0 = max(int(np.floor((tri[:, 0].min() - origin[0]) / res)), 0)
        i1 = min(int(np.ceil((tri[:, 0].max() - origin[0]) / res)), nx - 1)
        j0 = max(int(np.floor((tri[:, 1].min() - origin[1]) / res)), 0)
        j1 = min(int(np.ceil((tri[:, 1].max() - origin[1]) / res)), ny - 1)
        if i1 < i0 or j1 < j0:
            continue
        X, Y = np.meshgrid(origin[0] + res * np.arange(i0, i1 + 1), origin[1] + res * np.arange(j0, j1 + 1))
        a = ((y1 - y2) * (X - x2) + (x2 - x1) * (Y - y2)) / det
        b = ((y2 - y0) * (X - x2) + (x0 - x2) * (Y - y2)) / det
        c = 1.0 - a - b
        inside = (a >= -1e-9) & (b >= -1e-9) & (c >= -1e-9)
        z = a * z0 + b * z1 + c * z2
        block = heights[j0 : j1 + 1, i0 : i1 + 1]
        block[inside] = np.maximum(block[inside], z[inside])
    return heights


def terrain_from_meshes(
    meshes: list[tuple[np.ndarray, np.ndarray]],
    cover_xy: np.ndarray,
    res: float = 0.02,
    margin: float = 1.0,
    ground: float = 0.0,
    name: str = "meshes",
) -> Terrain:
    """Heightfield at ``res`` covering ``cover_xy`` (N,2 points, e.g. the motion's joints) plus ``margin``
    metres, flat at ``ground`` except where a mesh's top surface is higher. Meshes are cut to that area (a
    scene's 20 m floor slab does not make a 20 m heightfield)."""
    cover = np.asarray(cover_xy, dtype=np.float64).reshape(-1, 2)
    if len(cover) == 0 or not np.all(np.isfinite(cover)):
        raise ValueError(f"terrain '{name}': no (finite) points to cover")
    lo, hi = cover.min(axis=0) - margin, cover.max(axis=0) + margin
    nx, ny = (np.ceil((hi - lo) / res).astype(int) + 1).tolist()
    heights = np.full((ny, nx), float(ground))
    origin = (float(lo[0]), float(lo[1]))
    for v, f in meshes:
        rasterise_top(heights, origin, res, v, f)
    return Terrain(heights, res, origin, name)
