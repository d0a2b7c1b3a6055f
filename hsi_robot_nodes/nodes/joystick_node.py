"""rclpy shell around the root-command core: parameters, topics and a timer only (logic in joystick/).

Reads a sensor_msgs/Joy (the Unitree remote republished by the bridge, or any gamepad through a profile),
an optional goal pose (PoseStamped in the map frame ``hsi_map``: the torso at odometry start, x forward,
z up, the frame the heightmap node's operator view uses) and odometry (nav_msgs/Odometry; by default
FAST-LIO2's LiDAR pose in ``camera_init``, converted to the torso pose by ``frames.torso_in_map`` because the
upside-down MID-360 mirrors y and yaw; ``odom_source: torso`` for an odometry of the torso already in a
gravity-aligned frame); publishes the root
target (PoseStamped: x, y, yaw offset in the heading frame) at ``rate_hz``, bridge events (String) on button
presses and the policy selection (String) on B. A Joy stream that stops for ``joy_timeout_s`` reads as
centred sticks, so a lost gamepad cannot keep commanding. X clears the goal.
"""

from __future__ import annotations

import math
import sys
import time

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import String

from hsi_kernel.frames import lidar_extrinsic_from_model, quat_xyzw_to_matrix, torso_in_map, yaw_of
from hsi_robot_nodes import defaults
from hsi_robot_nodes.joystick.buttons import ButtonMapper
from hsi_robot_nodes.joystick.profiles import get_profile, read_joy
from hsi_robot_nodes.joystick.root_command import RootCommand, RootCommandConfig, yaw_from_quat_xyzw
from hsi_robot_nodes.nodes.run import run_node

_CFG = RootCommandConfig()
DEFAULTS = {
    "profile": "unitree",
    "forward_events": "auto",
    "rate_hz": 50.0,
    "joy_timeout_s": 0.5,
    "scale_x": _CFG.scale_x,
    "scale_y": _CFG.scale_y,
    "scale_yaw": _CFG.scale_yaw,
    "dead_zone": _CFG.dead_zone,
    "max_rate_xy": _CFG.max_rate_xy,
    "max_rate_yaw": _CFG.max_rate_yaw,
    "odom_timeout_s": _CFG.odom_timeout_s,
    "joy_topic": defaults.REMOTE,
    "goal_topic": defaults.GOAL_POSE,
    "odom_topic": defaults.ODOMETRY,
    "root_target_topic": defaults.ROOT_TARGET,
    "event_topic": defaults.BRIDGE_EVENT,
    "policy_select_topic": defaults.POLICY_SELECT,
    "frame_id": "base_heading",
    "odom_source": "lidar",
    "dof": defaults.DOF,
}
GOAL_CLEAR_BUTTON = "X"


class JoystickNode(Node):
    def __init__(self, context=None, **overrides):
        super().__init__("joystick_node", context=context)
        unknown = set(overrides) - set(DEFAULTS)
        if unknown:
            self.destroy_node()
            raise ValueError(f"joystick_node: unknown parameters {sorted(unknown)}")
        for k, v in {**DEFAULTS, **overrides}.items():
            self.declare_parameter(k, v)
        g = lambda k: self.get_parameter(k).value  # noqa: E731
        try:
            self.profile = get_profile(g("profile"))
            fwd = str(g("forward_events")).lower()
            if fwd not in ("auto", "true", "false"):
                raise ValueError(f"forward_events must be auto, true or false, got '{fwd}'")
            rate = float(g("rate_hz"))
            if not (math.isfinite(rate) and rate > 0):
                raise ValueError(f"rate_hz must be positive, got {rate}")
            self.odom_source = str(g("odom_source"))
            if self.odom_source not in ("lidar", "torso"):
                raise ValueError(f"odom_source must be lidar or torso, got '{self.odom_source}'")
            self._extrinsic = (
                lidar_extrinsic_from_model(int(g("dof"))) if self.odom_source == "lidar" else None
            )
        except ValueError:
            self.destroy_node()
            raise
        self.command = RootCommand(
            RootCommandConfig(
                g("scale_x"),
                g("scale_y"),
                g("scale_yaw"),
                g("dead_zone"),
                g("max_rate_xy"),
                g("max_rate_yaw"),
                g("odom_timeout_s"),
            )
        )
        forward = self.profile.forward_events if fwd == "auto" else fwd == "true"
        self.buttons = ButtonMapper(forward_events=forward)
        self.joy_timeout = float(g("joy_timeout_s"))
        self.frame_id = g("frame_id")
        self.pub_target = self.create_publisher(PoseStamped, g("root_target_topic"), 10)
        self.pub_event = self.create_publisher(String, g("event_topic"), 10)
        self.pub_select = self.create_publisher(String, g("policy_select_topic"), 10)
        self.create_subscription(Joy, g("joy_topic"), self._on_joy, 10)
        self.create_subscription(PoseStamped, g("goal_topic"), self._on_goal, 10)
        self.create_subscription(Odometry, g("odom_topic"), self._on_odom, 10)
        self._joy_time = -math.inf
        self._last = time.monotonic()
        self.create_timer(1.0 / rate, self._tick)

    def _on_joy(self, msg: Joy) -> None:
        sticks, pressed = read_joy(self.profile, msg.axes, msg.buttons)
        if self.command.set_sticks(sticks["lx"], sticks["ly"], sticks["rx"]):
            self._joy_time = time.monotonic()  # a dropped sample does not keep old sticks alive
        else:
            self.get_logger().warning("non-finite joystick axes dropped", throttle_duration_sec=1.0)
        events, select = self.buttons.update(pressed)
        for ev in events:
            self.pub_event.publish(String(data=ev))
        if select is not None:
            self.pub_select.publish(String(data=select))
        if GOAL_CLEAR_BUTTON in pressed and self.command.goal is not None:
            self.command.clear_goal()
            self.get_logger().info("goal cleared")

    def _on_goal(self, msg: PoseStamped) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        if not self.command.set_goal(p.x, p.y, yaw_from_quat_xyzw(o.x, o.y, o.z, o.w)):
            self.get_logger().warning("goal ignored: its pose is not finite")

    def _on_odom(self, msg: Odometry) -> None:
        p, o = msg.pose.pose.position, msg.pose.pose.orientation
        if self._extrinsic is None:
            pose = (p.x, p.y, yaw_from_quat_xyzw(o.x, o.y, o.z, o.w))
        else:
            try:
                R = quat_xyzw_to_matrix((o.x, o.y, o.z, o.w))
            except ValueError as e:
                self.get_logger().warning(f"odometry ignored: {e}", throttle_duration_sec=1.0)
                return
            torso, R_torso = torso_in_map((p.x, p.y, p.z), R, *self._extrinsic)
            pose = (float(torso[0]), float(torso[1]), yaw_of(R_torso))
        if not self.command.set_odometry(*pose, time.monotonic()):
            self.get_logger().warning("non-finite odometry dropped", throttle_duration_sec=1.0)

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._joy_time > self.joy_timeout:
            self.command.set_sticks(0.0, 0.0, 0.0)
        x, y, yaw = self.command.step(now - self._last, now)
        self._last = now
        msg = PoseStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.frame_id
        msg.pose.position.x, msg.pose.position.y = float(x), float(y)
        msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw / 2.0), math.cos(yaw / 2.0)
        self.pub_target.publish(msg)


def build_node(context=None, **params) -> JoystickNode:
    """The node in-process (bringup, tests); one-line ValueError on bad parameters."""
    return JoystickNode(context=context, **params)


def main(argv: list[str] | None = None) -> int:
    return run_node("joystick_node", build_node, (ValueError,), argv)


if __name__ == "__main__":
    sys.exit(main())
