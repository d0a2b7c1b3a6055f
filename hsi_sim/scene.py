"""Assemble a MuJoCo model: the project's G1 MJCF plus a terrain (plane when flat, heightfield otherwise).

The terrain is always a ``Terrain`` heightfield so the same object answers "how high is the ground here" for
the simulator, the LiDAR ray caster, the heightmap accuracy benchmark and training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from hsi_kernel.contract import NOMINAL_ROOT_HEIGHT
from hsi_kernel.model.mjcf_builder import TERRAIN_CONAFFINITY, TERRAIN_CONTYPE, model_path
from hsi_kernel.terrain import Terrain, TerrainError, make_scene_terrain
from hsi_kernel.unitree import link


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


def add_terrain(
    spec: mujoco.MjSpec,
    terrain: Terrain,
    friction: float = 1.0,
    name: str = "terrain",
    offset: tuple[float, float] = (0.0, 0.0),
    flat_half_size: float | None = None,
) -> None:
    """Add the terrain to a spec's world body as a plane (flat) or a heightfield geom called ``name``, shifted
    by ``offset`` (x, y). With ``flat_half_size`` a flat terrain becomes a finite slab of that half size
    instead of an infinite plane (tiles of several terrains in one model must not reach under each other)."""
    common = dict(
        contype=TERRAIN_CONTYPE,
        conaffinity=TERRAIN_CONAFFINITY,
        friction=[friction, 0.02, 0.01],
        rgba=[0.45, 0.5, 0.45, 1.0],
        group=0,
    )
    ox, oy = offset
    if terrain.is_flat:
        top = float(terrain.heights[0, 0])
        if flat_half_size is None:
            spec.worldbody.add_geom(
                name=name, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05], pos=[ox, oy, top], **common
            )
        else:
            spec.worldbody.add_geom(
                name=name,
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[flat_half_size, flat_half_size, 0.1],
                pos=[ox, oy, top - 0.1],
                **common,
            )
        return
    ny, nx = terrain.shape
    h = terrain.heights
    lo, span = float(h.min()), max(float(np.ptp(h)), 1e-6)
    xmin, xmax, ymin, ymax = terrain.extent
    spec.add_hfield(
        name=name,
        size=[(xmax - xmin) / 2, (ymax - ymin) / 2, span, 0.2],
        nrow=ny,
        ncol=nx,
        userdata=((h - lo) / span).astype(np.float32).ravel().tolist(),
    )
    spec.worldbody.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_HFIELD,
        hfieldname=name,
        pos=[(xmin + xmax) / 2 + ox, (ymin + ymax) / 2 + oy, lo],
        **common,
    )


FLAT_TILE_HALF_SIZE = 30.0
"""Half size (m) of a flat terrain's slab in a tiled model: room for a 20 s episode at any walking speed."""


def build_tiled_model(
    terrains: list[Terrain], dof: int = link.DOF, timestep: float = 0.002, margin: float = 10.0
) -> tuple[mujoco.MjModel, np.ndarray]:
    """One model holding every terrain side by side along x, and each tile's (x, y) offset.

    Why: a batched simulator (MuJoCo Warp) steps many worlds of ONE model, so environments on different
    terrains stand on different tiles of the same model; the backend shifts a world's robot by its tile's
    offset and reports positions in the terrain's own frame, so nothing else sees the tiling. Piecewise-flat
    terrains (stairs, kerbs, benches) become boxes (``terrain_boxes``), others stay height fields.
    """

    def half_width(t: Terrain) -> float:
        if t.is_flat:
            return FLAT_TILE_HALF_SIZE
        xmin, xmax, ymin, ymax = t.extent
        return max(abs(xmin), abs(xmax), abs(ymin), abs(ymax))

    pitch = 2 * max(half_width(t) for t in terrains) + margin
    offsets = np.array([[k * pitch, 0.0] for k in range(len(terrains))])
    spec = mujoco.MjSpec.from_file(str(model_path(dof)))
    spec.option.timestep = timestep
    slab = FLAT_TILE_HALF_SIZE if len(terrains) > 1 else None  # alone, a flat terrain stays a plane
    common = dict(
        contype=TERRAIN_CONTYPE,
        conaffinity=TERRAIN_CONAFFINITY,
        friction=[1.0, 0.02, 0.01],
        rgba=[0.45, 0.5, 0.45, 1.0],
        group=0,
    )
    for k, t in enumerate(terrains):
        ox = float(offsets[k, 0])
        boxes = None if t.is_flat else terrain_boxes(t, max_boxes=400)
        if boxes is None:
            add_terrain(spec, t, name=f"terrain_{k}", offset=(ox, 0.0), flat_half_size=slab)
            continue
        # piecewise-flat terrain as boxes: a batched simulator caps contacts per geom pair (MuJoCo Warp: 50
        # height-field prisms), which a foot on a 2 cm height field exceeds; boxes collide exactly and cheaply
        bottom = float(t.heights.min()) - 0.2
        for j, (x0, x1, y0, y1, top) in enumerate(boxes):
            spec.worldbody.add_geom(
                name=f"terrain_{k}_{j}",
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[(x1 - x0) / 2, (y1 - y0) / 2, (top - bottom) / 2],
                pos=[(x0 + x1) / 2 + ox, (y0 + y1) / 2, (top + bottom) / 2],
                **common,
            )
    pelvis = spec.body("pelvis")
    pelvis.pos = [0.0, 0.0, float(terrains[0].height_at(np.zeros(2))) + NOMINAL_ROOT_HEIGHT + 0.02]
    try:
        model = spec.compile()
    except Exception as e:
        raise TerrainError(f"cannot build the tiled model of {len(terrains)} terrains: {e}") from None
    return model, offsets


def build_scene(
    scene: str | Path | Terrain = "flat",
    dof: int = link.DOF,
    timestep: float = 0.002,
    start_xy: tuple[float, float] = (0.0, 0.0),
    start_yaw: float = 0.0,
    edit: Callable[[mujoco.MjSpec], None] | None = None,
) -> Scene:
    """Compile the G1 standing at ``start_xy`` on the terrain (pelvis at nominal height above the ground).

    ``edit`` changes the spec before it is compiled (training adds its contact sensors this way)."""
    terrain = scene if isinstance(scene, Terrain) else resolve_terrain(scene)
    spec = mujoco.MjSpec.from_file(str(model_path(dof)))
    spec.option.timestep = timestep
    add_terrain(spec, terrain)
    spec.worldbody.add_light(pos=[0, 0, 4], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
    pelvis = spec.body("pelvis")
    ground = float(terrain.height_at(np.array(start_xy)))
    pelvis.pos = [start_xy[0], start_xy[1], ground + NOMINAL_ROOT_HEIGHT + 0.02]
    pelvis.quat = [np.cos(start_yaw / 2), 0, 0, np.sin(start_yaw / 2)]
    if edit is not None:
        edit(spec)
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
    return [
        (x0 + (c0 - 0.5) * r, x0 + (c1 + 0.5) * r, y0 + (r0 - 0.5) * r, y0 + (r1 + 0.5) * r, top * 1e-4)
        for c0, c1, r0, r1, top in boxes
    ]


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
        spec.worldbody.add_geom(
            name=f"terrain_{i}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            group=0,
            contype=0,
            conaffinity=0,
            size=[(xb - xa) / 2, (yb - ya) / 2, max((top - bottom) / 2, 1e-3)],
            pos=[(xa + xb) / 2, (ya + yb) / 2, (top + bottom) / 2],
        )
    model = spec.compile()
    if model.nq != scene.model.nq:
        raise RuntimeError("ray model and scene model disagree on qpos")
    return model
