"""Left-right mirror symmetry of the tracking task for rsl-rl's PPO data augmentation (algorithm.symmetry).

Why: the G1 and its motion set are mirror-symmetric (the clip stage adds every flat clip's mirror image,
``hsi_offline/motion/variants.py``), so each sample also says what the policy should do in the mirrored
situation. rsl-rl's ``Symmetry`` extension appends the mirrored observation/action pairs to every PPO
mini-batch (Mittal et al., ICRA 2024), which gets more learning out of each physics sample, the scarce
resource on a 2-core machine.

The mirror is the world reflected through the robot's sagittal plane (y -> -y), as ``variants.mirror``
reflects a clip. Every observation entry maps to one entry of the mirrored observation times a sign, so
each group's mirror is an index and a sign vector:

- joint-space terms (q - q_default, dq, last action, reference joints; and the actions): left and right joints
  swap and roll/yaw joints change sign, from ``variants.mirror_joint_map`` (the one joint table);
- the body angular velocity (a pseudo-vector) keeps its y component and flips x and z; projected gravity, the
  root target and heading-frame or world vectors flip y; yaw and roll angles change sign, pitch keeps its own;
- heightmap cells swap with the cell at the same forward offset and the opposite lateral offset
  (``grid_offsets``);
- the critic's privileged block (``TrackingEnv._privileged``): tracked links swap left/right (by name) and
  their vectors flip y; the two foot contacts and the two reference contacts swap.

``tests/test_training_symmetry.py`` checks that mirroring twice is the identity and that the mirrored
observation of a state equals the observation the environment builds for the mirrored state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from rsl_rl.algorithms import PPO
from rsl_rl.extensions import Symmetry
from rsl_rl.storage import RolloutStorage
from tensordict import TensorDict

from hsi_kernel.contract import TRACKED_LINKS
from hsi_kernel.heightmap.sampler import HeightmapSpec, grid_offsets
from hsi_kernel.observation import ObservationLayout
from hsi_offline.motion.variants import mirror_joint_map

# per-term mirror of the non-joint observation terms: (source index within the term, sign)
_VECTOR_TERMS: dict[str, tuple[list[int], list[float]]] = {
    "ang_vel": ([0, 1, 2], [-1.0, 1.0, -1.0]),  # a pseudo-vector: roll and yaw rates flip, pitch rate stays
    "projected_gravity": ([0, 1, 2], [1.0, -1.0, 1.0]),
    "target_xy": ([0, 1], [1.0, -1.0]),
    "target_yaw": ([0], [-1.0]),
    "ref_root_roll_pitch": ([0, 1], [-1.0, 1.0]),
}
_JOINT_TERMS = ("joint_pos", "joint_vel", "last_action", "ref_joint_pos")

PRIVILEGED_TERMS = (
    ("root_lin_vel_b", 3),
    ("root_height", 1),
    ("root_roll_pitch", 2),
    ("link_pos_heading", 3 * len(TRACKED_LINKS)),
    ("link_error_heading", 3 * len(TRACKED_LINKS)),
    ("link_vel_world", 3 * len(TRACKED_LINKS)),
    ("foot_contact", 2),
    ("ref_foot_contact", 2),
)
"""The critic's privileged block in ``TrackingEnv._privileged`` order (what the mirror below assumes; the
environment test of this module fails if the two drift apart)."""


def swap_left_right(names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Index of each name's mirror partner (``left_`` <-> ``right_``; other names map to themselves)."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        other = n.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_")
        if other not in index:
            raise ValueError(f"'{n}' has no mirror partner '{other}'")
        out.append(index[other])
    return np.asarray(out)


def heightmap_mirror(spec: HeightmapSpec) -> np.ndarray:
    """Index of the cell at the same forward and the opposite lateral offset, for every heightmap cell."""
    off = grid_offsets(spec)
    mirrored = off * np.array([1.0, -1.0])
    dist = np.abs(off[None, :, :] - mirrored[:, None, :]).sum(-1)
    src = dist.argmin(1)
    if not np.allclose(off[src], mirrored, atol=1e-9):
        raise ValueError("the heightmap grid is not symmetric about the robot's x axis")
    return src


@dataclass(frozen=True)
class VectorMirror:
    """``mirrored = x[..., index] * sign``: one observation group's (or the actions') mirror."""

    index: torch.Tensor
    sign: torch.Tensor

    @classmethod
    def from_parts(cls, parts: list[tuple[np.ndarray, np.ndarray]]) -> VectorMirror:
        """Concatenate per-block (index within the block, sign) into one mirror over the whole vector."""
        index, sign, start = [], [], 0
        for src, sgn in parts:
            index.append(np.asarray(src) + start)
            sign.append(np.asarray(sgn, dtype=np.float64))
            start += len(src)
        return cls(
            torch.as_tensor(np.concatenate(index), dtype=torch.long),
            torch.as_tensor(np.concatenate(sign), dtype=torch.float32),
        )

    def __len__(self) -> int:
        return len(self.index)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != len(self):
            raise ValueError(f"mirror of a {len(self)}-entry vector applied to {x.shape[-1]} entries")
        return x[..., self.index.to(x.device)] * self.sign.to(x.device, x.dtype)


def _term_parts(name: str, size: int, joints: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if name in _JOINT_TERMS:
        return joints
    if name in _VECTOR_TERMS:
        src, sign = _VECTOR_TERMS[name]
        if len(src) != size:
            raise ValueError(f"observation term '{name}' has {size} entries, its mirror {len(src)}")
        return np.asarray(src), np.asarray(sign)
    raise ValueError(f"observation term '{name}' has no mirror")


def layout_mirror(layout: ObservationLayout, spec: HeightmapSpec) -> VectorMirror:
    """The mirror of an observation with this layout: each proprio frame alike, extras, heightmap."""
    joints = mirror_joint_map(layout.dof)
    frame = [_term_parts(t.name, t.size, joints) for t in layout.proprio]
    parts = frame * layout.history
    parts += [_term_parts(t.name, t.size, joints) for t in layout.extras]
    if layout.heightmap_size:
        if layout.heightmap_size != spec.num_cells:
            raise ValueError(f"layout has {layout.heightmap_size} heightmap cells, the spec {spec.num_cells}")
        parts.append((heightmap_mirror(spec), np.ones(spec.num_cells)))
    return VectorMirror.from_parts(parts)


def privileged_mirror() -> VectorMirror:
    """The mirror of the critic's privileged block (``PRIVILEGED_TERMS``)."""
    links = swap_left_right(TRACKED_LINKS)
    per_link = (
        (3 * links[:, None] + np.arange(3)[None]).ravel(),
        np.tile([1.0, -1.0, 1.0], len(links)),
    )
    parts = {
        "root_lin_vel_b": (np.arange(3), np.array([1.0, -1.0, 1.0])),
        "root_height": (np.arange(1), np.ones(1)),
        "root_roll_pitch": (np.arange(2), np.array([-1.0, 1.0])),
        "link_pos_heading": per_link,
        "link_error_heading": per_link,
        "link_vel_world": per_link,
        "foot_contact": (np.array([1, 0]), np.ones(2)),
        "ref_foot_contact": (np.array([1, 0]), np.ones(2)),
    }
    return VectorMirror.from_parts([parts[name] for name, _ in PRIVILEGED_TERMS])


@dataclass(frozen=True)
class TaskMirror:
    """The mirror of every observation group the tracking environment builds, and of its actions."""

    groups: dict[str, VectorMirror]
    actions: VectorMirror

    @classmethod
    def for_layouts(
        cls, teacher: ObservationLayout, student: ObservationLayout, spec: HeightmapSpec
    ) -> TaskMirror:
        t = layout_mirror(teacher, spec)
        priv = privileged_mirror()
        critic = VectorMirror(torch.cat([t.index, priv.index + len(t)]), torch.cat([t.sign, priv.sign]))
        src, sign = mirror_joint_map(teacher.dof)
        actions = VectorMirror.from_parts([(src, sign)])
        groups = {"policy": t, "teacher": t, "student": layout_mirror(student, spec), "critic": critic}
        return cls(groups, actions)

    def observations(self, obs: TensorDict) -> TensorDict:
        """Every group of ``obs`` mirrored (same keys, same batch)."""
        return TensorDict(
            {k: self.groups[k](v) for k, v in obs.items()}, batch_size=obs.batch_size, device=obs.device
        )


def task_mirror(env: object) -> TaskMirror:
    """The environment's mirror, built once from its layouts and kept on it."""
    mirror = getattr(env, "task_mirror", None)
    if mirror is None:
        mirror = TaskMirror.for_layouts(env.teacher_layout, env.student_layout, env.hm_spec)  # type: ignore[attr-defined]
        env.task_mirror = mirror  # type: ignore[attr-defined]
    return mirror


def mirror_augmentation(
    env: object, obs: TensorDict | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """rsl-rl's ``data_augmentation_func``: [originals; mirrored] along the batch for observations and
    actions (either may be None)."""
    m = task_mirror(env)
    out_obs = None
    if obs is not None:
        n = obs.batch_size[0]
        out_obs = TensorDict(
            {k: torch.cat([v, m.groups[k](v)], dim=0) for k, v in obs.items()},
            batch_size=[2 * n],
            device=obs.device,
        )
    out_actions = None if actions is None else torch.cat([actions, m.actions(actions)], dim=0)
    return out_obs, out_actions


class _AugmentationOnly(Symmetry):
    """rsl-rl's ``Symmetry`` for data augmentation without the mirror loss. Its logged symmetry loss (how far
    the policy is from mirror-symmetric) comes from the action means the PPO update has just computed on the
    augmented batch, instead of one more actor pass over it (which rsl-rl runs even when the loss is only
    logged, a third more actor work per mini-batch)."""

    def compute_loss(self, actor, batch: RolloutStorage.Batch, original_batch_size: int) -> torch.Tensor:  # type: ignore[override]
        with torch.no_grad():
            mean = actor.output_mean
            n = original_batch_size
            _, mirrored = self.data_augmentation_func(env=self.env, obs=None, actions=mean[:n])
            return torch.nn.functional.mse_loss(mean[n:], mirrored[n:])


class MirrorPPO(PPO):
    """rsl-rl PPO with mirrored samples appended to every mini-batch (``algorithm.symmetry: true``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        s = self.symmetry
        if s is None or not s.use_data_augmentation or s.use_mirror_loss:
            raise ValueError("MirrorPPO needs symmetry_cfg with use_data_augmentation and no mirror loss")
        self.symmetry = _AugmentationOnly(s.env, s.data_augmentation_func, True, False, 0.0)


def symmetry_cfg() -> dict:
    """The ``symmetry_cfg`` of rsl-rl's PPO for this task (the runner adds the environment)."""
    return {
        "data_augmentation_func": "hsi_offline.training.symmetry:mirror_augmentation",
        "use_data_augmentation": True,
        "use_mirror_loss": False,
        "mirror_loss_coeff": 0.0,
    }
