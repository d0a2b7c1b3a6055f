"""Assemble a MuJoCo model: the project's G1 MJCF plus a terrain (plane when flat, heightfield otherwise).

The terrain is always a ``Terrain`` heightfield so the same object answers "how high is the ground here" for
the simulator, the LiDAR ray caster, the heightmap accuracy benchmark and training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from hsi_robot_nodes.contract import NOMINAL_ROOT_HEIGHT
from hsi_robot_nodes.model.mjcf_builder import TERRAIN_CONAFFINITY, TERRAIN_CONTYPE, model_path
from hsi_robot_nodes.terrain import Terrain, TerrainError, make_scene_terrain


@dataclass
class Scene:
    model: mujoco.MjModel
    terrain: Terrain
    dof: int
    name: str


def resolve_terrain(scene: str | Path) -> Terrain:
    """A scene name (flat, stairs, ...) or a path to a terrain ``.npz``."""
    text = str(scene)
    if text.endswith(".npz") or Path(text).suffix:
        return Terrain.load(text)
    return make_scene_terrain(text)


def add_terrain(spec: mujoco.MjSpec, terrain: Terrain, friction: float = 1.0) -> None:
    """Add the terrain to a spec's world body as a plane (flat) or a heightfield geom named 'terrain'."""
    common = dict(contype=TERRAIN_CONTYPE, conaffinity=TERRAIN_CONAFFINITY, friction=[friction, 0.02, 0.01],
                  rgba=[0.45, 0.5, 0.45, 1.0], group=0)
    if terrain.is_flat:
        spec.worldbody.add_geom(name="terrain", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05],
                                pos=[0, 0, float(terrain.heights[0, 0])], **common)
        return
    ny, nx = terrain.shape
    h = terrain.heights
    lo, span = float(h.min()), max(float(np.ptp(h)), 1e-6)
    xmin, xmax, ymin, ymax = terrain.extent
    spec.add_hfield(name="terrain", size=[(xmax - xmin) / 2, (ymax - ymin) / 2, span, 0.2], nrow=ny, ncol=nx,
                    userdata=((h - lo) / span).astype(np.float32).ravel().tolist())
    spec.worldbody.add_geom(name="terrain", type=mujoco.mjtGeom.mjGEOM_HFIELD, hfieldname="terrain",
                            pos=[(xmin + xmax) / 2, (ymin + ymax) / 2, lo], **common)


def build_scene(scene: str | Path | Terrain = "flat", dof: int = 23, timestep: float = 0.002,
                start_xy: tuple[float, float] = (0.0, 0.0), start_yaw: float = 0.0) -> Scene:
    """Compile the G1 standing at ``start_xy`` on the terrain (pelvis at nominal height above the ground)."""
    terrain = scene if isinstance(scene, Terrain) else resolve_terrain(scene)
    spec = mujoco.MjSpec.from_file(str(model_path(dof)))
    spec.option.timestep = timestep
    add_terrain(spec, terrain)
    spec.worldbody.add_light(pos=[0, 0, 4], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
    pelvis = spec.body("pelvis")
    ground = float(terrain.height_at(np.array(start_xy)))
    pelvis.pos = [start_xy[0], start_xy[1], ground + NOMINAL_ROOT_HEIGHT + 0.02]
    pelvis.quat = [np.cos(start_yaw / 2), 0, 0, np.sin(start_yaw / 2)]
    try:
        model = spec.compile()
    except Exception as e:
        raise TerrainError(f"cannot build the '{terrain.name}' scene: {e}") from None
    return Scene(model, terrain, dof, terrain.name)
