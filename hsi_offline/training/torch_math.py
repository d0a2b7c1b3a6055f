"""Small batched rotation helpers on torch tensors (w-x-y-z quaternions, the project-wide convention)."""

from __future__ import annotations

import torch


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def quat_conj(q: torch.Tensor) -> torch.Tensor:
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    w, xyz = q[..., :1], q[..., 1:]
    t = 2.0 * torch.cross(xyz, v, dim=-1)
    return v + w * t + torch.cross(xyz, t, dim=-1)


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return quat_rotate(quat_conj(q), v)


def quat_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rotation angle (rad) between two orientations, elementwise over leading axes."""
    d = (a * b).sum(-1).abs().clamp(max=1.0)
    return 2.0 * torch.acos(d)


def yaw_of(q: torch.Tensor) -> torch.Tensor:
    w, x, y, z = q.unbind(-1)
    return torch.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def roll_pitch_of(q: torch.Tensor) -> torch.Tensor:
    w, x, y, z = q.unbind(-1)
    roll = torch.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = torch.asin((2 * (w * y - z * x)).clamp(-1.0, 1.0))
    return torch.stack([roll, pitch], dim=-1)


def wrap_angle(a: torch.Tensor) -> torch.Tensor:
    return torch.atan2(torch.sin(a), torch.cos(a))


def rotate_yaw_inverse(yaw: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """World xy vectors (..., 2) expressed in a heading frame rotated by ``yaw`` (...)."""
    c, s = torch.cos(yaw)[..., None], torch.sin(yaw)[..., None]
    x, y = xy[..., 0:1], xy[..., 1:2]
    return torch.cat([c * x + s * y, -s * x + c * y], dim=-1)
