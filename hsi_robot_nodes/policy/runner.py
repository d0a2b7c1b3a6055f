"""The policy runner: the ROS-free core of the 50 Hz policy node.

It loads one or two exported ONNX policies (slot names ``blind`` and ``terrain``, VideoMimic's B button),
keeps the latest robot inputs (joint state, IMU, heightmap, root command), and once per control cycle builds
the observation with the shared ``observation`` contract, runs onnxruntime and turns the action into PD
targets: ``q = default_q + action_scale * clip(action, -clip, clip)`` with the metadata's Kp/Kd.

Safety rules (all in one place, all tested):
- Loading refuses, with one line, a missing/corrupt file, metadata that disagrees with the robot contract, a
  model whose input/output shapes disagree with its metadata, or observation terms this runner cannot supply
  (teacher-only terms; a heightmap when no heightmap source is configured). Nothing is published then.
- Loading also runs one trial inference on the robot standing still in its default pose on flat ground, and
  refuses, with one line, a model that cannot take the observation (its input size differs, however its
  shape is declared), answers with the wrong number of actions, a non-finite action, or an action beyond
  ``action_clip`` (a policy that saturates standing still is broken or not the one its metadata describes).
- No targets come out while the joint state or IMU is missing or older than ``max_state_age_s``, or when the
  observation or the action is not finite: the bridge sees the targets go stale and trips to damping.
- A policy that needs the heightmap runs only while the heightmap is fresh (not flagged stale and younger than
  ``max_heightmap_age_s``); otherwise the runner falls back to a policy that does not need it (the blind one),
  or to ``hold`` (the default pose with the first policy's gains) if there is none. Returning to the
  heightmap policy needs ``resume_cycles`` consecutive fresh heightmaps, so a flickering map cannot make the
  policies chatter. The fallback's reason names the input that went stale (``StepResult.stale_input``): the
  heightmap node itself (no map yet, or its last map too old), or the input the node flagged (odometry or
  the LiDAR cloud, with the node's own why), or ``resuming`` during the hysteresis.
- ``reset()`` (the policy node calls it when the bridge enters ``run``) restarts every policy from the next
  frame with a zero last action: the robot was held by the bridge until then, not by the policy's actions.
- Switches (operator selection or fallback) happen only at the start of a cycle, never inside one.
  HISTORY RESET RULE: the incoming policy's history is reset, i.e. filled with copies of the current frame
  (exactly what the training environment does at an episode reset), and its ``last_action`` is initialised
  to the action that reproduces the outgoing joint target under the incoming policy's default pose and
  action scale (clipped), so the first target after a switch continues from the last one instead of jumping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hsi_kernel.contract import NOMINAL_ROOT_HEIGHT, RobotContract, get_contract, stand_gains
from hsi_kernel.msgs.pd_targets import PdTargets
from hsi_kernel.observation import (
    COMMAND_TERMS,
    HEIGHTMAP_TERM,
    PROPRIO_TERMS,
    ObservationBuilder,
)
from hsi_kernel.policy_file import PolicyMetadata, read_metadata_json
from hsi_robot_nodes import defaults


def quiet_onnxruntime() -> None:
    """onnxruntime's failures come back as exceptions, which every loader here turns into one line; its own
    log would print a second, coloured line for the same error. Process-wide, so the policy-file checks
    that run before the runner (``policy_file.load_metadata``) are covered too."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)


SLOTS = ("blind", "terrain")
HOLD = "hold"
HEIGHTMAP_NODE = "heightmap node"
RESUMING = "resuming"
"""``StepResult.stale_input`` besides the heightmap node's own inputs (``heightmap.core.ODOMETRY``/``LIDAR``):
the map itself is missing or too old, or it is fresh again but not yet for ``resume_cycles``."""


@dataclass(frozen=True)
class RunnerConfig:
    """Freshness limits and switching hysteresis (defaults sized for a 50 Hz loop and a 10 Hz LiDAR map)."""

    max_state_age_s: float = 0.1  # joint state / IMU older than this: no targets (5 policy cycles)
    max_heightmap_age_s: float = 0.5  # heightmap older than this counts as stale
    resume_cycles: int = 10  # consecutive fresh heightmap cycles before (re)entering a heightmap policy


@dataclass
class CycleTiming:
    """Milliseconds spent in one ``step``: observation build, onnxruntime, and the whole step."""

    obs_ms: float = 0.0
    infer_ms: float = 0.0
    compute_ms: float = 0.0


@dataclass
class StepResult:
    targets: PdTargets | None
    active: str  # slot name that produced the targets, or 'hold', or '' when nothing was produced
    reason: str = ""  # why nothing was produced / why a fallback is active
    timing: CycleTiming = field(default_factory=CycleTiming)
    obs: np.ndarray | None = None  # the observation the policy saw (for logging and parity checks)
    stale_input: str = ""  # on a heightmap fallback: the input that went stale (HEIGHTMAP_NODE, LIDAR, ...)


class LoadedPolicy:
    """One ONNX policy with its validated metadata and its own observation history."""

    def __init__(self, name: str, path: str | Path, contract: RobotContract, heightmap_available: bool):
        import onnxruntime as ort

        quiet_onnxruntime()
        self.name, self.path = name, Path(path)
        if not self.path.is_file():
            raise ValueError(f"policy '{name}': file {self.path} does not exist")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # one small MLP per cycle: threads only add wake-up latency
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 4  # its errors come back as exceptions: one line from us, not its log too
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for corrupt files
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise ValueError(f"policy '{name}': {self.path} is not a loadable ONNX model ({first})") from None
        try:
            self.meta = PolicyMetadata.from_json(read_metadata_json(self.session)).validate(contract)
        except ValueError as e:
            raise ValueError(f"policy '{name}' ({self.path.name}): {e}") from None
        self._check_terms(heightmap_available)
        self._check_io()
        self.layout = self.meta.layout
        self.needs_heightmap = bool(self.layout.heightmap_size)
        self.builder = ObservationBuilder(self.layout, self.meta.default_q)
        self.last_action = np.zeros(contract.dof)
        self._trial()

    def _trial(self) -> None:
        """One inference on the robot standing still in its default pose on flat ground (see module doc)."""
        m, n = self.meta, self.meta.dof
        heightmap = np.full(self.layout.heightmap_size, NOMINAL_ROOT_HEIGHT) if self.needs_heightmap else None
        extras = {"target_xy": np.zeros(2), "target_yaw": np.zeros(1)}
        still = (np.zeros(3), np.array([1.0, 0, 0, 0]), m.default_q, np.zeros(n), np.zeros(n))
        obs = self.builder(*still, extras, heightmap)
        self.builder.reset()
        where = f"policy '{self.name}' ({self.path.name}): trial inference"
        try:
            action = self.infer(obs)
        except Exception as e:  # onnxruntime's own exception types: shape and type errors inside the graph
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise ValueError(f"{where} on a {obs.size}-value observation failed ({first})") from None
        if action.size != n:
            raise ValueError(f"{where} gave {action.size} actions for a {n}-DoF policy")
        if not np.all(np.isfinite(action)):
            bad = np.flatnonzero(~np.isfinite(action))
            which = "every joint" if bad.size == n else f"joints {bad.tolist()}"
            raise ValueError(f"{where} gave non-finite actions ({which})")
        worst = int(np.argmax(np.abs(action)))
        if abs(action[worst]) > m.action_clip:
            raise ValueError(
                f"{where} standing still gave action {action[worst]:.3g} on joint {worst}, beyond the "
                f"metadata's action_clip {m.action_clip:g}"
            )

    def _check_terms(self, heightmap_available: bool) -> None:
        supply = set(PROPRIO_TERMS) | set(COMMAND_TERMS)
        if heightmap_available:
            supply.add(HEIGHTMAP_TERM)
        missing = [t for t in self.meta.layout.term_names() if t not in supply]
        if missing:
            why = " (no heightmap source is configured)" if missing == [HEIGHTMAP_TERM] else ""
            raise ValueError(
                f"policy '{self.name}' needs observation terms {missing} that the policy node "
                f"cannot supply{why}"
            )

    def _check_io(self) -> None:
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        names_in, names_out = [i.name for i in ins], [o.name for o in outs]
        if names_in != [self.meta.input_name] or self.meta.output_name not in names_out:
            raise ValueError(
                f"policy '{self.name}': model inputs {names_in} / outputs {names_out} do not "
                "match "
                f"metadata '{self.meta.input_name}' -> '{self.meta.output_name}'"
            )
        in_dim = ins[0].shape[-1]
        out_dim = outs[names_out.index(self.meta.output_name)].shape[-1]
        if isinstance(in_dim, int) and in_dim != self.meta.layout.dim:
            raise ValueError(
                f"policy '{self.name}': model input has {in_dim} values but the observation "
                f"layout has {self.meta.layout.dim}"
            )
        if isinstance(out_dim, int) and out_dim != self.meta.dof:
            raise ValueError(
                f"policy '{self.name}': model outputs {out_dim} actions for a {self.meta.dof}-DoF policy"
            )

    def infer(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32).reshape(1, -1)
        out = self.session.run([self.meta.output_name], {self.meta.input_name: x})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def action_to_q(self, action: np.ndarray) -> np.ndarray:
        m = self.meta
        return m.default_q + m.action_scale * np.clip(action, -m.action_clip, m.action_clip)

    def q_to_action(self, q_target: np.ndarray) -> np.ndarray:
        """The (clipped) action whose target is ``q_target``: the inverse of ``action_to_q``."""
        m = self.meta
        return np.clip((q_target - m.default_q) / m.action_scale, -m.action_clip, m.action_clip)


class PolicyRunner:
    """Holds the policies and the latest inputs; ``step(now_ns)`` is one control cycle."""

    def __init__(
        self,
        policies: dict[str, str | Path],
        dof: int = defaults.DOF,
        heightmap_available: bool = True,
        config: RunnerConfig | None = None,
        initial: str | None = None,
    ):
        self.contract = get_contract(dof)
        self.config = config or RunnerConfig()
        paths = {k: v for k, v in policies.items() if v}
        if not paths:
            raise ValueError("no policy given: set at least one of the 'blind' / 'terrain' policy paths")
        unknown = set(paths) - set(SLOTS)
        if unknown:
            raise ValueError(f"unknown policy slots {sorted(unknown)}: use {list(SLOTS)}")
        self.policies = {n: LoadedPolicy(n, p, self.contract, heightmap_available) for n, p in paths.items()}
        first = self.policies[next(s for s in SLOTS if s in self.policies)]
        # No usable policy (a heightmap policy without a fresh map and no blind one): hold the default pose on
        # the stand gains, as the bridge holds it before A. The policy's own gains are too soft for a constant
        # target (VideoMimic's ankles, Kp 20): the demo robot fell 0.8 s after A holding on them.
        self.hold_q = first.meta.default_q.copy()
        self.hold_kp, self.hold_kd = stand_gains(self.contract)
        # the heightmap ('terrain') slot is the main policy when present; B toggles to 'blind'
        self.selected = initial or ("terrain" if "terrain" in self.policies else "blind")
        if self.selected not in self.policies:
            raise ValueError(f"initial policy '{self.selected}' is not loaded (have {sorted(self.policies)})")
        self.active = ""  # nothing active until the first cycle
        self.last_q_target = self.hold_q.copy()
        self.seq = 0
        self._hm_fresh_cycles = 0
        self.q = self.dq = self.quat = self.gyro = None
        self.joint_stamp_ns = self.joint_rx_ns = self.imu_rx_ns = 0
        self.hm_values: np.ndarray | None = None
        self.hm_rx_ns, self.hm_stale = 0, True
        self.hm_stale_why = ""  # the heightmap node's status ('<input>: <why>') for a map it flagged stale
        self.root_target = np.zeros(3)

    # ---- inputs -------------------------------------------------------------------------------------------
    def update_joint_state(self, q, dq, stamp_ns: int, received_ns: int | None = None) -> None:
        """Joint positions/velocities in contract order; ``stamp_ns`` is echoed in the PD targets."""
        q, dq = np.asarray(q, dtype=np.float64), np.asarray(dq, dtype=np.float64)
        if q.shape != (self.contract.dof,) or dq.shape != (self.contract.dof,):
            raise ValueError(
                f"joint state must have {self.contract.dof} positions and velocities, got "
                f"{q.shape} and {dq.shape}"
            )
        self.q, self.dq = q, dq
        self.joint_stamp_ns = int(stamp_ns)
        self.joint_rx_ns = int(stamp_ns if received_ns is None else received_ns)

    def update_imu(self, quat_wxyz, gyro, received_ns: int) -> None:
        """Pelvis orientation (w, x, y, z) and body-frame angular velocity (rad/s)."""
        self.quat = np.asarray(quat_wxyz, dtype=np.float64).reshape(4)
        self.gyro = np.asarray(gyro, dtype=np.float64).reshape(3)
        self.imu_rx_ns = int(received_ns)

    def update_heightmap(self, values, received_ns: int, stale: bool = False, why: str = "") -> None:
        """Policy heightmap in the sampler's order; ``stale`` is the producer's own verdict and ``why`` its
        reason as the heightmap node states it (``<input>: <why>``, ``/heightmap/status``)."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        cells = {p.layout.heightmap_size for p in self.policies.values() if p.needs_heightmap}
        if cells and values.size not in cells:
            raise ValueError(f"heightmap has {values.size} cells but the policy expects {sorted(cells)}")
        self.hm_values = values
        self.hm_rx_ns, self.hm_stale = int(received_ns), bool(stale)
        self.hm_stale_why = str(why) if stale else ""

    def update_root_target(self, x: float, y: float, yaw: float) -> None:
        """Root target offset in the robot's heading frame (metres, metres, rad)."""
        self.root_target = np.array([x, y, yaw], dtype=np.float64)

    def select(self, name: str) -> None:
        """Operator selection; applied at the start of the next cycle. One-line ValueError if not loaded."""
        if name not in self.policies:
            raise ValueError(f"policy '{name}' is not loaded (have {sorted(self.policies)})")
        self.selected = name

    def reset(self) -> None:
        """Start afresh at the next cycle: history from the next frame, last action 0 (target = default pose).

        Called when the bridge starts applying the policy's targets (entering ``run``): until then the robot
        was held by the bridge, not by these actions, so the history of "own actions" would be fiction.
        """
        self.active = ""  # the next step re-enters the policy through the switch rule
        self.last_q_target = self.hold_q.copy()

    # ---- the cycle ----------------------------------------------------------------------------------------
    def heightmap_staleness(self, now_ns: int) -> tuple[str, str]:
        """(the input that went stale, why) or ``("", "")`` while the heightmap is fresh.

        The input is the heightmap node itself when no map came yet or the last one is older than
        ``max_heightmap_age_s`` (the node stalled or stopped, or its maps are held up on the way), else the
        one the node names for a map it flagged stale (odometry or the LiDAR cloud).
        """
        if self.hm_values is None:
            return HEIGHTMAP_NODE, "no map received yet"
        limit = self.config.max_heightmap_age_s
        if (now_ns - self.hm_rx_ns) * 1e-9 > limit:
            return (
                HEIGHTMAP_NODE,
                f"its last map is older than {limit * 1e3:.0f} ms: stalled, stopped or delayed",
            )
        if self.hm_stale:
            source, sep, why = self.hm_stale_why.partition(": ")
            if sep and source:
                return source, why
            return HEIGHTMAP_NODE, "flagged its map stale (its status with the reason has not arrived)"
        return "", ""

    def _choose(self, stale: tuple[str, str]) -> tuple[str, str, str]:
        """(slot to run, reason for a fallback, the input that went stale)."""
        hm_fresh = not stale[0]

        def usable(name: str) -> bool:
            p = self.policies[name]
            if not p.needs_heightmap:
                return True
            if name == self.active:
                return hm_fresh  # stays while the map is fresh
            return self._hm_fresh_cycles >= self.config.resume_cycles

        if usable(self.selected):
            return self.selected, "", ""
        if hm_fresh:  # fresh again, not yet for long enough
            source = RESUMING
            why = f"'{self.selected}' resumes after {self.config.resume_cycles} consecutive fresh heightmaps"
        else:
            source = stale[0]
            why = f"'{self.selected}' waits for a fresh heightmap; stale: {stale[0]} ({stale[1]})"
        for name in SLOTS:
            if name in self.policies and name != self.selected and usable(name):
                return name, why, source
        return HOLD, why, source

    def _switch(self, name: str) -> None:
        if name != HOLD:
            p = self.policies[name]
            p.builder.reset()  # history reset rule: the next frame fills the whole history
            p.last_action = p.q_to_action(self.last_q_target)
        self.active = name

    def step(self, now_ns: int | None = None) -> StepResult:
        """One control cycle: maybe switch, build the observation, infer, return PD targets (or why not)."""
        t0 = time.perf_counter()
        now_ns = time.monotonic_ns() if now_ns is None else int(now_ns)
        stale = self.heightmap_staleness(now_ns)
        self._hm_fresh_cycles = 0 if stale[0] else self._hm_fresh_cycles + 1
        if self.q is None or self.quat is None:
            return StepResult(None, "", "waiting for joint states and IMU")
        max_age = self.config.max_state_age_s
        if (now_ns - self.joint_rx_ns) * 1e-9 > max_age or (now_ns - self.imu_rx_ns) * 1e-9 > max_age:
            return StepResult(None, "", f"joint state or IMU older than {max_age * 1e3:.0f} ms")
        name, reason, stale_input = self._choose(stale)
        if name != self.active:
            self._switch(name)
        timing = CycleTiming()
        obs = None
        if name == HOLD:
            q_target, kp, kd = self.hold_q, self.hold_kp, self.hold_kd
        else:
            p = self.policies[name]
            t1 = time.perf_counter()
            extras = {"target_xy": self.root_target[:2], "target_yaw": self.root_target[2:]}
            obs = p.builder(
                self.gyro,
                self.quat,
                self.q,
                self.dq,
                p.last_action,
                extras,
                self.hm_values if p.needs_heightmap else None,
            )
            t2 = time.perf_counter()
            if not np.all(np.isfinite(obs)):
                p.builder.reset()
                return StepResult(None, name, "observation is not finite")
            action = p.infer(obs)
            t3 = time.perf_counter()
            timing.obs_ms, timing.infer_ms = (t2 - t1) * 1e3, (t3 - t2) * 1e3
            if not np.all(np.isfinite(action)):
                return StepResult(None, name, "policy produced a non-finite action")
            p.last_action = np.clip(action, -p.meta.action_clip, p.meta.action_clip)
            q_target, kp, kd = p.action_to_q(action), p.meta.kp, p.meta.kd
        self.last_q_target = q_target.copy()
        self.seq += 1
        n = self.contract.dof
        targets = PdTargets(
            self.contract.joint_names,
            q_target.copy(),
            np.zeros(n),
            np.zeros(n),
            kp.copy(),
            kd.copy(),
            self.joint_stamp_ns,
            self.seq,
            name,
        )
        timing.compute_ms = (time.perf_counter() - t0) * 1e3
        return StepResult(targets, name, reason, timing, obs, stale_input)
