"""The launch file cannot run here (no launch/launch_ros wheels); check it against the node list instead."""

import ast
import re
from pathlib import Path

import yaml

from hsi_robot_nodes.bringup import load_node_list

ROOT = Path(__file__).resolve().parent.parent


def test_launch_file_reads_the_shared_node_list_and_declares_every_argument():
    src = (ROOT / "launch/bringup.launch.py").read_text()
    tree = ast.parse(src)
    args = next(
        n for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ARGS"
    )
    declared = {k.value for k in args.value.keys}
    assert '"nodes.yaml"' in src
    for spec in load_node_list():
        assert set(spec.get("from_args", [])) <= declared, spec["name"]
        if spec.get("optional_flag"):
            assert spec["optional_flag"] in declared


def test_every_node_executable_is_a_console_script():
    setup = (ROOT / "setup.py").read_text()
    scripts = set(re.findall(r'"(\w+) = hsi_robot_nodes\.nodes\.(\w+):main"', setup))
    for spec in load_node_list():
        assert (spec["executable"], spec["module"].rsplit(".", 1)[1]) in scripts, spec["name"]
    control = yaml.safe_load((ROOT / "config/nodes.yaml").read_text())["control_process"]["executable"]
    assert (control, "control") in scripts


def test_launch_starts_the_shared_nodes_in_the_control_process_and_the_rest_on_their_own():
    src = (ROOT / "launch/bringup.launch.py").read_text()
    assert 'node_list["control_process"]["executable"]' in src  # one control process, from the list
    assert 'spec.get("process") != "own"' in src  # its nodes are not started again as node executables
    # the control executable's flags are bringup's: every launch argument the shared nodes take is one
    import argparse

    from hsi_robot_nodes.bringup import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    flags = {a for action in p._actions for a in action.option_strings}
    for spec in load_node_list():
        if spec.get("process") != "own":
            for key in spec.get("from_args", []):
                assert "--" + key.replace("_", "-") in flags, key
