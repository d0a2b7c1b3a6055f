"""The pipeline's clips stage: every source clip, its variants, on every terrain, in one clip folder.

Why one folder: the training stages take a folder of clips (``env.clips``); writing the variants and the
terrain files beside them makes that folder self-contained, so a stage can be rerun, or the folder handed to
``hsi-offline train --clips`` by hand, without the sources.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_kernel.terrain import SCENES, make_scene_terrain
from hsi_offline.motion.clip import MotionClip, load, make_clip
from hsi_offline.motion.variants import variants
from hsi_offline.training.motion_lib import find_clips


def _source_name(path: Path) -> str:
    """``retarget/walk/motion.npz`` -> ``walk``; ``clips/standing.npz`` -> ``standing``."""
    return path.parent.name if path.stem in ("motion", "human_motion") else path.stem


def _on_terrain(clip: MotionClip, terrain_file: str, height: float) -> MotionClip:
    """The flat-ground ``clip`` placed on a terrain whose ground under its start is ``height`` high."""
    root = np.array(clip.root_pos, dtype=np.float64)
    root[:, 2] += height
    prov = {**clip.provenance, "terrain": terrain_file}
    return make_clip(
        clip.fps,
        root,
        clip.root_quat,
        clip.joint_pos,
        clip.dof,
        clip.contacts,
        terrain_file,
        prov,
        tuple(clip.link_names),
    )


def write_clip_set(
    folder: Path,
    sources: list[Path],
    settings: dict,
    terrains: list[str],
    dof: int,
    log: Callable[[str], None] = print,
    procedural: Path | None = None,
) -> list[Path]:
    """Write the variants of every clip in ``sources`` (files or stage output folders) and of the procedural
    clips in ``procedural`` (a folder ``hsi-offline clips`` wrote) into ``folder``; returns the clip files
    written."""
    unknown = [t for t in terrains if t not in SCENES]
    if unknown:
        raise ValueError(f"run file: unknown terrain(s) {unknown}: use {', '.join(SCENES)}")
    clips: list[tuple[str, MotionClip]] = []
    for src in sources:
        for f in find_clips([str(src)]):
            clip = load(f)
            if clip.dof != dof:
                raise ValueError(f"motion clip '{f}' is {clip.dof}-DoF, the run file asks for {dof}")
            if clip.terrain:  # a reconstruction's own terrain travels with its clip
                src_terrain = clip.terrain_path(f)
                name = f"{_source_name(f)}_terrain.npz"
                shutil.copyfile(src_terrain, folder / name)
                clip.terrain = name
            clips.append((_source_name(f), clip))
    motion = len(clips)  # the clips before this index are motion; the procedural ones follow
    if procedural is not None:
        clips += [(f.stem, load(f)) for f in find_clips([str(procedural)])]
    if not clips:
        raise ValueError(
            "clips stage: no clips from the sources (no retargeted motion, clip or procedural clip)"
        )
    terrain_heights: dict[str, tuple[str, object]] = {}
    for t in terrains:
        if t != "flat":
            terrain = make_scene_terrain(t)
            terrain.save(folder / f"terrain_{t}.npz")
            terrain_heights[t] = (f"terrain_{t}.npz", terrain)
    written: list[Path] = []
    headings = tuple(np.radians(settings.get("headings_deg", [])))
    for k, (name, clip) in enumerate(clips):
        if k >= motion:  # standing and swaying in place: another speed, heading or path is the same clip
            vs = variants(clip, bool(settings.get("mirror", True)))
        else:
            vs = variants(
                clip,
                bool(settings.get("mirror", True)),
                tuple(settings.get("speeds", [])),
                headings,
                int(settings.get("loop", 1)),
                tuple(settings.get("straighten", [])),
                bool(settings.get("original", True)),
            )
        for vname, v in vs.items():
            places = ["flat"] if v.terrain else terrains  # a clip with its own terrain stays on it
            for t in places:
                out = v
                if t != "flat" and not v.terrain:
                    fname, terrain = terrain_heights[t]
                    h = float(terrain.height_at(np.asarray(v.root_pos)[:1, :2])[0])
                    out = _on_terrain(v, fname, h)
                suffix = "" if t == "flat" else f"_{t}"
                written.append(out.save(folder / f"{name}_{vname}{suffix}.npz"))
    log(f"[pipeline] clips: {len(written)} clips from {len(clips)} source clip(s) -> {folder}")
    plot_paths(written, folder / "clips.png")
    return written


def plot_paths(files: list[Path], path: Path) -> Path:
    """Top-down picture of every clip: root path (line) and left foot (dots), so a mirrored, turned or
    looped variant can be checked by eye in the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hsi_kernel.contract import FOOT_LINKS

    fig, ax = plt.subplots(figsize=(10, 6))
    for f in files:
        clip = load(f, validate=False)
        root = np.asarray(clip.root_pos)
        (line,) = ax.plot(root[:, 0], root[:, 1], lw=1.2, label=f.stem)
        foot = np.asarray(clip.link_pos)[:, list(clip.link_names).index(FOOT_LINKS[0])]
        ax.plot(foot[::5, 0], foot[::5, 1], ".", ms=2, color=line.get_color())
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"{len(files)} clips: root path (line), left foot (dots); speed variants share their path")
    if len(files) <= 24:
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
