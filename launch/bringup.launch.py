"""ros2 launch hsi_robot bringup.launch.py [sim:=true] [dof:=23] [policy:=...] [interface:=eth0] [domain:=0]

Reads the node list from config/nodes.yaml, the same file `hsi-robot bringup` uses, so the two cannot drift.
The nodes that share the control process (bridge, policy, joystick) run in one process, the control executable
(`hsi_robot_control`, bringup's composition: their hot topics go over local_bus); the nodes marked
`process: own` (heightmap) are node executables of their own.
"""

from pathlib import Path

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from hsi_robot_nodes import defaults
from launch import LaunchDescription

# a launch targets the robot: its DDS domain and interface, not the simulator's defaults
ARGS = {
    "sim": "false",
    "dof": str(defaults.DOF),
    "domain": "0",
    "interface": "eth0",
    "scene": "flat",
    "policy": "",
    "blind_policy": "",
    "heightmap": "true",
}


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory("hsi_robot"))
    node_list = yaml.safe_load((share / "config" / "nodes.yaml").read_text())
    nodes = node_list["nodes"]
    actions = [DeclareLaunchArgument(k, default_value=v) for k, v in ARGS.items()]
    actions.append(
        ExecuteProcess(
            cmd=[
                "hsi-robot",
                "sim",
                "--dof",
                LaunchConfiguration("dof"),
                "--domain",
                LaunchConfiguration("domain"),
                "--interface",
                LaunchConfiguration("interface"),
                "--scene",
                LaunchConfiguration("scene"),
                "--band",
            ],
            condition=IfCondition(LaunchConfiguration("sim")),
            output="screen",
        )
    )
    # the control process: its nodes' parameters come from the node list; the launch arguments they take
    # become the control executable's flags (dof -> --dof, blind_policy -> --blind-policy)
    control_args: list = []
    shared = [spec for spec in nodes if spec.get("process") != "own"]
    for key in dict.fromkeys(k for spec in shared for k in spec.get("from_args", [])):
        control_args += ["--" + key.replace("_", "-"), LaunchConfiguration(key)]
    actions.append(
        Node(
            package="hsi_robot",
            executable=node_list["control_process"]["executable"],
            arguments=control_args,
            output="screen",
        )
    )
    for spec in nodes:
        if spec.get("process") != "own":
            continue
        params = dict(spec.get("params") or {})
        params.update({k: LaunchConfiguration(k) for k in spec.get("from_args", [])})
        cond = IfCondition(LaunchConfiguration(spec["optional_flag"])) if spec.get("optional_flag") else None
        actions.append(
            Node(
                package="hsi_robot",
                executable=spec["executable"],
                name=spec["name"],
                parameters=[params],
                output="screen",
                condition=cond,
            )
        )
    return LaunchDescription(actions)
