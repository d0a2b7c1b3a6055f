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


Box = tuple[float, float, float, float, float]


def terrain_boxes(terrain: Terrain, max_boxes: int = 2000) -> list[Box] | None:
    """The terrain as axis-aligned boxes (x0, x1, y0, y1, top) when it is piecewise flat, else None.

    Each grid sample owns the cell of +-resolution/2 around it; runs of equal height along x are merged,
    then identical runs on consecutive rows. Stairs, kerbs and benches become a few dozen boxes; rough
    terrain (more than ``max_boxes``) stays a heightfield.
    """
    h = np.round(terrain.heights / 1e-4).astype(np.int64)  # 0.1 mm
    r, (x0, y0) = terrain.resolution, terrain.origin
    open_runs: dict[tuple[int, int, int], int] = {}  # (col0, col1, height) -> first row
    boxes: list[tuple[int, int, int, int, int]] = []
    for row in range(h.shape[0] + 1):
        runs: set[tuple[int, int, int]] = set()
        if row < h.shape[0]:
            line = h[row]
            edges = np.flatnonzero(np.diff(line)) + 1
            starts, ends = np.r_[0, edges], np.r_[edges, len(line)] - 1
            runs = {(int(a), int(b), int(line[a])) for a, b in zip(starts, ends)}
        for run in list(open_runs):
            if run not in runs:
                boxes.append((*run[:2], open_runs.pop(run), row - 1, run[2]))
                if len(boxes) > max_boxes:
                    return None
        for run in runs:
            open_runs.setdefault(run, row)
    return [(x0 + (c0 - 0.5) * r, x0 + (c1 + 0.5) * r, y0 + (r0 - 0.5) * r, y0 + (r1 + 0.5) * r, top * 1e-4)
            for c0, c1, r0, r1, top in boxes]


def build_ray_model(scene: Scene) -> mujoco.MjModel:
    """The scene's robot with the terrain as boxes, for ray casting only (qpos layout of ``scene.model``).

    MuJoCo's ray-heightfield test walks the heightfield cells under the ray, which costs 0.2-0.4 s for a 20k-
    ray MID-360 scan over a 301 x 501 stairs grid (5 ms over a plane); a few dozen boxes cost about the same
    as the plane. The boxes follow the grid cells, so they differ from the heightfield's linear interpolation
    only inside the one cell of a step edge. Flat or rough terrain: the scene's own model.
    """
    terrain = scene.terrain
    boxes = None if terrain.is_flat else terrain_boxes(terrain)
    if boxes is None:
        return scene.model
    spec = mujoco.MjSpec.from_file(str(model_path(scene.dof)))
    bottom = float(terrain.heights.min()) - 0.05
    for i, (xa, xb, ya, yb, top) in enumerate(boxes):
        spec.worldbody.add_geom(name=f"terrain_{i}", type=mujoco.mjtGeom.mjGEOM_BOX, group=0,
                                contype=0, conaffinity=0,
                                size=[(xb - xa) / 2, (yb - ya) / 2, max((top - bottom) / 2, 1e-3)],
                                pos=[(xa + xb) / 2, (ya + yb) / 2, (top + bottom) / 2])
    model = spec.compile()
    if model.nq != scene.model.nq:
        raise RuntimeError("ray model and scene model disagree on qpos")
    return model
