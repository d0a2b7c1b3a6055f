"""The pipeline's run file (``config/pipelines/*.yaml``): what goes in, which stages, with which settings.

Why one file: the eight commands from motion to policy each take their own folders and options, and a run is
only reproducible when all of them are written down together. Every field is checked on load, so a typo fails
in one line before an hour of training, not after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TRAIN_STAGES = ("mpt", "track", "distill", "finetune")
STAGES = ("reconstruct", "retarget", "clips", *TRAIN_STAGES, "export", "evaluate")
SOURCE_KINDS = ("video", "mocap", "clips")
PROFILES: dict[str, dict[str, Any]] = {
    # what the machine profile sets in every training stage's config (a stage's overrides still win)
    "cpu": {"env": {"backend": "cpu", "device": "cpu"}},
    "gpu": {"env": {"backend": "warp", "device": "cuda:0", "num_envs": 4096}},
}
SKIPPABLE = ("track", "finetune")
"""Stages a run file may leave out: heightmap tracking adds nothing when every clip is on flat ground (the
teacher's heightmap input stays gated off), and fine-tuning nothing when the student is exported from
distill."""
DEFAULT_STAGE_CONFIGS = {s: f"config/training/cpu/{s}.yaml" for s in TRAIN_STAGES}


class RunFileError(ValueError):
    """A run file that cannot be used (one line naming the file and the field)."""


@dataclass
class Source:
    kind: str  # video | mocap (BVH, AMASS, G1 motion files: what `hsi-offline retarget` reads) | clips
    path: Path


@dataclass
class TrainStage:
    config: Path
    iterations: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    skip: bool = False  # track on flat ground only, finetune when the export is from distill


@dataclass
class RunFile:
    path: Path
    name: str
    profile: str
    dof: int
    sources: list[Source]
    terrains: list[str]
    skills: list[str]
    reconstruct: dict[str, Any]
    retarget: dict[str, Any]
    clips: dict[str, Any]
    train: dict[str, TrainStage]
    export: dict[str, Any]
    evaluate: dict[str, Any]
    checkpoint_minutes: float

    def settings(self, stage: str) -> dict[str, Any]:
        """The settings a stage's result depends on (its part of the stage stamp)."""
        if stage in TRAIN_STAGES:
            t = self.train[stage]
            return {
                "config": str(t.config),
                "iterations": t.iterations,
                "overrides": t.overrides,
                "profile": PROFILES[self.profile],
                "dof": self.dof,
            }
        if stage == "clips":
            return {**self.clips, "terrains": self.terrains, "dof": self.dof}
        if stage == "evaluate":
            return {**self.evaluate, "skills": self.skills}
        if stage in ("reconstruct", "retarget"):
            return {**getattr(self, stage), "dof": self.dof}
        return dict(self.export)


_TOP = {
    "name",
    "profile",
    "dof",
    "sources",
    "terrains",
    "skills",
    "reconstruct",
    "retarget",
    "clips",
    "stages",
    "export",
    "evaluate",
    "checkpoint_minutes",
}
_CLIPS = {"mirror", "speeds", "headings_deg", "loop", "procedural", "straighten", "original"}
_EVAL = {"sides", "scenarios", "duration_scale", "seed", "randomise"}


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RunFileError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _unknown(d: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise RunFileError(f"{where}: unknown field(s) {extra} (allowed: {sorted(allowed)})")


def load_run_file(
    path: str | Path,
    extra_sources: list[str] | None = None,
    profile: str | None = None,
    check_sources: bool = True,
) -> RunFile:
    """Read and check a run file; ``extra_sources`` (from the command line) are added as mocap sources
    (folders holding clips as clip sources); ``profile`` overrides the file's machine profile;
    ``check_sources=False`` checks the file without requiring its source files on this machine."""
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"run file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise RunFileError(f"run file '{path}' is not valid YAML ({str(e).splitlines()[0]})") from None
    where = f"run file '{path}'"
    data = _mapping(data, where)
    _unknown(data, _TOP, where)
    prof = profile or data.get("profile", "cpu")
    if prof not in PROFILES:
        raise RunFileError(f"{where}: profile must be one of {list(PROFILES)}, got '{prof}'")
    dof = int(data.get("dof", 23))
    if dof not in (23, 29):
        raise RunFileError(f"{where}: dof must be 23 or 29, got {dof}")
    sources: list[Source] = []
    for i, s in enumerate(data.get("sources") or []):
        s = _mapping(s, f"{where}: sources[{i}]")
        kinds = [k for k in SOURCE_KINDS if k in s]
        if len(kinds) != 1 or len(s) != 1:
            raise RunFileError(f"{where}: sources[{i}] must be one of {{video|mocap|clips: PATH}}, got {s}")
        sources.append(Source(kinds[0], Path(str(s[kinds[0]]))))
    for p in extra_sources or []:
        sources.append(Source("clips" if Path(p).is_dir() else "mocap", Path(p)))
    clips = _mapping(data.get("clips"), f"{where}: clips")
    _unknown(clips, _CLIPS, f"{where}: clips")
    clips = {
        "mirror": bool(clips.get("mirror", True)),
        "speeds": [float(v) for v in clips.get("speeds", [])],
        "headings_deg": [float(v) for v in clips.get("headings_deg", [])],
        "loop": int(clips.get("loop", 1)),
        "straighten": [float(v) for v in clips.get("straighten", [])],
        "original": bool(clips.get("original", True)),
        "procedural": [str(v) for v in clips.get("procedural", [])],
    }
    if not sources and not clips["procedural"]:
        raise RunFileError(
            f"{where}: no sources (give sources:, clips.procedural:, or a source on the command line)"
        )
    for s in sources if check_sources else ():
        if not s.path.exists():
            raise RunFileError(f"{where}: source '{s.path}' does not exist")
    stages = _mapping(data.get("stages"), f"{where}: stages")
    _unknown(stages, set(TRAIN_STAGES), f"{where}: stages")
    train = {}
    for st in TRAIN_STAGES:
        s = _mapping(stages.get(st), f"{where}: stages.{st}")
        _unknown(s, {"config", "iterations", "overrides", "skip"}, f"{where}: stages.{st}")
        skip = s.get("skip", False)
        if not isinstance(skip, bool) or (skip and st not in SKIPPABLE):
            raise RunFileError(
                f"{where}: stages.{st}.skip must be true or false, and only {' and '.join(SKIPPABLE)} may be "
                "skipped"
            )
        cfg = Path(str(s.get("config", DEFAULT_STAGE_CONFIGS[st])))
        if not cfg.is_file():
            raise RunFileError(f"{where}: stages.{st}.config '{cfg}' does not exist")
        it = s.get("iterations")
        if it is not None and (int(it) != it or it < 1):
            raise RunFileError(f"{where}: stages.{st}.iterations must be a positive integer, got {it}")
        train[st] = TrainStage(
            cfg, None if it is None else int(it), _mapping(s.get("overrides"), f"stages.{st}"), skip
        )
    evaluate = _mapping(data.get("evaluate"), f"{where}: evaluate")
    _unknown(evaluate, _EVAL, f"{where}: evaluate")
    export = _mapping(data.get("export"), f"{where}: export")
    _unknown(export, {"from"}, f"{where}: export")
    if export.get("from", "finetune") not in TRAIN_STAGES:
        raise RunFileError(f"{where}: export.from must be one of {list(TRAIN_STAGES)}")
    if train[export.get("from", "finetune")].skip:
        raise RunFileError(
            f"{where}: export.from is {export.get('from', 'finetune')}, which the run file skips"
        )
    minutes = float(data.get("checkpoint_minutes", 5.0))
    if not minutes > 0:
        raise RunFileError(f"{where}: checkpoint_minutes must be positive, got {minutes}")
    return RunFile(
        path=path,
        name=str(data.get("name", path.stem)),
        profile=prof,
        dof=dof,
        sources=sources,
        terrains=[str(t) for t in data.get("terrains", ["flat"])],
        skills=[str(s) for s in data.get("skills", [])],
        reconstruct=_mapping(data.get("reconstruct"), f"{where}: reconstruct"),
        retarget=_mapping(data.get("retarget"), f"{where}: retarget"),
        clips=clips,
        train=train,
        export={"from": export.get("from", "finetune")},
        evaluate=evaluate,
        checkpoint_minutes=minutes,
    )
