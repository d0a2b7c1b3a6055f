"""The launch file cannot run here (no launch/launch_ros wheels); check it against the node list instead."""

import ast
import re
from pathlib import Path

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
