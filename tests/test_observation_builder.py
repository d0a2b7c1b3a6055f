"""The observation contract against hand-computed vectors: frame conventions, scaling, history order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hsi_kernel.contract import get_contract
from hsi_kernel.observation import ObservationBuilder, ObservationLayout, make_layout, projected_gravity

C = get_contract(23)


def _quat_axis_angle(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * axis])


@pytest.mark.parametrize(
    "axis, angle, expected",
    [
        ((1, 0, 0), 0.0, (0, 0, -1)),  # upright
        ((1, 0, 0), math.pi / 2, (0, -1, 0)),  # rolled +90 deg: body +y points up, gravity along -y
        ((0, 1, 0), math.pi / 2, (1, 0, 0)),  # pitched +90 deg (nose down): gravity along +x
        ((0, 0, 1), 1.3, (0, 0, -1)),  # yaw does not change gravity in the body frame
        ((0, 1, 0), math.pi, (0, 0, 1)),  # upside down
    ],
)
def test_projected_gravity_frame_convention(axis, angle, expected):
    q = _quat_axis_angle(axis, angle)
    np.testing.assert_allclose(projected_gravity(q), expected, atol=1e-12)
    # same as rotating world gravity into the body frame with an independent rotation matrix
    w, x, y, z = q
    R = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
    np.testing.assert_allclose(projected_gravity(q), R.T @ [0, 0, -1], atol=1e-12)


def _frame(ang_vel, quat, q, dq, last):
    """One frame by hand: VideoMimic scales 0.25 (ang vel) and 0.05 (dq); q relative to the default."""
    return np.concatenate(
        [0.25 * np.asarray(ang_vel), projected_gravity(quat), q - C.default_q, 0.05 * dq, last]
    )


def test_student_layout_dims_and_slices():
    lay = make_layout(23, "student", heightmap=True)
    assert lay.frame_dim == 3 + 3 + 23 * 3 == 75
    assert lay.dim == 75 * 5 + 3 + 121 == 499
    s = lay.slices()
    assert s["proprio_history"] == slice(0, 375) and s["target_xy"] == slice(375, 377)
    assert s["target_yaw"] == slice(377, 378) and s["heightmap"] == slice(378, 499)
    assert make_layout(23, "student", heightmap=False).dim == 378
    assert ObservationLayout.from_dict(lay.to_dict()) == lay


def test_history_is_newest_first_and_initially_filled():
    lay = make_layout(23, "student", heightmap=True)
    b = ObservationBuilder(lay, C.default_q)
    rng = np.random.default_rng(1)
    frames, obs = [], None
    hm = np.linspace(0.5, 1.1, 121)
    for k in range(7):
        ang, quat = rng.normal(size=3), _quat_axis_angle(rng.normal(size=3), 0.2 * k)
        q, dq, last = C.default_q + rng.normal(0, 0.1, 23), rng.normal(size=23), rng.normal(size=23)
        frames.append(_frame(ang, quat, q, dq, last))
        extras = {"target_xy": np.array([0.3, -0.2]), "target_yaw": np.array([0.1])}
        obs = b(ang, quat, q, dq, last, extras, hm)
        if k == 0:  # first call: every history slot is the first frame (what training does at reset)
            np.testing.assert_allclose(obs[:375], np.tile(frames[0], 5))
    expected = np.concatenate([frames[6], frames[5], frames[4], frames[3], frames[2], [0.3, -0.2, 0.1], hm])
    np.testing.assert_allclose(obs, expected, atol=1e-12)
    # torch (training side) builds the identical vector from the same inputs
    bt = ObservationBuilder(lay, torch.as_tensor(C.default_q))
    b2 = ObservationBuilder(lay, C.default_q)
    args = (
        rng.normal(size=3),
        _quat_axis_angle((0, 1, 1), 0.3),
        C.default_q + 0.1,
        rng.normal(size=23),
        rng.normal(size=23),
    )
    extras = {"target_xy": np.array([0.1, 0.2]), "target_yaw": np.array([-0.3])}
    on = b2(*args, extras, hm)
    ot = bt(
        *(torch.as_tensor(a) for a in args),
        {k: torch.as_tensor(v) for k, v in extras.items()},
        torch.as_tensor(hm),
    )
    np.testing.assert_allclose(ot.numpy(), on, atol=1e-12)


def test_layout_rejects_unknown_terms_and_bad_dim():
    d = make_layout(23).to_dict()
    d["extras"].append({"name": "base_lin_vel", "size": 3, "scale": 1.0, "history": 1})
    with pytest.raises(ValueError, match="not supported"):
        ObservationLayout.from_dict(d)
    d = make_layout(23).to_dict()
    d["dim"] = 10
    with pytest.raises(ValueError, match="add up to"):
        ObservationLayout.from_dict(d)
