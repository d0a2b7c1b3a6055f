"""The joystick node through real rclpy/DDS: Joy in, root target / policy selection / bridge events out."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Joy
from std_msgs.msg import String

from hsi_kernel.unitree.remote import AXES, BUTTONS
from hsi_robot_nodes import defaults
from hsi_robot_nodes.nodes.joystick_node import build_node


class Operator:
    def __init__(self, ctx, joy_topic):
        self.node = rclpy.create_node("operator", context=ctx)
        self.pub_joy = self.node.create_publisher(Joy, joy_topic, 10)
        self.pub_goal = self.node.create_publisher(PoseStamped, defaults.GOAL_POSE, 10)
        self.pub_odom = self.node.create_publisher(Odometry, defaults.ODOMETRY, 10)
        self.targets, self.stamps, self.selects, self.events = [], [], [], []
        self.node.create_subscription(PoseStamped, defaults.ROOT_TARGET, self._on_target, 10)
        self.node.create_subscription(
            String, defaults.POLICY_SELECT, lambda m: self.selects.append(m.data), 10
        )
        self.node.create_subscription(String, defaults.BRIDGE_EVENT, lambda m: self.events.append(m.data), 10)
        self.axes, self.buttons, self.sending = [], [], True
        self.node.create_timer(0.02, self._send)

    def _on_target(self, m):
        o = m.pose.orientation
        self.targets.append((m.pose.position.x, m.pose.position.y, 2 * math.atan2(o.z, o.w)))
        self.stamps.append(m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec)

    def _send(self):
        if self.sending:
            self.pub_joy.publish(Joy(axes=[float(a) for a in self.axes], buttons=list(self.buttons)))


def _spin(ex, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.002)


def _run(ctx, node, op, fn):
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(op.node)
    try:
        fn(ex)
    finally:
        ex.shutdown()
        node.destroy_node()
        op.node.destroy_node()


def test_unitree_remote_drives_root_target_and_policy_toggle(ctx):
    node = build_node(context=ctx)  # defaults: the bridge's remote topic, unitree profile
    op = Operator(ctx, defaults.REMOTE)
    op.axes, op.buttons = [0.0] * len(AXES), [0] * len(BUTTONS)

    def scenario(ex):
        op.axes[AXES.index("ly")], op.axes[AXES.index("rx")] = 1.0, 1.0
        _spin(ex, 0.8)
        x, y, yaw = op.targets[-1]
        assert x == pytest.approx(0.5, abs=1e-6) and y == 0.0 and yaw == pytest.approx(-0.3, abs=1e-6)
        xs, ts = np.array([t[0] for t in op.targets]), np.array(op.stamps)
        assert np.all(np.diff(xs) <= 1.0 * np.diff(ts) + 0.005)  # rate limited: 1 m/s
        assert np.diff(xs).max() > 0.01  # and really ramping
        op.buttons[BUTTONS.index("B")] = 1
        op.buttons[BUTTONS.index("start")] = 1
        _spin(ex, 0.2)
        assert op.selects == ["blind"]  # once per press, however long it is held
        assert op.events == []  # the bridge reads start/A/select from LowState itself
        op.sending = False  # remote lost: after the timeout the target returns to zero
        _spin(ex, 1.6)
        assert op.targets[-1] == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)

    _run(ctx, node, op, scenario)


def test_gamepad_profile_forwards_events_and_follows_goal(ctx):
    node = build_node(context=ctx, profile="xbox", joy_topic=defaults.JOY, odom_source="torso")
    op = Operator(ctx, defaults.JOY)
    op.axes, op.buttons = [0.0] * 6, [0] * 8

    def scenario(ex):
        op.buttons[0] = 1  # A
        _spin(ex, 0.2)
        op.buttons[0], op.buttons[7] = 0, 1  # release A, press start
        _spin(ex, 0.2)
        assert op.events == ["run", "start"]
        # goal 0.2 m to the robot's left (robot at the origin facing +y: goal at x = -0.2 in odometry)
        odom = Odometry()
        facing_y = (math.sin(math.pi / 4), math.cos(math.pi / 4))
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = facing_y
        goal = PoseStamped()
        goal.pose.position.x = -0.2
        goal.pose.orientation.z, goal.pose.orientation.w = facing_y
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            op.pub_odom.publish(odom)
            op.pub_goal.publish(goal)
            _spin(ex, 0.02)
        x, y, yaw = op.targets[-1]
        assert x == pytest.approx(0.0, abs=1e-6) and y == pytest.approx(0.2, abs=1e-6)
        assert yaw == pytest.approx(0.0, abs=1e-6)

    _run(ctx, node, op, scenario)


def test_goal_mode_with_fast_lio_odometry_of_the_upside_down_lidar(ctx):
    """FAST-LIO2 reports the MID-360's pose in camera_init (z down, y mirrored). A robot 0.2 m LEFT of a goal
    straight ahead must be told to go RIGHT (negative y), and one yawed left of the goal's heading to turn
    right."""
    import mujoco

    from hsi_sim.lidar import OdometryNoise, SimLidar, SimOdometry, _quat_xyzw
    from hsi_sim.scene import build_scene

    scene = build_scene("flat")
    data = mujoco.MjData(scene.model)
    lidar, sim_odom = SimLidar(scene.model), SimOdometry(OdometryNoise(0, 0, 0, 0, 0))
    z0 = float(data.qpos[2])

    def odometry_at(x, y, yaw):
        data.qpos[0:3] = (x, y, z0)
        data.qpos[3:7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
        mujoco.mj_kinematics(scene.model, data)
        p, R = sim_odom.odometry(*lidar.sensor_pose(data))
        msg = Odometry()
        msg.header.frame_id, msg.child_frame_id = "camera_init", "body"
        msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z = (float(v) for v in p)
        o = msg.pose.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in _quat_xyzw(R))
        return msg

    odometry_at(0.0, 0.0, 0.0)  # odometry starts with the torso at the origin: the map frame
    node = build_node(context=ctx)  # odom_source: lidar (the default)
    op = Operator(ctx, defaults.REMOTE)

    def scenario(ex):
        goal = PoseStamped()
        goal.header.frame_id = "hsi_map"
        goal.pose.position.x, goal.pose.orientation.w = 1.0, 1.0  # 1 m ahead, heading +x
        odom = odometry_at(1.0, 0.2, 0.3)  # on the goal's x but 0.2 m to its left, yawed 0.3 rad left
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            op.pub_odom.publish(odom)
            op.pub_goal.publish(goal)
            _spin(ex, 0.02)
        x, y, yaw = op.targets[-1]
        # the offset in the robot's heading frame: (R(-0.3) @ (0, -0.2)), turn -0.3
        assert x == pytest.approx(-0.2 * math.sin(0.3), abs=2e-3)
        assert y == pytest.approx(-0.2 * math.cos(0.3), abs=2e-3)
        assert yaw == pytest.approx(-0.3, abs=2e-3)

    _run(ctx, node, op, scenario)


def test_bad_parameters_refused(ctx):
    with pytest.raises(ValueError, match="unknown joystick profile"):
        build_node(context=ctx, profile="ps9")
    with pytest.raises(ValueError, match="unknown parameters"):
        build_node(context=ctx, speed=3)
