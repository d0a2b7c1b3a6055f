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

    resolution: float = 0.02  # m per cell (finer cells shrink the band of wrong heights at step edges)
    length: float = 6.0  # m, side of the window centred on the robot (remembers treads seen from afar)
    range_sigma: float = 0.02  # m, LiDAR range noise (MID-360: <= 2 cm)
    range_sigma_per_m: float = 0.002  # m per m of range (beam divergence / angular error)
    min_variance: float = 1e-6  # m^2, floor so a cell never becomes infinitely sure
    max_variance: float = 0.04**2  # m^2, cells less sure than this are cleared (unknown)
    mahalanobis_gate: float = 3.0  # sigmas
    multi_height_noise: float = 4e-4  # m^2 per gated point of a later scan (~4 such points clear a cell)
    odom_var_per_m: float = 0.005**2  # m^2 added to every cell per metre travelled
    odom_var_per_rad: float = 0.005**2  # m^2 per radian turned
    time_var_per_s: float = 1e-6  # m^2 per second (slow drift even when standing)
    max_age_s: float = 20.0  # s without an observation before a cell is cleared
    max_height_above_sensor: float = 0.1  # m, points higher than the LiDAR are ceilings, not ground
    hole_fill_max_spread: float = 0.04  # m, an unknown cell is filled from neighbours only if they agree
    occlusion_fill_max_gap: float = 0.16  # m, widest unknown run bridged by the occlusion fill (0: off)
    occlusion_fill_max_step: float = 0.25  # m, flanks further apart in height are not bridged (a drop)
    occlusion_fill_sigma: float = 0.03  # m, added (in quadrature) to an inferred cell's sigma

    def __post_init__(self) -> None:
        for name in (
            "resolution",
            "length",
            "range_sigma",
            "min_variance",
            "max_variance",
            "mahalanobis_gate",
            "max_age_s",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"elevation map {name} must be a positive number, got {v!r}")
        if not (
            self.occlusion_fill_max_gap >= 0
            and self.occlusion_fill_max_step >= 0
            and self.occlusion_fill_sigma >= 0
        ):
            raise ValueError("elevation map occlusion_fill_* must be numbers >= 0")
        if self.length / self.resolution > 2000:
            raise ValueError(
                f"elevation map of {self.length} m at {self.resolution} m is over 2000 cells a side"
            )

    @property
    def cells(self) -> int:
        return int(round(self.length / self.resolution))


@numba.njit(cache=True, nogil=True)
def _integrate(
    pts,
    keep,
    rot,
    trans,
    sensor,
    height,
    var,
    stamp,
    scan,
    gx0,
    gy0,
    res,
    scan_id,
    t,
    gate,
    mh_noise,
    min_var,
    z_max,
    sig2,
    sig_per_m2,
):  # pragma: no cover - compiled
    n_cells = height.shape[0]
    used = 0
    for k in range(pts.shape[0]):
        if not keep[k]:
            continue
        bx, by, bz = pts[k, 0], pts[k, 1], pts[k, 2]
        x = rot[0, 0] * bx + rot[0, 1] * by + rot[0, 2] * bz + trans[0]
        y = rot[1, 0] * bx + rot[1, 1] * by + rot[1, 2] * bz + trans[1]
        z = rot[2, 0] * bx + rot[2, 1] * by + rot[2, 2] * bz + trans[2]
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)) or z > z_max:
            continue
        gx = int(math.floor(x / res))
        gy = int(math.floor(y / res))
        if gx < gx0 or gx >= gx0 + n_cells or gy < gy0 or gy >= gy0 + n_cells:
            continue
        ix = gx % n_cells
        iy = gy % n_cells
        dx, dy, dz = x - sensor[0], y - sensor[1], z - sensor[2]
        pv = sig2 + sig_per_m2 * (dx * dx + dy * dy + dz * dz)
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


@numba.njit(cache=True, nogil=True)
def _expire(height, var, stamp, scan, max_var, min_stamp, add_var):  # pragma: no cover - compiled
    n = 0
    for iy in range(height.shape[0]):
        for ix in range(height.shape[1]):
            if math.isnan(height[iy, ix]):
                continue
            v = var[iy, ix] + add_var
            var[iy, ix] = v
            if v > max_var or stamp[iy, ix] < min_stamp:
                height[iy, ix] = np.nan
                var[iy, ix] = np.inf
                stamp[iy, ix] = -np.inf
                scan[iy, ix] = -1
                n += 1
    return n


@numba.njit(cache=True, nogil=True)
def _known(height, gx0, gy0, cx, cy):  # pragma: no cover - compiled
    n_cells = height.shape[0]
    if cx < gx0 or cx >= gx0 + n_cells or cy < gy0 or cy >= gy0 + n_cells:
        return np.nan
    return height[cy % n_cells, cx % n_cells]


@numba.njit(cache=True, nogil=True)
def _occlusion_fill(height, var, gx0, gy0, gx, gy, res, max_gap, max_step):  # pragma: no cover - compiled
    """Lower flank's height and variance across the shortest bounded unknown run through (gx, gy), or NaN.

    Along each of 4 lines (x, y, both diagonals) the first known cell on either side is looked for; the
    unknown run between them must be at most ``max_gap`` long and the flanks at most ``max_step`` apart.
    """
    n_cells = height.shape[0]
    best_gap, best_h, best_v = np.inf, np.nan, np.inf
    for d in range(4):
        ddx = 1 if d != 1 else 0
        ddy = 0 if d == 0 else (1 if d != 3 else -1)
        step = res * math.sqrt(ddx * ddx + ddy * ddy)
        max_n = int(max_gap / step) + 1
        hp, vp, np_ = np.nan, 0.0, 0
        for i in range(1, max_n + 1):
            h = _known(height, gx0, gy0, gx + i * ddx, gy + i * ddy)
            if not math.isnan(h):
                hp, vp, np_ = h, var[(gy + i * ddy) % n_cells, (gx + i * ddx) % n_cells], i
                break
        if math.isnan(hp):
            continue
        hm, vm, nm = np.nan, 0.0, 0
        for i in range(1, max_n + 1):
            h = _known(height, gx0, gy0, gx - i * ddx, gy - i * ddy)
            if not math.isnan(h):
                hm, vm, nm = h, var[(gy - i * ddy) % n_cells, (gx - i * ddx) % n_cells], i
                break
        if math.isnan(hm):
            continue
        gap = (np_ + nm - 1) * step
        if gap > max_gap or abs(hp - hm) > max_step or gap >= best_gap:
            continue
        best_gap = gap
        if hp <= hm:
            best_h, best_v = hp, vp + 0.25 * (hm - hp) ** 2
        else:
            best_h, best_v = hm, vm + 0.25 * (hp - hm) ** 2
    return best_h, best_v


@numba.njit(cache=True, nogil=True)
def _lookup(
    xs, ys, height, var, gx0, gy0, res, gate, max_spread, occ_gap, occ_step, occ_var
):  # pragma: no cover - compiled
    n_cells = height.shape[0]
    z = np.full(xs.shape[0], np.nan)
    sig = np.full(xs.shape[0], np.inf)
    valid = np.zeros(xs.shape[0], dtype=np.bool_)
    inferred = np.zeros(xs.shape[0], dtype=np.bool_)
    hs = np.empty(9)
    vs = np.empty(9)
    for k in range(xs.shape[0]):
        gx = int(math.floor(xs[k] / res))
        gy = int(math.floor(ys[k] / res))
        m = 0
        h0, v0, ok0 = 0.0, 0.0, False
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                cx, cy = gx + dx, gy + dy
                if cx < gx0 or cx >= gx0 + n_cells or cy < gy0 or cy >= gy0 + n_cells:
                    continue
                h = height[cy % n_cells, cx % n_cells]
                if math.isnan(h):
                    continue
                if dx == 0 and dy == 0:
                    h0, v0, ok0 = h, var[cy % n_cells, cx % n_cells], True
                hs[m] = h
                vs[m] = var[cy % n_cells, cx % n_cells]
                m += 1
        usable = m > 0
        if usable and not ok0:
            lo, hi = hs[0], hs[0]
            for i in range(m):
                lo, hi = min(lo, hs[i]), max(hi, hs[i])
            usable = hi - lo <= max_spread
        if not usable:
            if occ_gap > 0.0:
                h, v = _occlusion_fill(height, var, gx0, gy0, gx, gy, res, occ_gap, occ_step)
                if not math.isnan(h):
                    z[k], sig[k], valid[k], inferred[k] = h, math.sqrt(v + occ_var), True, True
            continue
        wsum, acc = 0.0, 0.0
        for i in range(m):
            if ok0 and abs(hs[i] - h0) > gate * math.sqrt(vs[i] + v0):
                continue
            w = 1.0 / max(vs[i], 1e-12)
            wsum += w
            acc += w * hs[i]
        if wsum > 0.0:
            z[k] = acc / wsum
            sig[k] = math.sqrt(1.0 / wsum)
            valid[k] = True
    return z, sig, valid, inferred


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
        self._pending_var = 0.0

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
        """Odometry and time uncertainty: every cell was registered with a pose that is now less certain.

        The variance is added at the next ``expire`` (one pass over the grid instead of two).
        """
        c = self.config
        self._pending_var += (
            c.odom_var_per_m * abs(moved_m)
            + c.odom_var_per_rad * abs(turned_rad)
            + c.time_var_per_s * max(dt, 0.0)
        )

    def integrate(
        self,
        points: np.ndarray,
        sensor_pos: np.ndarray,
        t: float,
        rotation: np.ndarray | None = None,
        translation: np.ndarray | None = None,
        keep: np.ndarray | None = None,
    ) -> int:
        """Fuse points (N, 3) measured from ``sensor_pos`` (map frame) at time ``t``; returns points used.

        Points are ``rotation @ p + translation`` in the map frame (identity when omitted), so a body-frame
        scan is registered inside the kernel without a temporary copy; ``keep`` (N,) bool skips points (e.g.
        the robot's body). Non-finite points are skipped. Call ``recenter`` first so the points fall in the
        window.
        """
        c = self.config
        pts = np.asarray(points)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points must be (N, 3), got {pts.shape}")
        rot = np.eye(3) if rotation is None else np.ascontiguousarray(rotation, dtype=np.float64)
        trans = np.zeros(3) if translation is None else np.ascontiguousarray(translation, dtype=np.float64)
        keep = np.ones(len(pts), dtype=np.bool_) if keep is None else np.asarray(keep, dtype=np.bool_)
        if keep.shape != (len(pts),) or rot.shape != (3, 3) or trans.shape != (3,):
            raise ValueError("integrate: keep must be (N,), rotation (3, 3) and translation (3,)")
        sensor = np.ascontiguousarray(sensor_pos, dtype=np.float64)
        self.scan_count += 1
        self.time = max(self.time, t)
        used = _integrate(
            pts,
            keep,
            rot,
            trans,
            sensor,
            self.height,
            self.variance,
            self.stamp,
            self.scan,
            self.origin_index[0],
            self.origin_index[1],
            c.resolution,
            self.scan_count,
            float(t),
            c.mahalanobis_gate,
            c.multi_height_noise,
            c.min_variance,
            float(sensor[2] + c.max_height_above_sensor),
            c.range_sigma**2,
            c.range_sigma_per_m**2,
        )
        self.expire(t)
        return int(used)

    def expire(self, now: float) -> None:
        """Apply the pending uncertainty; clear cells that are too uncertain or too old."""
        c = self.config
        _expire(
            self.height,
            self.variance,
            self.stamp,
            self.scan,
            c.max_variance,
            now - c.max_age_s,
            self._pending_var,
        )
        self._pending_var = 0.0

    # ---- queries --------------------------------------------------------------------------------
    def height_fn(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``height_fn`` for ``sample_heightmap``: an edge-preserving average around each point's cell.

        The cell's 3 x 3 neighbourhood is averaged with inverse-variance weights, but only neighbours that
        agree with the centre cell within the Mahalanobis gate take part: on flat ground this averages the
        noise of sparsely hit cells, at a step edge the other level is left out so the edge stays sharp. An
        unknown centre cell takes the same average over its known neighbours if they agree within
        ``hole_fill_max_spread`` (closes one-cell gaps of a sparse scan, never more, never across an edge).
        Otherwise the occlusion fill of ``lookup`` may bridge a narrow shadow; else the point is unknown.
        """
        z, _sigma, valid, _inferred = self.lookup(xy)
        return z, valid

    def lookup(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(height, sigma, valid, inferred)`` at each point (...), the rule of ``height_fn`` plus the
        occlusion fill.

        Occlusion fill (why): the head LiDAR never sees the strip of a lower tread right behind a step nose
        (walking down stairs, a kerb), nor, once it is close, the ground there at all; that strip stays
        unknown for good. A point whose neighbourhood is unknown is filled when, along one of 4 lines (x, y,
        both diagonals), the unknown run through it is at most ``occlusion_fill_max_gap`` long and its two
        known flanks are at most ``occlusion_fill_max_step`` apart in height; it gets the LOWER flank's
        height (the hidden ground of a shadow is the lower level) and ``inferred = True``, with sigma = the
        flank's sigma + half the flank difference + ``occlusion_fill_sigma`` in quadrature. Wider holes,
        bigger drops and holes open on one side stay unknown. Limit: something lower than the sight line
        (at most the step height, right at the nose) could hide in the shadow; consumers see the flag.
        """
        xy = np.asarray(xy, dtype=np.float64)
        flat = xy.reshape(-1, 2)
        c = self.config
        z, sig, valid, inferred = _lookup(
            np.ascontiguousarray(flat[:, 0]),
            np.ascontiguousarray(flat[:, 1]),
            self.height,
            self.variance,
            self.origin_index[0],
            self.origin_index[1],
            c.resolution,
            c.mahalanobis_gate,
            c.hole_fill_max_spread,
            c.occlusion_fill_max_gap,
            c.occlusion_fill_max_step,
            c.occlusion_fill_sigma**2,
        )
        shape = xy.shape[:-1]
        return z.reshape(shape), sig.reshape(shape), valid.reshape(shape), inferred.reshape(shape)

    def cells_xyz(self) -> tuple[np.ndarray, np.ndarray]:
        """Known cells as (M, 3) centre points (map frame) and their variances, for visualisation."""
        n, res = self.config.cells, self.config.resolution
        iy, ix = np.nonzero(~np.isnan(self.height))
        gx = self.origin_index[0] + (ix - self.origin_index[0]) % n
        gy = self.origin_index[1] + (iy - self.origin_index[1]) % n
        xyz = np.column_stack([(gx + 0.5) * res, (gy + 0.5) * res, self.height[iy, ix]])
        return xyz, self.variance[iy, ix]
