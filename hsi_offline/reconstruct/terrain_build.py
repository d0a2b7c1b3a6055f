"""Simulation-ready terrain: a `hsi_kernel.terrain.Terrain` heightfield (+ an open3d mesh for viewing).

Two sources: support surfaces inferred from the body (static camera) and scene points (depth importers,
SfM), filtered as VideoMimic does (crop around the body, voxel cap), rasterised and hole-filled. MuJoCo
collides meshes as convex hulls, so the heightfield - not the mesh - is what the simulator uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.path import Path as MplPath
from scipy.ndimage import distance_transform_edt, median_filter
from scipy.spatial import cKDTree

from hsi_kernel.atomic import atomic_path
from hsi_kernel.heightmap.sampler import DEFAULT_SPEC
from hsi_kernel.terrain import Terrain
from hsi_offline.reconstruct.scene import Supports


def _grid(xy: np.ndarray, margin: float, res: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    lo = np.floor((xy.min(axis=0) - margin) / res) * res
    hi = xy.max(axis=0) + margin
    nx, ny = int(np.ceil((hi[0] - lo[0]) / res)) + 1, int(np.ceil((hi[1] - lo[1]) / res)) + 1
    X, Y = np.meshgrid(lo[0] + np.arange(nx) * res, lo[1] + np.arange(ny) * res)
    return X, Y, (float(lo[0]), float(lo[1]))


def policy_view_reach(foot_offset: float = 0.1) -> float:
    """How far beside a footprint the terrain must be plausible: the policy's heightmap grid reaches
    (size-1)/2 x resolution to the side of the torso (VideoMimic: 0.5 m), and a foot is ~0.1 m off the torso.

    With a static camera the body shows only where it stood; a support surface is continued sideways this far
    (nearest footprint) rather than dropped to ground level, which put a fake trench 0.35 m beside every stair
    tread inside the window the policy sees (synthetic benchmark, stairs: Chamfer 8-11 cm -> 4-7 cm).
    """
    return (DEFAULT_SPEC.size - 1) / 2 * DEFAULT_SPEC.resolution + foot_offset


def terrain_from_supports(
    sup: Supports,
    body_xy: np.ndarray,
    res: float = 0.04,
    margin: float = 1.0,
    reach: float | None = None,
    name: str = "reconstruction",
) -> Terrain:
    """Heightfield: each cell within `reach` of a footprint takes the nearest footprint's height, the rest is
    ground; seats are raised boxes. Nearest-footprint boundaries fall midway between treads, near the risers;
    along a path they are strips across it, so a tread or kerb continues sideways (`reach` defaults to
    `policy_view_reach()`).
    """
    reach = policy_view_reach() if reach is None else reach
    if not (0.005 <= res <= 0.2):
        raise ValueError(f"terrain resolution {res} m outside 0.005..0.2")
    X, Y, origin = _grid(body_xy, margin, res)
    H = np.full(X.shape, sup.ground)
    if sup.footprints:
        pts = np.concatenate([f.xy for f in sup.footprints])
        hts = np.concatenate([np.full(len(f.xy), f.height) for f in sup.footprints])
        d, i = cKDTree(pts).query(np.stack([X.ravel(), Y.ravel()], 1), k=1)
        near = (d < reach).reshape(X.shape)
        H = np.where(near, hts[i].reshape(X.shape), H)
        H = median_filter(H, size=3, mode="nearest")
    for seat in sup.seats:
        poly = seat.polygon
        c = poly.mean(axis=0)
        # convex hull of the seat points, grown by 6 cm
        from scipy.spatial import ConvexHull

        try:
            hull = poly[ConvexHull(poly).vertices]
        except Exception:
            hull = poly
        grown = c + (hull - c) * (1.0 + 0.06 / max(np.linalg.norm(hull - c, axis=1).min(), 0.05))
        inside = MplPath(grown).contains_points(np.stack([X.ravel(), Y.ravel()], 1)).reshape(X.shape)
        H = np.where(inside, np.maximum(H, seat.height), H)
    return Terrain(H, res, origin, name)


def filter_scene_points(
    points: np.ndarray,
    body: np.ndarray,
    crop: float = 2.0,
    voxel: float = 0.1,
    per_voxel: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """VideoMimic's point filter: keep points within +-crop (xy) of any body joint, at most `per_voxel` points
    in each `voxel`-sized cube (random subset)."""
    pts = np.asarray(points, dtype=np.float64)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if len(pts) == 0:
        return pts
    lo, hi = body[..., :2].reshape(-1, 2).min(0) - crop, body[..., :2].reshape(-1, 2).max(0) + crop
    pts = pts[np.all((pts[:, :2] >= lo) & (pts[:, :2] <= hi), axis=1)]
    d, _ = cKDTree(body[..., :2].reshape(-1, 2)[:: max(1, body.size // 3 // 20000)]).query(pts[:, :2], k=1)
    pts = pts[d <= crop]
    key = np.floor(pts / voxel).astype(np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(pts))
    key, pts = key[perm], pts[perm]
    _, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    rank = np.empty(len(inv), dtype=np.int64)
    sorted_inv = inv[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_inv)) + 1]
    rank[order] = np.arange(len(inv)) - np.repeat(starts, np.diff(np.r_[starts, len(inv)]))
    return pts[rank < per_voxel]


def terrain_from_points(
    points: np.ndarray,
    body_xy: np.ndarray,
    ground: float,
    res: float = 0.04,
    margin: float = 1.0,
    name: str = "reconstruction",
) -> Terrain:
    """Rasterise points (world, +z up) to the top surface per cell (85th percentile), fill holes from the
    nearest filled cell, and fall back to the ground level far from any point."""
    X, Y, origin = _grid(body_xy, margin, res)
    H = np.full(X.shape, np.nan)
    if len(points):
        i = np.round((points[:, 0] - origin[0]) / res).astype(int)
        j = np.round((points[:, 1] - origin[1]) / res).astype(int)
        ok = (i >= 0) & (i < X.shape[1]) & (j >= 0) & (j < X.shape[0])
        i, j, z = i[ok], j[ok], points[ok, 2]
        cell = j * X.shape[1] + i
        order = np.lexsort((z, cell))
        cell, z = cell[order], z[order]
        starts = np.r_[0, np.flatnonzero(np.diff(cell)) + 1]
        counts = np.diff(np.r_[starts, len(cell)])
        pick = starts + np.floor(0.85 * (counts - 1)).astype(int)
        H.ravel()[cell[pick]] = z[pick]
    empty = ~np.isfinite(H)
    if empty.all():
        return Terrain(np.full(X.shape, ground), res, origin, name)
    dist, (jj, ii) = distance_transform_edt(empty, return_indices=True)
    filled = H[jj, ii]
    H = np.where(dist * res <= 0.5, filled, ground)
    return Terrain(median_filter(H, size=3, mode="nearest"), res, origin, name)


def save_terrain_mesh(terrain: Terrain, path: str | Path) -> Path:
    """Triangle mesh of the heightfield (same diagonal split as MuJoCo) written with open3d, atomically."""
    import open3d as o3d

    ny, nx = terrain.shape
    xs = terrain.origin[0] + np.arange(nx) * terrain.resolution
    ys = terrain.origin[1] + np.arange(ny) * terrain.resolution
    X, Y = np.meshgrid(xs, ys)
    V = np.stack([X.ravel(), Y.ravel(), terrain.heights.ravel()], 1)
    idx = np.arange(nx * ny).reshape(ny, nx)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    F = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(V), o3d.utility.Vector3iVector(F))
    mesh.compute_vertex_normals()
    path = Path(path)
    with atomic_path(path, ".ply") as tmp:
        if not o3d.io.write_triangle_mesh(str(tmp), mesh):
            raise OSError(f"open3d could not write '{path}'")
    return path
