"""``hsi_robot_control``: the control process that ``ros2 launch hsi_robot bringup.launch.py`` starts.

It runs the nodes of config/nodes.yaml that are not marked ``process: own`` (bridge, policy, joystick) in one
process, composed exactly as `hsi-robot bringup` composes them, so ``local_bus`` carries the control path
(joint states + IMU -> policy -> PD targets -> LowCmd) on the robot as in the benchmark. The launch file
starts the ``process: own`` nodes itself. Arguments are bringup's (``--dof``, ``--domain``, ``--interface``,
``--policy``, ``--blind-policy``); ROS arguments after ``--ros-args`` go to the process's rclpy context.
"""

from __future__ import annotations

import argparse
import sys

from hsi_robot_nodes import bringup


def main(argv: list[str] | None = None) -> int:
    from rclpy.utilities import remove_ros_args

    from hsi_kernel.unitree.sdk import DdsSetupError
    from hsi_robot_nodes.bridge.runtime import BridgeError

    full = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    p = argparse.ArgumentParser(prog="hsi_robot_control", description=__doc__.split("\n\n")[0])
    bringup.add_arguments(p)
    a = p.parse_args(remove_ros_args(full)[1:])
    if not a.policy:  # the launch file's empty default: bringup's own default (the hold placeholder)
        a.policy = p.get_default("policy")
    a.sim, a.control_only = False, True
    a.ros_args = full if "--ros-args" in full else None
    try:
        return bringup.run(a)
    except (BridgeError, DdsSetupError, ValueError, FileNotFoundError) as e:
        print(f"hsi_robot_control: refusing to start: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
