"""``hsi-offline evaluate``: the sim-to-sim evaluation end to end through the onboard nodes, the training-env
twin's determinism, and one-line refusals of bad input.

The shipped placeholder policy only holds its default pose: it must come out as "not completed" on a walk
(it does not walk) but not fallen (it stands), on both sides.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from hsi_kernel.paths import models_dir
from hsi_offline import cli
from hsi_offline.evaluation.scenarios import get_scenarios
from hsi_offline.evaluation.training_env import run_training_env

HOLD = models_dir() / "hold_default_23dof.onnx"
FIELDS = {
    "completed",
    "why_not",
    "fell",
    "fall_time_s",
    "safety_trip",
    "ran_s",
    "goal_error_m",
    "track_rms_m",
    "track_final_m",
    "min_torque_margin",
    "max_torque_ratio",
    "torque_joint",
    "min_joint_limit_margin_rad",
    "joint_limit_joint",
    "policy_rate_hz",
    "ended",
    "seed",
}


def test_hold_policy_flat_walk_through_the_onboard_nodes(dds_domain, tmp_path):
    out, js = tmp_path / "eval", tmp_path / "summary.json"
    rc = cli.main(
        [
            "evaluate",
            str(HOLD),
            "--scenarios",
            "flat",
            "--duration-scale",
            "0.3",
            "--seed",
            "3",
            "--json",
            str(js),
            "--out",
            str(out),
            "--domain",
            str(dds_domain),
        ]
    )
    assert rc == 0
    d = json.loads(js.read_text())
    assert d["schema"] == "hsi_robot.evaluation/1" and d["seed"] == 3 and d["policy_name"] == HOLD.name
    assert d == json.loads((out / "summary.json").read_text())
    (sc,) = d["scenarios"]
    assert sc["name"] == "flat" and abs(sc["duration_s"] - 2.1) < 1e-9
    for side in ("deploy", "lockstep", "training_env"):
        m = sc[side]
        assert set(m) >= FIELDS, FIELDS - set(m)
        assert m["ran_s"] > 1.0, m  # the policy was in control (deploy: the bridge was in RUN)
        assert m["completed"] is False and m["fell"] is False, m  # holds its pose: stands, does not walk
        assert "from the goal" in m["why_not"] or m["safety_trip"], m
        assert m["goal_error_m"] > 1.0  # stayed near the start of a 2 m walk
        assert 0.0 < m["max_torque_ratio"] < 1.0 and m["min_joint_limit_margin_rad"] > 0.0
    assert 20.0 < sc["deploy"]["policy_rate_hz"] < 60.0  # measured on the deploy path
    assert sc["training_env"]["policy_rate_hz"] is None  # simulated time: exactly 50 Hz by construction
    assert sc["lockstep"]["policy_rate_hz"] == pytest.approx(50.0)  # simulated time, one cycle per 10 steps
    assert "gap" in sc and d["totals"]["deploy"]["falls"] == 0
    assert set(sc["gaps"]) == {"deploy-training_env", "lockstep-training_env", "deploy-lockstep"}
    text = (out / "report.md").read_text()
    assert "## flat" in text and "(flat.png)" in text and "wall-clock dependent" in text
    assert "Gap (lock-step (node cores) - training env)" in text
    assert (out / "flat.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_env_is_bit_identical_for_one_seed():
    (sc,) = get_scenarios(["kerb"], 0.3)
    a, b, c = (run_training_env(sc, HOLD, seed, randomise=True) for seed in (7, 7, 8))
    for name in ("t", "xy", "z", "height", "tilt", "yaw", "tau_ratio", "qlim_margin", "target"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert len(a.t) == 91 and a.ended == "duration"
    assert not np.array_equal(a.tau_ratio, c.tau_ratio)  # the seed drives the randomisation


def _one_line_error(capsys, argv) -> str:
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("hsi-offline evaluate: error: ")
    return err


def test_bad_input_is_refused_with_one_line(capsys, tmp_path):
    err = _one_line_error(capsys, ["evaluate", str(tmp_path / "missing.onnx")])
    assert "does not exist" in err
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not an ONNX model")
    assert "ONNX" in _one_line_error(capsys, ["evaluate", str(junk)])
    model = onnx.load(str(HOLD))
    del model.metadata_props[:]
    bare = tmp_path / "no_metadata.onnx"
    onnx.save(model, str(bare))
    assert "metadata" in _one_line_error(capsys, ["evaluate", str(bare)])
    assert "unknown scenario" in _one_line_error(capsys, ["evaluate", str(HOLD), "--scenarios", "moonwalk"])
    assert not (tmp_path / "junk.eval").exists()


def test_goal_poses_are_in_the_frame_the_joystick_node_reads_odometry_in():
    """A robot standing exactly on a path pose gets a zero root offset, and one beside it is sent back: the
    goals the operator publishes (map frame) and the torso pose the joystick node derives from the simulated
    FAST-LIO2 odometry (camera_init, z down) agree."""
    import mujoco

    from hsi_kernel.frames import lidar_extrinsic_from_model, torso_in_map, yaw_of
    from hsi_robot_nodes.goal_operator import PathAnchor
    from hsi_robot_nodes.joystick.root_command import goal_to_local
    from hsi_sim.lidar import OdometryNoise, SimLidar, SimOdometry
    from hsi_sim.scene import build_scene

    scene = build_scene("flat")
    data = mujoco.MjData(scene.model)
    mujoco.mj_kinematics(scene.model, data)
    lidar, odom = SimLidar(scene.model), SimOdometry(OdometryNoise(0, 0, 0, 0, 0))
    extrinsic = lidar_extrinsic_from_model(23)

    def torso_xy_yaw() -> tuple[float, float, float]:
        mujoco.mj_kinematics(scene.model, data)
        p, R = torso_in_map(*odom.odometry(*lidar.sensor_pose(data)), *extrinsic)
        return float(p[0]), float(p[1]), yaw_of(R)

    anchor = PathAnchor.from_odometry(*odom.odometry(*lidar.sensor_pose(data)), extrinsic)
    for x, y, yaw in ((1.0, 0.0, 0.0), (1.0, 0.3, 0.5), (-0.35, -0.2, -0.4)):
        data.qpos[0:2] = (x, y)  # the pelvis moved to the path pose (torso upright, as at the start)
        data.qpos[3:7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        goal, goal_yaw = anchor.goal(x, y, yaw)
        local = goal_to_local((goal[0], goal[1], goal_yaw), torso_xy_yaw())
        assert np.abs(local[:2]).max() < 0.02 and abs(local[2]) < 1e-3, (x, y, yaw, local)
    data.qpos[0:2], data.qpos[3:7] = (1.0, 0.2), (1.0, 0.0, 0.0, 0.0)  # 0.2 m left of the path at x = 1
    goal, goal_yaw = anchor.goal(1.0, 0.0, 0.0)
    local = goal_to_local((goal[0], goal[1], goal_yaw), torso_xy_yaw())
    assert local[1] == pytest.approx(-0.2, abs=0.02)  # go right, back onto the path


def test_lockstep_runs_the_node_cores_deterministically_and_trips_the_bridge_on_a_fall(tmp_path):
    """The lock-step side drives the bridge's safety machine, the policy runner and the joystick core against
    the simulated robot: the placeholder stands (the bridge hands over from its stand gains), two runs are
    identical, and a policy that holds a constant target on VideoMimic's soft gains (it cannot stand: the
    ankles' Kp 20 is far below what the body's weight needs) falls and is stopped by the bridge's tilt
    limit, as on the robot."""
    from hsi_kernel.contract import get_contract
    from hsi_kernel.observation import make_layout
    from hsi_kernel.policy_file import PolicyMetadata
    from hsi_offline.evaluation.lockstep import run_lockstep
    from hsi_offline.evaluation.scenario_metrics import score
    from hsi_offline.export.hold_default import ACTION_CLIP, ACTION_SCALE, zero_actor
    from hsi_offline.export.onnx_export import export_policy

    (sc,) = get_scenarios(["flat"], 0.3)
    a, b = run_lockstep(sc, HOLD, seed=1), run_lockstep(sc, HOLD, seed=1)
    assert a.ended == "duration" and a.side == "lockstep"
    for name in ("t", "xy", "z", "tilt", "tau_ratio", "target"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    m = score(a, sc)
    assert not m.fell and m.ran_s >= sc.duration_s - 0.05 and 0.7 < m.final_height_m < 0.85
    assert len(a.target) == len(a.t) and np.abs(a.target[:, :2]).max() > 0.05  # the path reached the policy

    c = get_contract(23)
    layout = make_layout(23, role="student", heightmap=False)
    soft = tmp_path / "soft_hold.onnx"
    md = PolicyMetadata.for_contract(
        23,
        layout,
        ACTION_SCALE,
        ACTION_CLIP,
        c.kp,
        c.kd,
        provenance={"kind": "test: constant target on the policy gains"},
    )
    export_policy(zero_actor(layout.dim, 23), None, md, soft)
    r = run_lockstep(sc, soft)
    assert r.ended.startswith("safety: base tilt"), r.ended
    ms = score(r, sc)
    assert ms.fell and ms.ran_s < 1.5


def test_the_demo_policy_is_a_trained_policy_that_stands_in_lock_step_and_in_training():
    """``make demo`` runs the best trained policy shipped in models/, with its evaluation report beside it;
    it must at least stand still 10 s through the node cores (lock-step, deterministic) and in training."""
    import argparse
    import hashlib
    from pathlib import Path

    from hsi_kernel.policy_file import load_metadata
    from hsi_offline.evaluation.lockstep import run_lockstep
    from hsi_offline.evaluation.scenario_metrics import score
    from hsi_robot_nodes import bringup

    p = argparse.ArgumentParser()
    bringup.add_arguments(p, demo=True)
    path = p.parse_args([]).policy
    meta = load_metadata(path)
    assert meta.provenance.get("stage") == "distill" and meta.layout.heightmap_size  # trained, not a stub
    report = json.loads((models_dir() / "g1_23dof_student_cpu.eval" / "summary.json").read_text())
    assert report["policy_sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    (sc,) = get_scenarios(["stand"])
    for r in (run_lockstep(sc, path), run_training_env(sc, path, seed=0)):
        m = score(r, sc)
        assert m.completed and not m.fell, (r.side, m.why_not)
