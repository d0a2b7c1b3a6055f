"""sensor_msgs/PointCloud2 <-> numpy, vectorised (one ``frombuffer`` / ``tobytes``, no per-point Python).

A 20k-point MID-360 scan arrives ten times a second; decoding it point by point in Python costs tens of
milliseconds, more than the whole map update. The message layout (fields, offsets, point_step, row_step,
endianness) is validated here, at the boundary, so a malformed cloud becomes a one-line ``ValueError``.
"""

from __future__ import annotations

import array
from collections.abc import Mapping
from typing import Any

import numpy as np

# sensor_msgs/PointField datatype codes
_CODE_TO_NP = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
_NP_TO_CODE = {np.dtype(v).str[1:]: k for k, v in _CODE_TO_NP.items()}


def cloud_dtype(msg: Any) -> np.dtype:
    """The numpy structured dtype of one point of ``msg`` (validated; count > 1 fields become subarrays)."""
    if msg.point_step <= 0:
        raise ValueError(f"PointCloud2 point_step must be positive, got {msg.point_step}")
    order = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for f in msg.fields:
        code = _CODE_TO_NP.get(int(f.datatype))
        if code is None:
            raise ValueError(f"PointCloud2 field '{f.name}' has unknown datatype {f.datatype}")
        count = max(int(f.count), 1)
        dt = np.dtype(order + code) if count == 1 else np.dtype((order + code, (count,)))
        if f.offset < 0 or f.offset + dt.itemsize > msg.point_step:
            raise ValueError(
                f"PointCloud2 field '{f.name}' (offset {f.offset}) does not fit in point_step "
                f"{msg.point_step}"
            )
        names.append(f.name)
        formats.append(dt)
        offsets.append(int(f.offset))
    if len(set(names)) != len(names):
        raise ValueError(f"PointCloud2 has duplicate field names {names}")
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": int(msg.point_step)})


def decode_cloud(msg: Any) -> np.ndarray:
    """All points of ``msg`` as a flat structured array (rows concatenated, row padding skipped)."""
    dt = cloud_dtype(msg)
    h, w = int(msg.height), int(msg.width)
    if h * w == 0:
        return np.zeros(0, dtype=dt)
    if msg.row_step < w * msg.point_step:
        raise ValueError(f"PointCloud2 row_step {msg.row_step} < width {w} x point_step {msg.point_step}")
    buf = memoryview(msg.data).cast("B") if not isinstance(msg.data, bytes | bytearray) else msg.data
    need = (h - 1) * msg.row_step + w * msg.point_step
    if len(buf) < need:
        raise ValueError(f"PointCloud2 data has {len(buf)} bytes, its header says at least {need}")
    if msg.row_step == w * msg.point_step:
        return np.frombuffer(buf, dtype=dt, count=h * w)
    raw = np.frombuffer(buf, dtype=np.uint8, count=need)
    rows = np.lib.stride_tricks.as_strided(raw, (h, w * msg.point_step), (msg.row_step, 1))
    return np.ascontiguousarray(rows).view(dt).reshape(-1)


def cloud_xyz(msg: Any) -> np.ndarray:
    """(N, 3) float32 x, y, z of ``msg`` (non-finite points are kept: the caller decides what to do)."""
    pts = decode_cloud(msg)
    missing = {"x", "y", "z"} - set(pts.dtype.names or ())
    if missing:
        raise ValueError(f"PointCloud2 lacks field(s) {sorted(missing)}; need x, y, z")
    out = np.empty((len(pts), 3), dtype=np.float32)
    for k, name in enumerate("xyz"):
        out[:, k] = pts[name]
    return out


def encode_cloud(
    fields: Mapping[str, np.ndarray], frame_id: str, stamp: Any = None, height: int = 1, msg: Any = None
) -> Any:
    """A sensor_msgs/PointCloud2 from equal-length 1-D arrays (field order = mapping order, packed).

    ``height`` > 1 makes an organised cloud of ``height`` rows. ``stamp`` is a builtin_interfaces/Time.
    """
    from sensor_msgs.msg import PointCloud2, PointField

    if not fields:
        raise ValueError("encode_cloud needs at least one field")
    arrays = {k: np.asarray(v).reshape(-1) for k, v in fields.items()}
    n = {len(v) for v in arrays.values()}
    if len(n) != 1:
        raise ValueError(f"encode_cloud fields have different lengths {sorted(n)}")
    (count,) = n
    if height < 1 or count % height:
        raise ValueError(f"encode_cloud: {count} points cannot form {height} rows")
    dt = np.dtype([(k, "<" + v.dtype.str[1:]) for k, v in arrays.items()])
    rec = np.empty(count, dtype=dt)
    pfields = []
    for k, v in arrays.items():
        code = _NP_TO_CODE.get(v.dtype.str[1:])
        if code is None:
            raise ValueError(f"encode_cloud: field '{k}' has unsupported dtype {v.dtype}")
        rec[k] = v
        pfields.append(PointField(name=k, offset=dt.fields[k][1], datatype=code, count=1))
    out = msg if msg is not None else PointCloud2()
    out.header.frame_id = frame_id
    if stamp is not None:
        out.header.stamp = stamp
    out.height, out.width = height, count // height
    out.fields = pfields
    out.is_bigendian = False
    out.point_step = dt.itemsize
    out.row_step = dt.itemsize * out.width
    out.data = array.array("B", rec.tobytes())
    out.is_dense = True
    return out


def encode_xyz(xyz: np.ndarray, frame_id: str, stamp: Any = None) -> Any:
    """The common x, y, z float32 cloud."""
    xyz = np.asarray(xyz, dtype=np.float32).reshape(-1, 3)
    msg = encode_cloud({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}, frame_id, stamp)
    msg.is_dense = bool(np.isfinite(xyz).all())
    return msg
