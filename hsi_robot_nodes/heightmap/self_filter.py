"""Remove the robot's own body from a LiDAR scan: points inside its inflated collision capsules.

The head LiDAR sees the G1's arms and hands; fused into the map they become "terrain" at hand height right
where the feet go, and the policy would try to step onto its own arm. The body geometry comes from the
project's MJCF (the same model the simulator collides with) posed at the CURRENT joint angles with
``mj_kinematics``, expressed in the LiDAR frame so the test does not depend on odometry. Every collision geom
becomes a capsule: capsules as they are, spheres as zero-length capsules, anything else (boxes, meshes) as the
capsule enclosing its bounding box along the box's longest axis. ``inflate`` covers joint-state delay and
geometry the collision model simplifies (e.g. fingers); ``range_margin`` covers range noise: a point is also
removed when a point up to that far before or behind it along its ray lies in a capsule (noise moved a body
return off the body along the ray; real ground right behind the arm is hidden by the arm anyway).
"""

from __future__ import annotations

import math

import mujoco
import numba
import numpy as np

from hsi_kernel.contract import LIDAR_SITE, get_contract
from hsi_kernel.model.mjcf_builder import model_path
from hsi_robot_nodes import defaults


@numba.njit(cache=True, nogil=True)
def _outside(pts, a, b, r2, centre, bound2, back):  # pragma: no cover - compiled
    keep = np.ones(pts.shape[0], dtype=np.bool_)
    n_steps = 5
    for k in range(pts.shape[0]):
        rx, ry, rz = pts[k, 0], pts[k, 1], pts[k, 2]
        rng = math.sqrt(rx * rx + ry * ry + rz * rz)
        inside = False
        # points up to `back` metres before and behind it along its ray: range noise moves a return from
        # the arm's surface along the ray, but not by more than a few sigma
        for j in range(n_steps):
            s = 1.0 + (back * (2.0 * j / (n_steps - 1) - 1.0)) / rng if rng > 0.0 else 1.0
            if s <= 0.0:
                continue
            px, py, pz = rx * s, ry * s, rz * s
            dx, dy, dz = px - centre[0], py - centre[1], pz - centre[2]
            if dx * dx + dy * dy + dz * dz > bound2:
                continue
            for g in range(a.shape[0]):
                ux, uy, uz = b[g, 0] - a[g, 0], b[g, 1] - a[g, 1], b[g, 2] - a[g, 2]
                wx, wy, wz = px - a[g, 0], py - a[g, 1], pz - a[g, 2]
                uu = ux * ux + uy * uy + uz * uz
                t = 0.0
                if uu > 0.0:
                    t = min(max((wx * ux + wy * uy + wz * uz) / uu, 0.0), 1.0)
                ex, ey, ez = wx - t * ux, wy - t * uy, wz - t * uz
                if ex * ex + ey * ey + ez * ez <= r2[g]:
                    inside = True
                    break
            if inside:
                break
        keep[k] = not inside
    return keep


def _local_capsules(model: mujoco.MjModel, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per geom: capsule end points in the geom frame (G, 2, 3) and radius (G,)."""
    ends = np.zeros((len(geoms), 2, 3))
    radius = np.zeros(len(geoms))
    for k, g in enumerate(geoms):
        t, size = model.geom_type[g], model.geom_size[g]
        if t in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
            ends[k, :, 2] = (-size[1], size[1])
            radius[k] = size[0]  # a capsule of the same radius encloses a cylinder
        elif t == mujoco.mjtGeom.mjGEOM_SPHERE:
            radius[k] = size[0]
        else:  # box, ellipsoid, mesh: capsule around the local bounding box
            centre, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
            ax = int(np.argmax(half))
            others = [i for i in range(3) if i != ax]
            radius[k] = math.hypot(half[others[0]], half[others[1]])
            ends[k] = centre
            ends[k, 0, ax] -= half[ax]
            ends[k, 1, ax] += half[ax]
    return ends, radius


class SelfFilter:
    """Robot-body point filter for one G1 configuration, in the LiDAR (sensor site) frame."""

    def __init__(
        self,
        dof: int = defaults.DOF,
        inflate: float = 0.06,
        sensor_site: str = LIDAR_SITE,
        range_margin: float = 0.08,
    ):
        if not (math.isfinite(inflate) and inflate >= 0):
            raise ValueError(f"self-filter inflate must be a non-negative number of metres, got {inflate!r}")
        self.range_margin = float(range_margin)  # ~4 sigma of the MID-360 range noise
        self.model = mujoco.MjModel.from_xml_path(str(model_path(dof)))
        self.data = mujoco.MjData(self.model)
        self.contract = get_contract(dof)
        m = self.model
        self._site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, sensor_site)
        if self._site < 0:
            raise ValueError(f"the G1 model has no site '{sensor_site}' for the LiDAR")
        jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in self.contract.joint_names]
        self._qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self.geoms = np.array([g for g in range(m.ngeom) if m.geom_bodyid[g] != 0])
        self._ends, radius = _local_capsules(m, self.geoms)
        self._r2 = (radius + inflate) ** 2
        self.a = np.zeros((len(self.geoms), 3))
        self.b = np.zeros((len(self.geoms), 3))
        self._centre = np.zeros(3)
        self._bound2 = 0.0
        self.update(None)

    def update(self, q: np.ndarray | None) -> None:
        """Pose the capsules at joint angles ``q`` (contract order; ``None``: the default pose)."""
        q = self.contract.default_q if q is None else np.asarray(q, dtype=np.float64)
        if q.shape != (self.contract.dof,) or not np.all(np.isfinite(q)):
            raise ValueError(
                f"self-filter joint vector must be {self.contract.dof} finite angles, got shape {q.shape}"
            )
        d = self.data
        d.qpos[:] = self.model.qpos0
        d.qpos[self._qadr] = q
        mujoco.mj_kinematics(self.model, d)
        R_s, p_s = d.site_xmat[self._site].reshape(3, 3), d.site_xpos[self._site]
        R_g = d.geom_xmat[self.geoms].reshape(-1, 3, 3)
        world = np.einsum("gij,gkj->gki", R_g, self._ends) + d.geom_xpos[self.geoms][:, None, :]
        local = (world - p_s) @ R_s  # into the sensor frame
        self.a, self.b = np.ascontiguousarray(local[:, 0]), np.ascontiguousarray(local[:, 1])
        ends = local.reshape(-1, 3)
        self._centre = ends.mean(axis=0)
        reach = np.linalg.norm(local - self._centre, axis=2).max(axis=1) + np.sqrt(self._r2)
        self._bound2 = float(reach.max() ** 2)

    def keep_mask(self, points_sensor: np.ndarray) -> np.ndarray:
        """True for points (N, 3, LiDAR frame) outside every inflated body capsule."""
        pts = np.ascontiguousarray(points_sensor)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points must be (N, 3), got {pts.shape}")
        return _outside(pts, self.a, self.b, self._r2, self._centre, self._bound2, self.range_margin)
