"""Robot-centric rolling elevation map: per-cell height + variance, fused from registered LiDAR points.

Why each piece exists:
- Rolling window: the robot only needs the ground within a few metres, and a fixed-size grid keeps the update
  cost constant. Cells are stored at ``global index mod N`` so moving the window clears the columns/rows that
  left instead of copying the whole grid.
- Kalman height + variance per cell, with Mahalanobis gating: noise averages out, and a point far from the
  estimate is not averaged in. Within ONE scan a point well above the estimate replaces it (keep the per-scan
  maximum: the top of a step or a bench wins over its riser/side) and points well below are ignored; a gated
  point from a LATER scan instead inflates the variance, so a real change (or a drifted cell) is re-learnt
  after a few scans rather than never. This is the ANYbotics elevation_mapping rule, re-implemented.
- Odometry uncertainty: every metre/radian the odometry moves and every second that passes adds variance to
  all cells (they were registered with an older, drifting pose). Cells whose variance passes
  ``max_variance`` or that were not seen for ``max_age_s`` are cleared: the map says "unknown" rather than
  keep a confident wrong height.
- The hot loop is one numba kernel over the points (sequential per-point updates are what the gating rule
  needs; numpy cannot express them without a sort).
Unknown cells are NaN; ``height_fn`` reports them invalid and ``sample_heightmap`` uses the policy's fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class ElevationMapConfig:
    """Map parameters (defaults sized for the G1's MID-360 and the 11 x 11 policy grid)."""

    resolution: float = 0.04  # m per cell
    length: float = 6.0  # m, side of the square window centred on the robot
    range_sigma: float = 0.02  # m, LiDAR range noise (MID-360: <= 2 cm)
    range_sigma_per_m: float = 0.002  # m per m of range (beam divergence / angular error)
    min_variance: float = 1e-6  # m^2, floor so a cell never becomes infinitely sure
    max_variance: float = 0.04**2  # m^2, cells less sure than this are cleared (unknown)
    mahalanobis_gate: float = 3.0  # sigmas
    multi_height_noise: float = 4e-5  # m^2 added per gated point from a later scan
    odom_var_per_m: float = 0.005**2  # m^2 added to every cell per metre travelled
    odom_var_per_rad: float = 0.005**2  # m^2 per radian turned
    time_var_per_s: float = 1e-6  # m^2 per second (slow drift even when standing)
    max_age_s: float = 20.0  # s without an observation before a cell is cleared
    max_height_above_sensor: float = 0.1  # m, points higher than the LiDAR are ceilings, not ground

    def __post_init__(self) -> None:
        for name in ("resolution", "length", "range_sigma", "min_variance", "max_variance",
                     "mahalanobis_gate", "max_age_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"elevation map {name} must be a positive number, got {v!r}")
        if self.length / self.resolution > 2000:
            raise ValueError(f"elevation map of {self.length} m at {self.resolution} m is over 2000 cells "
                             "a side")

    @property
    def cells(self) -> int:
        return int(round(self.length / self.resolution))


@numba.njit(cache=True, nogil=True)
def _integrate(pts, pvar, height, var, stamp, scan, gx0, gy0, res, scan_id, t, gate, mh_noise,
               min_var, z_max):  # pragma: no cover - compiled
    n_cells = height.shape[0]
    used = 0
    for k in range(pts.shape[0]):
        x, y, z = pts[k, 0], pts[k, 1], pts[k, 2]
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)) or z > z_max:
            continue
        gx = int(math.floor(x / res))
        gy = int(math.floor(y / res))
        if gx < gx0 or gx >= gx0 + n_cells or gy < gy0 or gy >= gy0 + n_cells:
            continue
        ix = gx % n_cells
        iy = gy % n_cells
        pv = pvar[k]
        h = height[iy, ix]
        used += 1
        if math.isnan(h):
            height[iy, ix] = z
            var[iy, ix] = pv
        else:
            v = var[iy, ix]
            if abs(z - h) > gate * math.sqrt(v + pv):
                if scan[iy, ix] == scan_id:
                    if z > h:  # keep the per-scan maximum
                        height[iy, ix] = z
                        var[iy, ix] = pv
                    else:
                        continue
                else:
                    var[iy, ix] = v + mh_noise
                    continue
            else:
                height[iy, ix] = (v * z + pv * h) / (v + pv)
                var[iy, ix] = max(v * pv / (v + pv), min_var)
        stamp[iy, ix] = t
        scan[iy, ix] = scan_id
    return used


class ElevationMap:
    """The fused map in the odometry (map) frame; z up. Not thread-safe: the node serialises calls."""

    def __init__(self, config: ElevationMapConfig | None = None):
        self.config = config or ElevationMapConfig()
        n = self.config.cells
        self.height = np.full((n, n), np.nan)  # [iy, ix] storage (global index mod n)
        self.variance = np.full((n, n), np.inf)
        self.stamp = np.full((n, n), -np.inf)
        self.scan = np.full((n, n), -1, dtype=np.int64)
        self.origin_index = (-(n // 2), -(n // 2))  # global index of the window's lower corner
        self.scan_count = 0
        self.time = -np.inf

    # ---- window ---------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget everything (odometry jump, reset)."""
        self.height[:] = np.nan
        self.variance[:] = np.inf
        self.stamp[:] = -np.inf
        self.scan[:] = -1

    def _clear_cells(self, rows: np.ndarray | slice, cols: np.ndarray | slice) -> None:
        self.height[rows, cols] = np.nan
        self.variance[rows, cols] = np.inf
        self.stamp[rows, cols] = -np.inf
        self.scan[rows, cols] = -1

    def recenter(self, x: float, y: float) -> None:
        """Move the window so (x, y) is at its centre; cells that leave are cleared."""
        n, res = self.config.cells, self.config.resolution
        new = (int(math.floor(x / res)) - n // 2, int(math.floor(y / res)) - n // 2)
        old = self.origin_index
        for axis in (0, 1):
            d = new[axis] - old[axis]
            if d == 0:
                continue
            if abs(d) >= n:
                self.clear()
                break
            gone = np.arange(old[axis], new[axis]) if d > 0 else np.arange(new[axis] + n, old[axis] + n)
            idx = gone % n
            if axis == 0:
                self._clear_cells(slice(None), idx)
            else:
                self._clear_cells(idx, slice(None))
        self.origin_index = new

    # ---- updates --------------------------------------------------------------------------------
    def propagate(self, moved_m: float, turned_rad: float, dt: float) -> None:
        """Odometry and time uncertainty: every cell was registered with a pose that is now less certain."""
        c = self.config
        add = (c.odom_var_per_m * abs(moved_m) + c.odom_var_per_rad * abs(turned_rad)
               + c.time_var_per_s * max(dt, 0.0))
        if add > 0:
            self.variance += add

    def integrate(self, points: np.ndarray, sensor_pos: np.ndarray, t: float) -> int:
        """Fuse registered points (N, 3) measured from ``sensor_pos`` at time ``t``; returns points used.

        Call ``recenter`` first (the node does it with the robot position) so the points fall in the window.
        """
        c = self.config
        pts = np.asarray(points)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points must be (N, 3), got {pts.shape}")
        sensor_pos = np.asarray(sensor_pos, dtype=np.float64)
        rng = np.sqrt(np.sum((pts - sensor_pos.astype(pts.dtype)) ** 2, axis=1, dtype=np.float64))
        pvar = c.range_sigma**2 + (c.range_sigma_per_m * rng) ** 2
        self.scan_count += 1
        self.time = max(self.time, t)
        used = _integrate(pts, pvar, self.height, self.variance, self.stamp, self.scan,
                          self.origin_index[0], self.origin_index[1], c.resolution, self.scan_count, float(t),
                          c.mahalanobis_gate, c.multi_height_noise, c.min_variance,
                          float(sensor_pos[2] + c.max_height_above_sensor))
        self.expire(t)
        return int(used)

    def expire(self, now: float) -> None:
        """Clear cells that are too uncertain or too old."""
        c = self.config
        bad = (self.variance > c.max_variance) | (self.stamp < now - c.max_age_s)
        bad &= ~np.isnan(self.height)
        if bad.any():
            self._clear_cells(*np.nonzero(bad))

    # ---- queries --------------------------------------------------------------------------------
    def _lookup(self, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.config.cells
        inside = (gx >= self.origin_index[0]) & (gx < self.origin_index[0] + n) & \
                 (gy >= self.origin_index[1]) & (gy < self.origin_index[1] + n)
        h = self.height[gy % n, gx % n]
        ok = inside & ~np.isnan(h)
        return np.where(ok, h, np.nan), ok

    def height_fn(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``height_fn`` for ``sample_heightmap``: the cell under each point; if that cell is unknown, the
        mean of the known cells among its 8 neighbours (closes one-cell gaps of a sparse scan); else unknown."""
        xy = np.asarray(xy, dtype=np.float64)
        res = self.config.resolution
        gx = np.floor(xy[..., 0] / res).astype(np.int64)
        gy = np.floor(xy[..., 1] / res).astype(np.int64)
        h, ok = self._lookup(gx, gy)
        if ok.all():
            return h, ok
        d = np.array([-1, 0, 1])
        nx, ny = np.broadcast_arrays(gx[..., None, None] + d[None, :], gy[..., None, None] + d[:, None])
        hn, okn = self._lookup(nx, ny)
        cnt = okn.sum(axis=(-1, -2))
        mean = np.where(okn, hn, 0.0).sum(axis=(-1, -2)) / np.maximum(cnt, 1)
        fill = ~ok & (cnt > 0)
        return np.where(ok, h, np.where(fill, mean, np.nan)), ok | fill

    def cells_xyz(self) -> tuple[np.ndarray, np.ndarray]:
        """Known cells as (M, 3) centre points (map frame) and their variances, for visualisation."""
        n, res = self.config.cells, self.config.resolution
        iy, ix = np.nonzero(~np.isnan(self.height))
        gx = self.origin_index[0] + (ix - self.origin_index[0]) % n
        gy = self.origin_index[1] + (iy - self.origin_index[1]) % n
        xyz = np.column_stack([(gx + 0.5) * res, (gy + 0.5) * res, self.height[iy, ix]])
        return xyz, self.variance[iy, ix]
