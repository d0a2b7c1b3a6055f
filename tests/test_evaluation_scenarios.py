"""The walking skills' scenarios: their paths and terrain say what their names promise, and a run that ends at
the goal facing the wrong way is not completed (real lock-step run of the stiff hold-default policy)."""

from __future__ import annotations

import math

import numpy as np

from hsi_kernel.paths import models_dir
from hsi_kernel.terrain import make_scene_terrain
from hsi_offline.evaluation.scenarios import NAMES, get_scenarios

HOLD = models_dir() / "hold_default_23dof.onnx"


def test_names_cover_turning_and_kerbs() -> None:
    assert any("turn" in n for n in NAMES) and any("kerb" in n for n in NAMES)
    assert {"turn_in_place", "curve_walk", "goal_lateral", "kerb_up_down"} <= set(NAMES)


def test_paths() -> None:
    names = ["turn_in_place", "curve_walk", "goal_lateral", "kerb_up_down"]
    turn, curve, lateral, kerb = get_scenarios(names)
    assert turn.path_length_m == 0.0 and math.isclose(turn.goal[2], math.pi)
    assert math.isclose(turn.path_at(2.5)[2], math.pi / 2)  # half-way through the turn
    # the curve: a 2 m quarter circle, heading along its tangent at every point
    assert abs(curve.path_length_m - 2.0) < 0.02
    t = np.linspace(0.6, 5.4, 50)
    p = curve.path_at(t)
    tangent = np.arctan2(np.gradient(p[:, 1]), np.gradient(p[:, 0]))
    assert np.max(np.abs(tangent - p[:, 2])) < 0.1
    assert math.isclose(curve.goal[2], math.pi / 2)
    assert np.allclose(lateral.goal, [1.5, 0.5, 0.0]) and np.all(lateral.path_at(t)[:, 2] == 0.0)
    terrain = make_scene_terrain(kerb.scene)
    heights = terrain.height_at(np.array([[0.5, 0.0], [1.5, 0.0], [2.5, 0.0]]))
    assert np.allclose(heights, [0.0, 0.15, 0.0])
    assert kerb.goal[0] > 2.0  # the path ends past the strip: up and down again


def test_standing_still_does_not_complete_a_turn() -> None:
    from hsi_offline.evaluation.lockstep import run_lockstep
    from hsi_offline.evaluation.scenario_metrics import score

    (sc,) = get_scenarios(["turn_in_place"], 0.4)
    r = run_lockstep(sc, HOLD)
    m = score(r, sc)
    assert not m.fell, m.why_not  # the placeholder stands: the only failure left is the heading
    assert not m.completed and "goal heading" in m.why_not, m.why_not
