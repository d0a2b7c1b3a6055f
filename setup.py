"""Packaging for hsi_robot: one tree that installs with pip (console scripts) and builds with colcon
(ament_python: the resource marker, package.xml and launch/config/models go to share/hsi_robot)."""

import os
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "hsi_robot"
HERE = Path(__file__).parent


def share_files(folder: str) -> list[tuple[str, list[str]]]:
    """Map every file under ``folder`` to share/hsi_robot/<folder>/... for colcon installs."""
    out: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(HERE)
            out.setdefault(str(Path("share", PACKAGE, rel.parent)), []).append(str(rel))
    return list(out.items())


# colcon (which sets COLCON=1) puts executables in lib/<package> where `ros2 run`/launch look for them;
# a pip install keeps them in the environment's bin/.
COLCON_OPTIONS = (
    {
        "develop": {"script_dir": f"$base/lib/{PACKAGE}"},
        "install": {"install_scripts": f"$base/lib/{PACKAGE}"},
    }
    if os.environ.get("COLCON")
    else {}
)

setup(
    name=PACKAGE,
    options=COLCON_OPTIONS,
    version="0.1.0",
    packages=find_packages(include=["hsi_kernel*", "hsi_sim*", "hsi_robot_nodes*", "hsi_offline*"]),
    include_package_data=True,
    package_data={"": ["*.yaml", "*.xml", "*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share_files("launch"),
        *share_files("config"),
        *share_files("models"),
    ],
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="hsi_robot developers",
    maintainer_email="hsi-robot@users.noreply.github.com",
    description="Video -> G1 whole-body controller: offline pipeline and onboard ROS 2 stack",
    license="MIT",
    entry_points={
        "console_scripts": [
            "hsi-robot = hsi_robot_nodes.cli:main",
            "hsi-offline = hsi_offline.cli:main",
            # one executable per onboard node, for ros2 launch (see config/nodes.yaml)
            "hsi_robot_control = hsi_robot_nodes.nodes.control:main",
            "unitree_bridge = hsi_robot_nodes.nodes.bridge_node:main",
            "policy_node = hsi_robot_nodes.nodes.policy_node:main",
            "joystick_node = hsi_robot_nodes.nodes.joystick_node:main",
            "heightmap_node = hsi_robot_nodes.nodes.heightmap_node:main",
        ],
    },
)
