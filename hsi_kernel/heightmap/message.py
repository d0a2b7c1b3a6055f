"""The policy heightmap on the wire: an organised sensor_msgs/PointCloud2, and its decoder for the policy.

Why PointCloud2 and not Float32MultiArray: it carries a header (stamp of the torso pose the grid was sampled
at, frame), named typed fields (values and validity side by side, no parallel arrays to keep in sync) and
RViz draws it as it is. Layout:

- ``height = width = spec.size``; point ``(row a, column b)`` is sample ``k = a * size + b`` of
  ``heightmap.sampler`` (``a`` along +x forward, ``b`` along +y left): the flat data order IS the observation
  order.
- fields: ``x``, ``y`` float32 (sample offset in the torso's yaw-aligned frame, metres), ``z`` float32
  (= -value: the ground point relative to the torso, so RViz shows the terrain under the robot), ``value``
  float32 (what the policy consumes: torso height above the ground, ``spec.fill`` where unknown), ``valid``
  uint8 (1 = the map knows this cell), ``inferred`` uint8 (1 = valid only by the elevation map's occlusion
  fill: a narrow shadow bridged with its lower flank's height, see ``ElevationMap.lookup``), ``stale``
  uint8 (the same in every point: 1 = the map cannot be trusted now: odometry or scans missing, old or
  jumping; a consumer should fall back to a blind policy or stop).
- ``header.frame_id``: the yaw-aligned torso frame name (default ``torso_yaw``); ``header.stamp``: time of the
  odometry pose used.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from hsi_kernel.heightmap.pointcloud import decode_cloud, encode_cloud
from hsi_kernel.heightmap.sampler import DEFAULT_SPEC, HeightmapSpec, grid_offsets

FIELDS = ("x", "y", "z", "value", "valid", "stale")
"""Fields a decoder needs; ``inferred`` is added by this encoder but optional on decode (older senders)."""


@functools.lru_cache(maxsize=8)
def _offsets32(spec: HeightmapSpec) -> np.ndarray:
    return grid_offsets(spec).astype(np.float32)


def _to_time(t: float) -> Any:
    from builtin_interfaces.msg import Time

    sec = int(np.floor(t))
    return Time(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))


def stamp_to_sec(stamp: Any) -> float:
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)


def encode_heightmap_msg(
    values: np.ndarray,
    valid: np.ndarray,
    stamp: float,
    stale: bool,
    spec: HeightmapSpec = DEFAULT_SPEC,
    frame_id: str = "torso_yaw",
    msg: Any = None,
    inferred: np.ndarray | None = None,
) -> Any:
    """The PointCloud2 above from the sampler's output (flat ``size*size`` arrays; ``inferred`` default
    all False)."""
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    valid = np.asarray(valid, dtype=bool).reshape(-1)
    inferred = np.zeros(valid.shape, bool) if inferred is None else np.asarray(inferred, bool).reshape(-1)
    if values.shape != (spec.num_cells,) or valid.shape != (spec.num_cells,) or inferred.shape != valid.shape:
        raise ValueError(
            f"heightmap needs {spec.num_cells} values and flags, got "
            f"{values.shape}/{valid.shape}/{inferred.shape}"
        )
    off = _offsets32(spec)
    fields = {
        "x": off[:, 0],
        "y": off[:, 1],
        "z": -values,
        "value": values,
        "valid": valid.astype(np.uint8),
        "inferred": (inferred & valid).astype(np.uint8),
        "stale": np.full(spec.num_cells, 1 if stale else 0, np.uint8),
    }
    out = encode_cloud(fields, frame_id, _to_time(stamp), height=spec.size, msg=msg)
    out.is_dense = bool(valid.all())
    return out


def decode_heightmap_msg(
    msg: Any, spec: HeightmapSpec | None = None
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """(values (size*size,) float32, valid bool, stamp seconds, stale) from a policy heightmap message.

    With ``spec`` (the policy's metadata) the grid size and sample offsets are checked: a map in another
    layout or resolution raises ``ValueError`` instead of feeding the policy a transposed or scaled grid.
    """
    pts = decode_cloud(msg)
    names = set(pts.dtype.names or ())
    missing = set(FIELDS) - names
    if missing:
        raise ValueError(f"heightmap message lacks field(s) {sorted(missing)}")
    if msg.height != msg.width or msg.height * msg.width != len(pts) or len(pts) == 0:
        raise ValueError(
            f"heightmap message must be a square organised cloud, got {msg.height} x {msg.width}"
        )
    if spec is not None:
        if msg.height != spec.size:
            raise ValueError(
                f"heightmap message is {msg.height} x {msg.width}, the policy expects "
                f"{spec.size} x {spec.size}"
            )
        off = np.column_stack([pts["x"], pts["y"]])
        if not np.allclose(off, grid_offsets(spec), atol=1e-4):
            raise ValueError(
                "heightmap message sample offsets do not match the policy's heightmap spec "
                "(resolution or layout differ)"
            )
    values = np.asarray(pts["value"], dtype=np.float32)
    valid = np.asarray(pts["valid"]) != 0
    stale = bool(np.any(np.asarray(pts["stale"]) != 0)) or not np.all(np.isfinite(values))
    return values, valid, stamp_to_sec(msg.header.stamp), stale


def decode_heightmap_inferred(msg: Any) -> np.ndarray:
    """(size*size,) bool: cells valid only by the occlusion fill (all False if the sender lacks the field)."""
    pts = decode_cloud(msg)
    if "inferred" not in (pts.dtype.names or ()):
        return np.zeros(len(pts), bool)
    return np.asarray(pts["inferred"]) != 0


def encode_map_msg(
    xyz: np.ndarray, variance: np.ndarray, stamp: float, frame_id: str, msg: Any = None
) -> Any:
    """Operator view of the whole elevation map: one point per known cell (x, y, z, variance)."""
    xyz = np.asarray(xyz, dtype=np.float32).reshape(-1, 3)
    return encode_cloud(
        {
            "x": xyz[:, 0],
            "y": xyz[:, 1],
            "z": xyz[:, 2],
            "variance": np.asarray(variance, dtype=np.float32).reshape(-1),
        },
        frame_id,
        _to_time(stamp),
        msg=msg,
    )
