"""Training configuration as data: one dataclass tree, defaults in one place, one YAML file per stage.

Every number VideoMimic publishes (``shared/reference/videomimic.md``) is a default here; a stage YAML only
lists what differs. Unknown keys are rejected with a one-line error so a typo cannot silently fall back to a
default.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hsi_kernel.contract import GAIN_SETS

STAGES = ("mpt", "track", "distill", "finetune")


@dataclass
class RewardConfig:
    """Reward weights (multiplied by the policy dt) and kernel sharpness, VideoMimic's values."""

    joint_pos: float = 120.0
    joint_pos_sigma: float = 2.0
    joint_vel: float = 24.0
    joint_vel_sigma: float = 0.01
    root_ori: float = 15.0
    root_ori_sigma: float = 3.0
    torso_pos: float = 15.0
    torso_pos_sigma: float = 50.0
    torso_ori: float = 15.0
    torso_ori_sigma: float = 3.0
    link_pos: float = 30.0
    link_pos_sigma: float = 5.0
    link_vel: float = 5.0
    link_vel_sigma: float = 0.1
    feet_contact: float = 1.0
    action_rate: float = -0.5
    ankle_action: float = -0.5
    joint_limit: float = -50.0
    joint_limit_fraction: float = 0.98
    termination: float = -500.0
    alive: float = 0.0


@dataclass
class RandomizationConfig:
    """Domain randomisation (VideoMimic's table). ``enabled: false`` turns every term off (tests, replay)."""

    enabled: bool = True
    dof_friction: tuple[float, float] = (0.0, 0.02)
    friction: tuple[float, float] = (0.1, 1.25)
    base_mass_delta: tuple[float, float] = (-1.0, 3.0)
    gain_scale: float = 0.03  # Kp and Kd scaled by U[1 - s, 1 + s]
    control_delay_s: tuple[float, float] = (0.0, 0.025)
    push_interval_s: float = 10.0
    push_xy: float = 0.25
    push_z: float = 0.1
    gravity_bias: float = 0.01  # projected gravity, per episode, in g
    joint_pos_bias: float = 0.005  # rad, per episode
    noise_ang_vel: float = 0.2
    noise_gravity: float = 0.05
    noise_joint_pos: float = 0.01
    noise_joint_vel: float = 1.5
    noise_odom_xy: float = 0.01
    noise_odom_yaw: float = 0.01
    odom_hold_steps: tuple[int, int] = (2, 6)
    heightmap_noise: float = 0.02
    heightmap_offset: float = 0.02
    heightmap_yaw: float = 0.08
    heightmap_tilt: float = 0.04  # rad, per-episode roll/pitch misalignment of the grid plane
    heightmap_delay_steps: tuple[int, int] = (0, 3)  # policy frames of latency
    heightmap_refresh_steps: tuple[int, int] = (1, 5)
    heightmap_bad_cells: float = 0.01


@dataclass
class EnvConfig:
    """The tracking environment: robot, physics rates, episodes, clips, terminations."""

    dof: int = 23
    gains: str = "videomimic"  # PD gain set (hsi_kernel.contract.policy_gains): videomimic | unitree
    num_envs: int = 4096
    backend: str = "cpu"  # cpu | warp
    threads: int = 0  # CPU backend worker threads; 0 = os.cpu_count()
    sim_dt: float = 0.005  # 200 Hz physics
    decimation: int = 4  # policy at 50 Hz
    episode_length_s: float = 20.0
    action_scale: float = 0.25
    action_clip: float = 8.0
    clips: list[str] = field(default_factory=list)  # motion clip .npz files or folders of them
    clip_weights: list[float] = field(default_factory=list)  # share of episodes per clips entry ([] = even)
    termination_distance: float = 0.3  # m, any tracked link farther than this from its reference
    # curriculum on that distance: start here (0 = no curriculum) and move toward termination_distance while
    # the recent episodes mostly succeed, back out while they mostly fail (see TerminationCurriculum)
    termination_start: float = 0.0
    # where the link distance is measured: "world" (VideoMimic: the links' world positions, so drifting off
    # the clip's path ends the episode like a wrong pose) or "root" (each link relative to its own root, in
    # the root's heading frame: the pose alone; drift is then limited separately by root_drift_distance)
    termination_frame: str = "world"
    root_drift_distance: float = 1.0  # m, root xy from the reference's (termination_frame "root" only)
    forbidden_contacts: bool = True
    heightmap: bool = True
    fail_weight_range: tuple[float, float] = (1.0 / 3.0, 3.0)
    seed: int = 0
    device: str = "cpu"
    rewards: RewardConfig = field(default_factory=RewardConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)

    @property
    def policy_dt(self) -> float:
        return self.sim_dt * self.decimation

    @property
    def max_episode_length(self) -> int:
        return int(round(self.episode_length_s / self.policy_dt))


@dataclass
class PolicyConfig:
    """Actor/critic networks (VideoMimic: MLP [1024, 512, 256, 128] ELU; gated heightmap embedding)."""

    actor_hidden: list[int] = field(default_factory=lambda: [1024, 512, 256, 128])
    critic_hidden: list[int] = field(default_factory=lambda: [1024, 512, 256, 128])
    activation: str = "elu"
    init_std: float = 0.8
    obs_normalization: bool = True
    gate_trainable: bool = True
    bounds_loss_coef: float = 0.0005


@dataclass
class AlgorithmConfig:
    """PPO (stages mpt/track/finetune) or Distillation (stage distill) settings, VideoMimic's values."""

    learning_rate: float = 1e-3
    num_learning_epochs: int = 5
    num_mini_batches: int = 4
    clip_param: float = 0.2
    gamma: float = 0.99
    lam: float = 0.95
    value_loss_coef: float = 1.0
    entropy_coef: float = 0.0025
    max_grad_norm: float = 1.0
    schedule: str = "adaptive"
    desired_kl: float = 0.02
    # PPO stages: append the left-right mirror of every sample to each mini-batch (training/symmetry.py)
    symmetry: bool = False
    gradient_length: int = 24  # distillation only
    loss_type: str = "mse"  # distillation only


@dataclass
class TrainConfig:
    """One stage: environment, networks, algorithm, run length and bookkeeping."""

    stage: str = "mpt"
    iterations: int = 10000
    num_steps_per_env: int = 24
    save_interval: int = 200
    init_from: str = ""  # checkpoint whose weights start this stage (stage 2 from stage 1, ...)
    critic_warmup_iterations: int = 0  # finetune: at most this many critic-only iterations (until it settles)
    # the warm-up's own rate: the stage's 3e-5 barely moves a fresh critic
    critic_warmup_learning_rate: float = 1.0e-3
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_ONE = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_MANY = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        count = f"{len(args)} " if origin is tuple else ""
        return f"a list of {count}{_MANY.get(args[0], str(args[0]))}"
    return _ONE.get(tp, str(tp))


def _coerce(tp: Any, value: Any) -> tuple[bool, Any]:
    """(fits, value as the field holds it): YAML gives int for float fields and lists for tuples."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or (origin is tuple and len(value) != len(args)):
            return False, value
        items = [_coerce(args[min(i, len(args) - 1)], v) for i, v in enumerate(value)]
        if not all(ok for ok, _ in items):
            return False, value
        return True, origin(v for _, v in items)
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        return isinstance(value, str), value
    return True, value


def _build(cls: type, data: dict[str, Any], where: str, key: str = "") -> Any:
    """Instantiate a (nested) dataclass from a dict, rejecting unknown keys and values of the wrong type
    (``iterations: "many"``) with a one-line ValueError that names the file and the key: a wrong type would
    otherwise surface as a TypeError deep inside a run."""
    if not isinstance(data, dict):
        what = f"'{key.rstrip('.')}'" if key else "the top level"
        raise ValueError(f"{where}: {what} must be a mapping of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown keys {[key + k for k in unknown]}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    defaults = cls()
    for name, value in data.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, where, f"{key}{name}.")
            continue
        ok, kwargs[name] = _coerce(hints[name], value)
        if not ok:
            got = f"{value!r} ({type(value).__name__})"
            raise ValueError(f"{where}: '{key}{name}' must be {_type_name(hints[name])}, got {got}")
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any], where: str = "config") -> TrainConfig:
    cfg = _build(TrainConfig, data, where)
    validate(cfg)
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a stage YAML (plus optional overrides, same nesting) into a validated ``TrainConfig``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"training config '{path}' is not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):  # a list or a scalar: there is nothing to merge the overrides into
        raise ValueError(
            f"training config '{path}': the top level must be a mapping of settings (stage: ..., env: ...), "
            f"got a {type(data).__name__}"
        )
    where = f"training config '{path}'"
    _build(TrainConfig, data, where)  # the file's own keys and types, before overrides could hide one
    if overrides:
        asked, written = overrides.get("stage"), data.get("stage")
        if asked is not None and written is not None and asked != written:  # the wrong stage's file
            raise ValueError(
                f"training config '{path}' is for stage '{written}', but stage '{asked}' was asked for"
            )
        data = merge_settings(data, overrides)
    return config_from_dict(data, where)


def merge_settings(base: dict, over: dict) -> dict:
    """``over`` laid onto ``base``, nested mappings merged key by key (neither input is changed)."""
    out = dict(base)
    for k, v in over.items():
        nested = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = merge_settings(out[k], v) if nested else v
    return out


def validate(cfg: TrainConfig) -> None:
    """Cross-field checks that would otherwise fail deep inside a run."""
    e = cfg.env
    if cfg.stage not in STAGES:
        raise ValueError(f"unknown stage '{cfg.stage}': use one of {', '.join(STAGES)}")
    if e.dof not in (23, 29):
        raise ValueError(f"env.dof must be 23 or 29, got {e.dof}")
    if e.gains not in GAIN_SETS:
        raise ValueError(f"env.gains must be one of {', '.join(GAIN_SETS)}, got '{e.gains}'")
    if e.backend not in ("cpu", "warp"):
        raise ValueError(f"env.backend must be cpu or warp, got '{e.backend}'")
    if e.num_envs < 1 or e.decimation < 1 or e.sim_dt <= 0:
        raise ValueError("env.num_envs and env.decimation must be >= 1 and env.sim_dt > 0")
    if cfg.iterations < 0 or cfg.num_steps_per_env < 1 or cfg.save_interval < 1:
        raise ValueError("iterations must be >= 0, num_steps_per_env and save_interval >= 1")
    if e.termination_frame not in ("world", "root"):
        raise ValueError(f"env.termination_frame must be 'world' or 'root', got '{e.termination_frame}'")
    if e.root_drift_distance <= 0:
        raise ValueError("env.root_drift_distance must be positive (metres)")
    if e.termination_distance <= 0:
        raise ValueError("env.termination_distance must be positive (metres)")
    if e.termination_start and e.termination_start < e.termination_distance:
        raise ValueError("env.termination_start must be 0 (off) or at least env.termination_distance")
