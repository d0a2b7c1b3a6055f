"""The shared policy heightmap sampler: layout, numpy/torch agreement, fill rule, Terrain lookups."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi_kernel.heightmap.sampler import (
    DEFAULT_SPEC,
    LAYOUT,
    HeightmapSpec,
    grid_offsets,
    sample_heightmap,
    sample_points,
    terrain_height_fn,
)
from hsi_kernel.terrain import Terrain, make_scene_terrain


def test_grid_layout_first_index_forward_second_left():
    off = grid_offsets(DEFAULT_SPEC)
    assert off.shape == (121, 2)
    grid = off.reshape(11, 11, 2)
    np.testing.assert_allclose(grid[0, 0], [-0.5, -0.5])
    np.testing.assert_allclose(grid[10, 0], [0.5, -0.5])  # first index: +x forward
    np.testing.assert_allclose(grid[0, 10], [-0.5, 0.5])  # second index: +y left
    np.testing.assert_allclose(grid[5, 5], [0.0, 0.0])


def test_sample_points_rotate_with_yaw():
    pts = sample_points(np.array([1.0, 2.0]), np.array(np.pi / 2), DEFAULT_SPEC).reshape(11, 11, 2)
    # facing +y: "forward" (first index) points along world +y, "left" along world -x
    np.testing.assert_allclose(pts[10, 5], [1.0, 2.5], atol=1e-12)
    np.testing.assert_allclose(pts[5, 10], [0.5, 2.0], atol=1e-12)


def test_values_are_torso_height_above_terrain_and_fill_where_unknown():
    def height_fn(xy):
        return 0.1 * xy[..., 0], xy[..., 1] < 0.25

    vals, valid = sample_heightmap(height_fn, np.array([0.0, 0.0, 0.9]), np.array(0.0))
    off = grid_offsets()
    expect_valid = off[:, 1] < 0.25
    np.testing.assert_array_equal(valid, expect_valid)
    np.testing.assert_allclose(vals[expect_valid], 0.9 - 0.1 * off[expect_valid, 0])
    assert np.all(vals[~expect_valid] == DEFAULT_SPEC.fill)


def test_numpy_and_torch_batched_agree_on_stairs():
    terrain = make_scene_terrain("stairs")
    rng = np.random.default_rng(0)
    pos = np.column_stack([rng.uniform(-1, 5, 64), rng.uniform(-2, 2, 64), rng.uniform(0.8, 1.6, 64)])
    yaw = rng.uniform(-np.pi, np.pi, 64)
    fn = terrain_height_fn(terrain)
    v_np, ok_np = sample_heightmap(fn, pos, yaw)
    v_t, ok_t = sample_heightmap(fn, torch.as_tensor(pos), torch.as_tensor(yaw))
    assert isinstance(v_t, torch.Tensor) and v_t.dtype == torch.float64 and ok_t.dtype == torch.bool
    assert v_np.shape == (64, 121)
    np.testing.assert_array_equal(ok_t.numpy(), ok_np)
    np.testing.assert_allclose(v_t.numpy(), v_np, atol=1e-9)
    f32 = torch.float32
    v32, _ = sample_heightmap(fn, torch.as_tensor(pos, dtype=f32), torch.as_tensor(yaw, dtype=f32))
    assert v32.dtype == torch.float32
    np.testing.assert_allclose(v32.numpy(), v_np, atol=1e-4)
    # spot check a value against the stairs definition: first step (0.15 m) spans x in [1.0, 1.3)
    v, _ = sample_heightmap(fn, np.array([1.15, 0.0, 1.0]), np.array(0.0))
    assert v.reshape(11, 11)[5, 5] == pytest.approx(1.0 - 0.15)


def test_terrain_height_at_torch_matches_numpy_including_far_edge():
    terrain = make_scene_terrain("rough")
    xmin, xmax, ymin, ymax = terrain.extent
    xy = np.array([[xmax, ymax], [xmin, ymin], [xmax + 1, 0.0], [0.123, -0.456], [xmax - 1e-7, ymax - 1e-7]])
    expect = terrain.height_at(xy)
    np.testing.assert_allclose(terrain.height_at(torch.as_tensor(xy)).numpy(), expect, atol=1e-9)
    np.testing.assert_allclose(
        terrain.height_at(torch.as_tensor(xy, dtype=torch.float32)).numpy(), terrain.height_at(xy), atol=1e-5
    )


def test_outside_terrain_extent_is_unknown():
    terrain = Terrain(np.zeros((11, 11)), 0.1, (0.0, 0.0))
    vals, valid = sample_heightmap(terrain_height_fn(terrain), np.array([0.0, 0.0, 0.8]), np.array(0.0))
    off = grid_offsets()
    inside = (off[:, 0] >= 0) & (off[:, 1] >= 0)
    np.testing.assert_array_equal(valid, inside)
    assert np.all(vals[~inside] == 0.85) and np.allclose(vals[inside], 0.8)


def test_spec_round_trip_and_bad_values():
    spec = HeightmapSpec(size=7, resolution=0.05, fill=0.7)
    d = spec.to_dict()
    assert d["layout"] == LAYOUT
    assert HeightmapSpec.from_dict(d) == spec
    assert HeightmapSpec.from_dict({k: str(v) for k, v in d.items()}) == spec
    assert grid_offsets(spec).shape == (49, 2)
    with pytest.raises(ValueError, match="layout"):
        HeightmapSpec.from_dict({**d, "layout": "y_major"})
    with pytest.raises(ValueError, match="unknown keys"):
        HeightmapSpec.from_dict({"sise": 11})
    with pytest.raises(ValueError, match="numbers"):
        HeightmapSpec.from_dict({"size": "eleven"})
    with pytest.raises(ValueError, match="resolution"):
        HeightmapSpec(resolution=0.0)
    with pytest.raises(ValueError, match="size"):
        HeightmapSpec(size=0)
    with pytest.raises(ValueError, match="torso_pos"):
        sample_heightmap(lambda xy: (xy[..., 0], xy[..., 0] > 0), np.zeros(2), np.array(0.0))
