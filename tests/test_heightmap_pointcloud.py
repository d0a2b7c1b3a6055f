"""PointCloud2 codec (real sensor_msgs messages through rclpy serialisation) and the heightmap message."""

from __future__ import annotations

import array

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import PointCloud2, PointField

from hsi_kernel.heightmap.message import (
    decode_heightmap_inferred,
    decode_heightmap_msg,
    encode_heightmap_msg,
    encode_map_msg,
)
from hsi_kernel.heightmap.pointcloud import cloud_xyz, decode_cloud, encode_cloud, encode_xyz
from hsi_kernel.heightmap.sampler import HeightmapSpec, grid_offsets


def test_xyz_round_trip_through_dds_serialisation():
    xyz = np.random.default_rng(0).normal(size=(5000, 3)).astype(np.float32)
    msg = deserialize_message(serialize_message(encode_xyz(xyz, "body")), PointCloud2)
    assert msg.header.frame_id == "body" and msg.point_step == 12 and msg.is_dense
    np.testing.assert_array_equal(cloud_xyz(msg), xyz)


def test_livox_like_layout_with_padding_rows_and_big_endian():
    """x, y, z float32 + intensity + tag + line, 2 rows with 4 padding bytes each, big-endian."""
    n, rows = 6, 2
    dt = np.dtype(
        {
            "names": ["x", "y", "z", "intensity", "tag", "line"],
            "formats": [">f4", ">f4", ">f4", ">f4", "u1", "u1"],
            "offsets": [0, 4, 8, 12, 16, 17],
            "itemsize": 20,
        }
    )
    rec = np.zeros(n, dt)
    rec["x"], rec["y"], rec["z"] = np.arange(n), -np.arange(n), 0.5
    rec["intensity"] = 7.0
    raw = b"".join(rec[r * 3 : (r + 1) * 3].tobytes() + b"\0" * 4 for r in range(rows))
    msg = PointCloud2(
        height=rows,
        width=3,
        point_step=20,
        row_step=64,
        is_bigendian=True,
        fields=[
            PointField(name="x", offset=0, datatype=7, count=1),
            PointField(name="y", offset=4, datatype=7, count=1),
            PointField(name="z", offset=8, datatype=7, count=1),
            PointField(name="intensity", offset=12, datatype=7, count=1),
            PointField(name="tag", offset=16, datatype=2, count=1),
            PointField(name="line", offset=17, datatype=2, count=1),
        ],
        data=array.array("B", raw),
    )
    xyz = cloud_xyz(msg)
    np.testing.assert_array_equal(xyz[:, 0], np.arange(n))
    np.testing.assert_array_equal(xyz[:, 1], -np.arange(n))
    assert np.all(decode_cloud(msg)["intensity"] == 7.0)


def test_malformed_clouds_are_one_line_errors():
    good = encode_xyz(np.zeros((10, 3), np.float32), "body")
    short = encode_xyz(np.zeros((10, 3), np.float32), "body")
    short.data = array.array("B", bytes(50))
    with pytest.raises(ValueError, match="bytes"):
        cloud_xyz(short)
    no_z = encode_cloud({"x": np.zeros(4, np.float32), "y": np.zeros(4, np.float32)}, "body")
    with pytest.raises(ValueError, match="lacks field"):
        cloud_xyz(no_z)
    bad_type = encode_xyz(np.zeros((4, 3), np.float32), "body")
    bad_type.fields[2].datatype = 42
    with pytest.raises(ValueError, match="datatype"):
        cloud_xyz(bad_type)
    outside = encode_xyz(np.zeros((4, 3), np.float32), "body")
    outside.fields[2].offset = 10
    with pytest.raises(ValueError, match="point_step"):
        cloud_xyz(outside)
    bad_row = encode_xyz(np.zeros((4, 3), np.float32), "body")
    bad_row.row_step = 8
    with pytest.raises(ValueError, match="row_step"):
        cloud_xyz(bad_row)
    empty = encode_xyz(np.zeros((0, 3), np.float32), "body")
    assert cloud_xyz(empty).shape == (0, 3)
    assert cloud_xyz(good).shape == (10, 3)


def test_heightmap_message_round_trip_and_layout():
    spec = HeightmapSpec()
    rng = np.random.default_rng(1)
    values = rng.uniform(0.5, 1.0, 121)
    valid = rng.uniform(size=121) > 0.2
    msg = deserialize_message(
        serialize_message(encode_heightmap_msg(values, valid, 12.345, False, spec)), PointCloud2
    )
    assert (msg.height, msg.width) == (11, 11) and msg.header.frame_id == "torso_yaw"
    v, ok, stamp, stale = decode_heightmap_msg(msg, spec)
    np.testing.assert_allclose(v, values, atol=1e-6)
    np.testing.assert_array_equal(ok, valid)
    assert not decode_heightmap_inferred(msg).any()
    inferred = rng.uniform(size=121) > 0.7
    with_inf = encode_heightmap_msg(values, valid, 1.0, False, spec, inferred=inferred)
    np.testing.assert_array_equal(decode_heightmap_inferred(with_inf), inferred & valid)  # only valid cells
    assert not decode_heightmap_inferred(encode_xyz(np.zeros((121, 3), np.float32), "torso_yaw")).any()
    assert stamp == pytest.approx(12.345, abs=1e-6) and not stale
    pts = decode_cloud(msg)
    np.testing.assert_allclose(np.column_stack([pts["x"], pts["y"]]), grid_offsets(spec), atol=1e-6)
    np.testing.assert_allclose(pts["z"], -values, atol=1e-6)  # RViz: the ground below the torso
    _, _, _, stale = decode_heightmap_msg(encode_heightmap_msg(values, valid, 1.0, True, spec))
    assert stale
    with pytest.raises(ValueError, match="policy expects 9 x 9"):
        decode_heightmap_msg(msg, HeightmapSpec(size=9))
    with pytest.raises(ValueError, match="lacks field"):
        decode_heightmap_msg(encode_xyz(np.zeros((121, 3), np.float32), "torso_yaw"))
    with pytest.raises(ValueError, match="121 values"):
        encode_heightmap_msg(values[:100], valid[:100], 0.0, False, spec)
    viz = encode_map_msg(np.zeros((5, 3)), np.ones(5), 1.0, "hsi_map")
    assert {f.name for f in viz.fields} == {"x", "y", "z", "variance"} and viz.width == 5
