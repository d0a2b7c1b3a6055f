"""Episode terminations: a tracked link too far from its reference, or forbidden-body contact.

VideoMimic ends an episode when any tracked link is farther than 0.3 m (pre-training), 0.5 m (terrain
tracking) or 1.2 m (fine-tuning) from its reference: the threshold is the stage's ``termination_distance``.
Time-outs (the episode limit, the end of the clip) are reported separately because PPO bootstraps them.
"""

from __future__ import annotations

import torch


def link_error(link_pos: torch.Tensor, link_pos_ref: torch.Tensor) -> torch.Tensor:
    """(N,) largest tracked-link distance from the reference."""
    return torch.linalg.norm(link_pos - link_pos_ref, dim=-1).amax(-1)


def relative_link_error(
    link_pos: torch.Tensor,
    root_pos: torch.Tensor,
    yaw: torch.Tensor,
    link_pos_ref: torch.Tensor,
    root_pos_ref: torch.Tensor,
    yaw_ref: torch.Tensor,
) -> torch.Tensor:
    """(N,) largest tracked-link distance from the reference with each side's links taken relative to its
    own root, in its own heading frame: the pose error without the drift along or off the path."""
    from .torch_math import rotate_yaw_inverse

    def local(links: torch.Tensor, root: torch.Tensor, heading: torch.Tensor) -> torch.Tensor:
        rel = links - root[:, None]
        h = heading[:, None].expand(rel.shape[:2])
        return torch.cat([rotate_yaw_inverse(h, rel[..., :2]), rel[..., 2:]], dim=-1)

    diff = local(link_pos, root_pos, yaw) - local(link_pos_ref, root_pos_ref, yaw_ref)
    return torch.linalg.norm(diff, dim=-1).amax(-1)


def link_too_far(link_pos: torch.Tensor, link_pos_ref: torch.Tensor, distance: float) -> torch.Tensor:
    return link_error(link_pos, link_pos_ref) > distance


def terminated(
    link_pos: torch.Tensor,
    link_pos_ref: torch.Tensor,
    distance: float,
    forbidden_contact: torch.Tensor,
    use_contacts: bool,
    finite: torch.Tensor,
    error: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N,) bool: tracking lost, a forbidden body touches the terrain, or the simulation blew up.
    ``error``: ``link_error(link_pos, link_pos_ref)`` if the caller has it already."""
    if error is None:
        error = link_error(link_pos, link_pos_ref)
    out = (error > distance) | ~finite
    if use_contacts:
        out = out | forbidden_contact
    return out


def timed_out(
    episode_length: torch.Tensor, max_length: int, frame: torch.Tensor, clip_last_frame: torch.Tensor
) -> torch.Tensor:
    """(N,) bool: the episode limit or the end of the reference clip was reached."""
    return (episode_length >= max_length) | (frame >= clip_last_frame)


END_CAUSES = ("running", "distance", "contact", "non_finite", "clip_end", "episode_limit")
"""Why an episode ended, as ``end_cause`` numbers it (index into this tuple)."""


def end_cause(
    terminated: torch.Tensor,
    timed_out: torch.Tensor,
    too_far: torch.Tensor,
    contact: torch.Tensor,
    finite: torch.Tensor,
    clip_end: torch.Tensor,
) -> torch.Tensor:
    """(N,) index into ``END_CAUSES``: 0 while running; a blown-up simulation before a forbidden contact
    before the tracking distance (the first is what made the others); the clip's end before the episode
    limit."""
    cause = torch.zeros_like(terminated, dtype=torch.long)
    cause = torch.where(timed_out, torch.where(clip_end, 4, 5), cause)
    return torch.where(terminated, torch.where(~finite, 3, torch.where(contact, 2, 1)), cause)


CURRICULUM_SURVIVE_S = 2.0
"""An episode that lasted this long counts as a success for the termination curriculum (a whole clip is
too high a bar while the distance is still loose)."""


class TerminationCurriculum:
    """The tracking-loss distance, loosened at first and tightened as the policy earns it.

    Why: a walking clip tracked from a fresh policy loses its swing foot by 0.3 m within 0.2 s (the PD lags a
    foot moving at 2-3 m/s), so every episode ends after a handful of steps and PPO sees almost nothing but
    the termination penalty. Starting at ``start`` and stepping toward ``end`` each time the last ``window``
    finished episodes succeeded at least ``up`` of the time (back toward ``start`` below ``down``) lets the
    episodes grow first and the accuracy follow."""

    def __init__(
        self,
        start: float,
        end: float,
        window: int = 200,
        up: float = 0.6,
        down: float = 0.2,
        step: float = 0.02,
    ):
        self.start, self.end = max(start, end), end
        self.value = self.start
        self.window, self.up, self.down, self.step = window, up, down, step
        self._outcomes: list[float] = []

    def restore(self, value: float) -> float:
        """Continue from a checkpoint's distance (clamped to this run's range): a resumed run must not
        loosen again what the policy had already earned."""
        self.value = min(self.start, max(self.end, float(value)))
        return self.value

    def record(self, successes: list[float]) -> float:
        """Add finished episodes' outcomes (1 success, 0 terminated); returns the distance now in force."""
        self._outcomes.extend(successes)
        if len(self._outcomes) >= self.window:
            rate = sum(self._outcomes) / len(self._outcomes)
            self._outcomes.clear()
            if rate >= self.up:
                self.value = max(self.end, self.value - self.step)
            elif rate < self.down:
                self.value = min(self.start, self.value + self.step)
        return self.value
