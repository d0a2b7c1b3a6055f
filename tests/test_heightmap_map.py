"""Elevation map: Kalman fusion, gating rules, rolling window, ageing, and training == onboard grids."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_kernel.heightmap.sampler import grid_offsets, sample_heightmap, terrain_height_fn
from hsi_kernel.terrain import make_scene_terrain
from hsi_robot_nodes.heightmap.elevation_map import ElevationMap, ElevationMapConfig

SENSOR = np.array([0.0, 0.0, 1.2])


def _patch(x: float, y: float, z: np.ndarray | float, n: int = 1) -> np.ndarray:
    """n points at the centre of the cell containing (x, y)."""
    return np.column_stack([np.full(n, x), np.full(n, y), np.broadcast_to(z, (n,))])


def test_kalman_fusion_averages_noise_and_shrinks_variance():
    m = ElevationMap()
    rng = np.random.default_rng(0)
    z = 0.3 + rng.normal(0, 0.02, 400)
    m.integrate(_patch(0.51, 0.51, z, 400), SENSOR, 0.0)
    h, ok = m.height_fn(np.array([[0.51, 0.51]]))
    assert ok[0] and h[0] == pytest.approx(0.3, abs=0.006)
    iy = ix = int(np.floor(0.51 / m.config.resolution)) % m.config.cells
    assert m.variance[iy, ix] < 0.02**2 / 50


def test_per_scan_maximum_and_later_scans_relearn():
    cfg = ElevationMapConfig()
    m = ElevationMap(cfg)
    # one scan: the floor, then points 0.3 m higher (a step top) win; lower points after them are ignored
    m.integrate(
        np.vstack([_patch(0.5, 0.5, 0.0, 5), _patch(0.5, 0.5, 0.3, 5), _patch(0.5, 0.5, 0.0, 5)]), SENSOR, 0.0
    )
    assert m.height_fn(np.array([[0.5, 0.5]]))[0][0] == pytest.approx(0.3, abs=1e-6)
    # later scans that keep seeing 0.0 inflate the variance until the floor is accepted again
    for k in range(1, 30):
        m.integrate(_patch(0.5, 0.5, 0.0, 20), SENSOR, 0.1 * k)
        if abs(m.height_fn(np.array([[0.5, 0.5]]))[0][0]) < 0.05:
            break
    else:
        pytest.fail("the map never re-learnt the changed cell")


def test_rolling_window_clears_cells_that_leave():
    m = ElevationMap(ElevationMapConfig(resolution=0.1, length=2.0))
    m.integrate(_patch(-0.95, 0.0, 0.1), SENSOR, 0.0)
    assert m.height_fn(np.array([[-0.95, 0.0]]))[1][0]
    m.recenter(0.5, 0.0)  # the cell at x=-0.95 is now outside [-0.5, 1.5)
    assert not m.height_fn(np.array([[-0.95, 0.0]]))[1][0]
    m.recenter(0.0, 0.0)  # and does not come back when the window returns
    assert not m.height_fn(np.array([[-0.95, 0.0]]))[1][0]
    m.integrate(_patch(1.45, 0.0, 0.2), SENSOR, 0.1)  # outside the window: dropped
    assert not m.height_fn(np.array([[1.45, 0.0]]))[1][0]


def test_odometry_uncertainty_and_age_clear_cells():
    cfg = ElevationMapConfig(max_age_s=5.0)
    m = ElevationMap(cfg)
    m.integrate(_patch(0.3, 0.3, 0.0, 50), SENSOR, 0.0)
    iy = ix = int(np.floor(0.3 / cfg.resolution)) % cfg.cells
    v0 = m.variance[iy, ix]
    m.propagate(moved_m=1.0, turned_rad=0.5, dt=0.1)
    m.expire(1.0)  # applies the accumulated uncertainty
    assert m.variance[iy, ix] == pytest.approx(
        v0 + cfg.odom_var_per_m + 0.5 * cfg.odom_var_per_rad + 0.1 * cfg.time_var_per_s
    )
    assert m.height_fn(np.array([[0.3, 0.3]]))[1][0]
    m.propagate(moved_m=200.0, turned_rad=0.0, dt=0.0)  # drifted far: no longer trusted
    m.expire(1.0)
    assert not m.height_fn(np.array([[0.3, 0.3]]))[1][0]
    m.integrate(_patch(0.3, 0.3, 0.0, 5), SENSOR, 2.0)
    m.expire(6.9)
    assert m.height_fn(np.array([[0.3, 0.3]]))[1][0]
    m.expire(7.1)  # not seen for more than max_age_s
    assert not m.height_fn(np.array([[0.3, 0.3]]))[1][0]


def test_non_finite_and_ceiling_points_are_ignored():
    m = ElevationMap()
    pts = np.array([[0.2, 0.2, np.nan], [np.inf, 0.0, 0.0], [0.4, 0.4, 2.0], [0.6, 0.6, 0.1]])
    assert m.integrate(pts, SENSOR, 0.0) == 1
    assert not m.height_fn(np.array([[0.4, 0.4]]))[1][0]
    with pytest.raises(ValueError, match="points must be"):
        m.integrate(np.zeros((3, 2)), SENSOR, 0.0)


def _dense_cloud(terrain, centre, half=1.2, step=0.005):
    xs = np.arange(centre[0] - half, centre[0] + half, step)
    ys = np.arange(centre[1] - half, centre[1] + half, step)
    X, Y = np.meshgrid(xs, ys)
    xy = np.column_stack([X.ravel(), Y.ravel()])
    return np.column_stack([xy, terrain.height_at(xy)])


@pytest.mark.parametrize("scene", ["flat", "rough", "stairs"])
def test_training_and_onboard_grids_are_identical(scene):
    """The sampler on the true Terrain (training) and on a map built from a dense exact cloud (onboard)."""
    terrain = make_scene_terrain(scene)
    rng = np.random.default_rng(1)
    m = ElevationMap()
    for k in range(4):
        pos = np.array([rng.uniform(0.5, 3.5), rng.uniform(-0.5, 0.5), 1.0])
        yaw = np.array(rng.uniform(-np.pi, np.pi))
        m.clear()
        m.recenter(pos[0], pos[1])
        m.integrate(_dense_cloud(terrain, pos), pos + [0, 0, 0.3], float(k))
        train, tvalid = sample_heightmap(terrain_height_fn(terrain), pos, yaw)
        onboard, ovalid = sample_heightmap(m.height_fn, pos, yaw)
        np.testing.assert_array_equal(ovalid, tvalid)
        assert ovalid.all()
        # a grid cell cannot represent a step edge finer than its size: compare away from the edges
        xy = grid_offsets() @ np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]]) + pos[:2]
        near = np.zeros(len(xy), bool)
        for d in (-0.045, 0.045):
            for e in (-0.045, 0.045):
                near |= np.abs(terrain.height_at(xy + [d, e]) - terrain.height_at(xy)) > 1e-6
        smooth = ~near if scene == "stairs" else np.ones(len(xy), bool)
        assert smooth.sum() > 60
        tol = 0.004 if scene == "rough" else 1e-6  # rough: curvature inside a 2 cm cell
        np.testing.assert_allclose(onboard[smooth], train[smooth], atol=tol)


def _step_map(
    gap: tuple[float, float],
    upper: float = 0.15,
    cfg: ElevationMapConfig | None = None,
    far_side: bool = True,
) -> ElevationMap:
    """An upper tread (x < gap[0]) and, if ``far_side``, a lower tread at 0 (x >= gap[1]), |y| < 0.3; the
    strip between them never observed (the shadow behind a step nose)."""
    m = ElevationMap(cfg or ElevationMapConfig())
    r = m.config.resolution
    xs = np.arange(-0.4, 1.0, r) + r / 2
    ys = np.arange(-0.3, 0.3, r) + r / 2
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    keep = (gx < gap[0]) | ((gx >= gap[1]) & far_side)
    gz = np.where(gx < gap[0], upper, 0.0)
    m.integrate(np.column_stack([gx[keep], gy[keep], gz[keep]]), SENSOR, 0.0)
    return m


def test_occlusion_fill_bridges_a_narrow_shadow_with_the_lower_flank():
    m = _step_map((0.40, 0.52))
    pts = np.array([[0.43, 0.0], [0.47, 0.1], [0.49, -0.1], [0.2, 0.0], [0.7, 0.0]])  # gap: 0.40-0.52
    z, sigma, valid, inferred = m.lookup(pts)
    assert valid.all()
    np.testing.assert_allclose(z[:3], 0.0, atol=1e-9)  # the lower tread, not the nose
    assert inferred[:3].all() and not inferred[3:].any()
    assert (sigma[:3] > 0.075).all()  # half the 0.15 m step + 3 cm, in quadrature: not a confident cell
    assert (sigma[3:] < 0.03).all()
    assert z[3] == pytest.approx(0.15) and z[4] == pytest.approx(0.0)
    # height_fn (what sample_heightmap reads) reports the same cells valid
    np.testing.assert_array_equal(m.height_fn(pts)[1], valid)


@pytest.mark.parametrize("case", ["wide", "drop", "open", "off"])
def test_occlusion_fill_leaves_what_it_cannot_bound_unknown(case):
    cfg = ElevationMapConfig(occlusion_fill_max_gap=0.0) if case == "off" else None
    m = _step_map(
        {"wide": (0.40, 0.62)}.get(case, (0.40, 0.52)),
        upper=0.40 if case == "drop" else 0.15,
        cfg=cfg,
        far_side=case != "open",
    )
    z, _, valid, inferred = m.lookup(np.array([[0.44, 0.0], [0.48, 0.0]]))
    assert not valid.any() and not inferred.any() and np.isnan(z).all()


def test_bad_occlusion_fill_config_is_one_line_error():
    with pytest.raises(ValueError, match="occlusion_fill"):
        ElevationMapConfig(occlusion_fill_max_gap=-0.1)
