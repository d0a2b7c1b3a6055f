"""Node core bad input: empty clouds, NaN/inf points, unknown frames, out-of-order/stale stamps, odometry
jumps, missing odometry. None may raise; each must leave the output flagged or the map untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hsi_kernel.heightmap.sampler import grid_offsets
from hsi_robot_nodes.heightmap.core import HeightmapCore, HeightmapNodeConfig, quat_xyzw_to_matrix

# the upside-down mount: LiDAR frame = torso frame rotated 180 deg about x, 0.4 m up
MOUNT = (np.array([0.0, 0.0, 0.4]), np.diag([1.0, -1.0, -1.0]))
Q_ID = np.array([0.0, 0.0, 0.0, 1.0])  # x, y, z, w: body == camera_init (the start pose)


@pytest.fixture(scope="module")
def core_factory():
    def make(**kw) -> HeightmapCore:
        return HeightmapCore(HeightmapNodeConfig(**kw), extrinsic=MOUNT)

    return make


def ground_scan(z_floor: float = -1.2, n: int = 30000, seed: int = 0) -> np.ndarray:
    """Flat floor within 1.2 m seen by the upside-down LiDAR (sensor frame: the floor is at +z)."""
    rng = np.random.default_rng(seed)
    r, a = 1.2 * np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0, 2 * np.pi, n)
    # sensor frame: x forward, y right, z down (180 deg about x)
    return np.column_stack([r * np.cos(a), -r * np.sin(a), np.full(n, -z_floor)]).astype(np.float32)


def fed(core: HeightmapCore, t: float, x: float = 0.0) -> None:
    assert core.on_odometry(t, np.array([x, 0.0, 0.0]), Q_ID) is None
    assert core.on_cloud(t, "body", ground_scan(seed=int(t * 10))) is None


def test_good_input_gives_a_fresh_full_map(core_factory):
    core = core_factory()
    for k in range(3):
        fed(core, 0.1 * k)
    out = core.heightmap(0.25)
    assert not out.stale and out.reason == ""
    # the floor right under the feet is inside the self filter's foot capsules: unknown, not guessed
    under_feet = np.linalg.norm(grid_offsets(), axis=1) < 0.25
    assert out.valid[~under_feet].all() and out.valid.mean() > 0.9
    # torso is 0.4 m below the LiDAR at 1.2 m: torso height above the floor 0.8 m
    np.testing.assert_allclose(out.values[out.valid], 0.8, atol=0.01)
    assert np.all(out.values[~out.valid] == core.config.spec.fill)
    assert out.stamp == pytest.approx(0.2)


def test_registered_cloud_in_camera_init_matches_body_cloud(core_factory):
    a, b = core_factory(), core_factory()
    R = quat_xyzw_to_matrix(np.array([0.0, 0.0, math.sin(0.2), math.cos(0.2)]))
    p = np.array([0.3, -0.2, 0.0])
    body = ground_scan()
    for c in (a, b):
        assert c.on_odometry(0.0, p, np.array([0.0, 0.0, math.sin(0.2), math.cos(0.2)])) is None
    assert a.on_cloud(0.0, "body", body) is None
    assert b.on_cloud(0.0, "camera_init", body.astype(np.float64) @ R.T + p) is None
    ha, hb = a.heightmap(0.0), b.heightmap(0.0)
    np.testing.assert_array_equal(ha.valid, hb.valid)
    assert ha.valid.mean() > 0.9
    np.testing.assert_allclose(ha.values, hb.values, atol=1e-5)


def test_empty_and_all_nan_clouds_are_rejected(core_factory):
    core = core_factory()
    fed(core, 0.0)
    before = core.map.height.copy()
    assert core.on_odometry(0.1, np.zeros(3), Q_ID) is None
    assert "no finite points" in core.on_cloud(0.1, "body", np.zeros((0, 3), np.float32))
    assert "no finite points" in core.on_cloud(0.1, "body", np.full((10, 3), np.nan, np.float32))
    assert "(N, 3)" in core.on_cloud(0.1, "body", np.zeros((10, 2)))
    np.testing.assert_array_equal(core.map.height, before)
    assert core.counts["empty_cloud"] == 2


def test_nan_and_inf_points_are_dropped_not_fused(core_factory):
    core = core_factory()
    assert core.on_odometry(0.0, np.zeros(3), Q_ID) is None
    pts = ground_scan()
    pts[::3] = np.nan
    pts[1::7, 2] = np.inf
    assert core.on_cloud(0.0, "body", pts) is None
    assert core.counts["non_finite_points"] > 0
    assert np.all(np.isfinite(core.map.height[~np.isnan(core.map.height)]))
    out = core.heightmap(0.0)
    assert np.all(np.isfinite(out.values))


def test_unknown_frame_is_rejected(core_factory):
    core = core_factory()
    assert core.on_odometry(0.0, np.zeros(3), Q_ID) is None
    msg = core.on_cloud(0.0, "livox_frame", ground_scan())
    assert "livox_frame" in msg and "expected" in msg
    assert core.counts["unknown_frame"] == 1
    assert not core.heightmap(0.0).valid.any()


def test_out_of_order_and_stale_stamps(core_factory):
    core = core_factory()
    fed(core, 1.0)
    assert "not after" in core.on_odometry(0.9, np.zeros(3), Q_ID)
    assert "not after" in core.on_cloud(1.0, "body", ground_scan())  # same stamp again
    assert "not after" in core.on_cloud(0.5, "body", ground_scan())
    assert core.on_odometry(2.0, np.zeros(3), Q_ID) is None
    assert "older than odometry" in core.on_cloud(1.5, "body", ground_scan())
    # time passes with no new data: the map is flagged stale (odometry and scans too old)
    out = core.heightmap(2.5)
    assert out.stale and "old" in out.reason


def test_odometry_jump_clears_map_and_flags_stale(core_factory):
    core = core_factory()
    for k in range(3):
        fed(core, 0.1 * k)
    assert core.heightmap(0.2).valid.mean() > 0.9
    msg = core.on_odometry(0.3, np.array([2.0, 0.0, 0.0]), Q_ID)  # 2 m in 0.1 s
    assert "jumped" in msg
    out = core.heightmap(0.3)
    assert out.stale and "jumped" in out.reason
    assert not out.valid.any() and np.all(out.values == core.config.spec.fill)
    assert core.on_cloud(0.3, "body", ground_scan()) is None  # the new scan restarts the map
    out = core.heightmap(0.3)
    assert not out.stale and out.valid.mean() > 0.5


def test_missing_odometry(core_factory):
    core = core_factory()
    assert "no odometry" in core.on_cloud(0.0, "body", ground_scan())
    out = core.heightmap(0.0)
    assert out.stale and out.reason == "no odometry" and not out.valid.any()
    assert np.all(out.values == core.config.spec.fill)
    fed(core, 1.0)
    # a cloud newer than every odometry waits for its pose; if none arrives it is counted as missing
    assert core.on_cloud(1.1, "body", ground_scan()) is None
    assert core.on_cloud(1.2, "body", ground_scan()) is None
    assert core.counts["missing_odometry"] == 2
    assert core.on_odometry(1.2, np.zeros(3), Q_ID) is None  # the pending 1.2 s cloud is used now
    assert core.counts["scans"] == 2
    # odometry stops: stale after odom_timeout_s even though the map itself is still full
    out = core.heightmap(1.2 + core.config.odom_timeout_s + 0.05)
    assert out.stale and "odometry" in out.reason and out.valid.mean() > 0.9


def test_bad_odometry_values(core_factory):
    core = core_factory()
    assert "not a valid rotation" in core.on_odometry(0.0, np.zeros(3), np.zeros(4))
    assert "non-finite" in core.on_odometry(0.1, np.array([np.nan, 0, 0]), Q_ID)
    assert "non-finite" in core.on_odometry(float("nan"), np.zeros(3), Q_ID)
    assert core.counts["bad_odometry"] == 3


def test_bad_config_is_one_line_error():
    with pytest.raises(ValueError, match="odom_timeout_s"):
        HeightmapNodeConfig(odom_timeout_s=0.0)
    with pytest.raises(ValueError, match="must differ"):
        HeightmapNodeConfig(odom_frame="body")


def test_staleness_uses_receipt_time_not_the_sensor_clock(core_factory):
    """A LiDAR clock 1000 s behind the host: live data stays fresh, stopped data goes stale."""
    core = core_factory()
    for k in range(3):
        t_sensor, t_host = 0.1 * k, 1000.0 + 0.1 * k
        assert core.on_odometry(t_sensor, np.zeros(3), Q_ID, received=t_host) is None
        assert core.on_cloud(t_sensor, "body", ground_scan(seed=k), received=t_host) is None
    out = core.heightmap(1000.25)
    assert not out.stale and out.stamp == pytest.approx(0.2)  # the stamp stays on the sensor clock
    assert core.heightmap(1000.2 + core.config.odom_timeout_s + 0.05).stale


def test_a_transform_resent_with_its_old_stamp_does_not_keep_the_map_fresh(core_factory):
    """A tf broadcaster that keeps re-sending its last transform (odom_source tf): rejected as out of order,
    so the odometry age grows and the map is flagged stale."""
    core = core_factory()
    fed(core, 1.0)
    for k in range(1, 11):
        assert "not after" in core.on_odometry(1.0, np.zeros(3), Q_ID, received=1.0 + 0.05 * k)
    out = core.heightmap(1.5)
    assert out.stale and "odometry is" in out.reason and core.counts["odometry_out_of_order"] == 10
