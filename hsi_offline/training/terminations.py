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
