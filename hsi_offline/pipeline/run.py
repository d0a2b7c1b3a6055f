"""Run the stages of a run file in order, skipping what is done and still valid, resuming what was cut off.

Why stamps: a stage is worth skipping only when nothing it depends on changed. Each stage folder gets a
``stage.json`` (written last, atomically) holding a key: the hash of the stage's settings, the content of its
input files and the output digest of the stage before it. The next run recomputes the key; equal means
skip, different means the folder is cleared and the stage runs again, and so does every stage after it
(their upstream digest changes). A training stage that was cut off leaves ``stage.started.json`` with the key
it was started with and its checkpoints: with the same key it continues from the last checkpoint
(``hsi-offline train --resume``) for the iterations left.

Every stage calls the existing command (``hsi-offline reconstruct|retarget|train|export|evaluate`` in a child
process, the clip variants in-process), so the pipeline adds no second implementation of any of them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hsi_kernel.atomic import write_bytes_atomic

from .runfile import PROFILES, STAGES, TRAIN_STAGES, RunFile


class StageError(ValueError):
    """A stage's command failed: one line with its last output line and its log file."""


STAMP = "stage.json"
STARTED = "stage.started.json"
STEPS_PER_S_ESTIMATE = {"cpu": 2500.0, "gpu": 150000.0}  # for the checkpoint interval only
PROGRESS = re.compile(r"^\[(\w+)\] it (\d+)/(\d+) .* (\d+\.\d+)s\s*$")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digest(paths: list[Path]) -> dict[str, str]:
    """Content hash of every file under ``paths`` (files or folders), keyed by path."""
    out = {}
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            out[str(f)] = file_digest(f)
    return out


def stage_key(stage: str, settings: dict, inputs: dict[str, str], upstream: str) -> str:
    blob = json.dumps(
        {"stage": stage, "settings": settings, "inputs": inputs, "upstream": upstream},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: dict) -> None:
    write_bytes_atomic(path, json.dumps(data, indent=1, sort_keys=True, default=str).encode())


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for f in folder.glob("model_*.pt"):
        m = re.fullmatch(r"model_(\d+)\.pt", f.name)
        if m:
            found.append((int(m.group(1)), f))
    return sorted(found)


class Pipeline:
    """One run of a run file into a run folder."""

    def __init__(
        self, run: RunFile, out: Path, until: str | None = None, log: Callable[[str], None] | None = None
    ):
        self.run_file, self.out = run, out
        self.log = log or say
        self.until = until or STAGES[-1]
        self.python = sys.executable
        self.done: dict[str, dict] = {}  # stage -> its stamp
        self.ran: list[str] = []
        self.skipped: list[str] = []

    # --- the stage machinery -------------------------------------------------------------------------
    def folder(self, stage: str) -> Path:
        return self.out / stage

    def stage(
        self, stage: str, inputs: list[Path], upstream: str, body: Callable[[Path, bool], dict]
    ) -> dict:
        """Skip, resume or run one stage; returns its stamp (``output`` is its digest for the next stage)."""
        folder = self.folder(stage)
        settings = self.run_file.settings(stage)
        key = stage_key(stage, settings, tree_digest(inputs), upstream)
        stamp = read_json(folder / STAMP)
        if stamp and stamp.get("key") == key:
            self.log(f"[pipeline] {stage}: up to date, skipped (stamp {folder / STAMP})")
            self.skipped.append(stage)
            self.done[stage] = stamp
            return stamp
        started = read_json(folder / STARTED)
        resume = bool(started and started.get("key") == key and stage in TRAIN_STAGES and checkpoints(folder))
        if not resume and folder.exists():
            shutil.rmtree(folder)  # an old result or a cut-off run with other settings
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / STARTED, {"stage": stage, "key": key, "started": time.time()})
        self.log(f"[pipeline] {stage}: {'resuming' if resume else 'running'}")
        t0 = time.time()
        result = body(folder, resume)
        stamp = {
            "stage": stage,
            "key": key,
            "settings": settings,
            "inputs": [str(p) for p in inputs],
            "upstream": upstream,
            "seconds": round(time.time() - t0, 1),
            "finished": time.time(),
            **result,
        }
        write_json(folder / STAMP, stamp)  # last: its presence means the stage is complete
        (folder / STARTED).unlink(missing_ok=True)
        self.log(f"[pipeline] {stage}: done in {stamp['seconds']:.0f} s")
        self.ran.append(stage)
        self.done[stage] = stamp
        return stamp

    def command(self, args: list[str], log_file: Path, progress: dict | None = None) -> None:
        """Run ``hsi-offline ARGS`` in a child process, its output to ``log_file`` and, for training, one
        progress line per iteration with steps/s and the time left. A failure is one line naming the log."""
        # the entry point's main(), as `hsi-offline` calls it (one-line errors, exit 2), from this interpreter
        cmd = [self.python, "-c", "import sys; from hsi_offline.cli import main; sys.exit(main())", *args]
        with open(log_file, "a") as logf:
            logf.write("$ " + " ".join(cmd) + "\n")
            logf.flush()
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
            )
            times: list[float] = []
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    logf.write(line)
                    m = PROGRESS.match(line.strip())
                    if m and progress:
                        it, total, sec = int(m.group(2)), int(m.group(3)), float(m.group(4))
                        times.append(sec)
                        recent = times[-20:]
                        per_it = sum(recent) / len(recent)
                        sps = progress["steps_per_iteration"] / max(sec, 1e-9)
                        eta = per_it * (total - it)
                        st = m.group(1)
                        self.log(
                            f"[pipeline] {st} it {it}/{total}  {sps:,.0f} steps/s  ETA {eta / 60:.1f} min"
                        )
                rc = proc.wait()
            except KeyboardInterrupt:
                # a terminal's Ctrl-C reached the child too; a SIGINT sent to this process alone did not
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                proc.wait()  # its writers are atomic: what it leaves is whole checkpoints
                raise
        if rc != 0:
            tail = [ln.strip() for ln in log_file.read_text().splitlines() if ln.strip()][-1:]
            what = f"`hsi-offline {args[0]}` failed (exit {rc})"
            raise StageError(f"{what}: {' '.join(tail)} (log: {log_file})")

    # --- the stages ----------------------------------------------------------------------------------
    def execute(self) -> dict[str, dict]:
        self.out.mkdir(parents=True, exist_ok=True)
        stop = STAGES.index(self.until)
        upstream = ""
        for i, name in enumerate(STAGES):
            if i > stop:
                break
            stamp = getattr(self, f"_{name}")(upstream)
            upstream = stamp["output"]
        return self.done

    def _reconstruct(self, upstream: str) -> dict:
        videos = [s.path for s in self.run_file.sources if s.kind == "video"]

        def body(folder: Path, resume: bool) -> dict:
            outs = []
            for v in videos:
                dest = folder / v.stem
                self.command(
                    ["reconstruct", str(v), "--out", str(dest), *_flags(self.run_file.reconstruct)],
                    folder / "reconstruct.log",
                )
                outs.append(dest)
            if not videos:
                self.log("[pipeline] reconstruct: no video sources, nothing to do")
            return {"outputs": [str(p) for p in outs], "output": _digest_of(outs)}

        return self.stage("reconstruct", videos, upstream, body)

    def _retarget(self, upstream: str) -> dict:
        rf = self.run_file
        mocap = [s.path for s in rf.sources if s.kind == "mocap"]
        recon = [Path(p) for p in self.done["reconstruct"]["outputs"]]

        def body(folder: Path, resume: bool) -> dict:
            outs = []
            for src in [*recon, *mocap]:
                dest = folder / src.stem.removesuffix(".npz")
                args = ["retarget", str(src), "--out", str(dest), "--dof", str(rf.dof), *_flags(rf.retarget)]
                self.command(args, folder / "retarget.log")
                outs.append(dest)
            if not outs:
                self.log("[pipeline] retarget: no video or mocap sources, nothing to do")
            return {"outputs": [str(p) for p in outs], "output": _digest_of([o / "motion.npz" for o in outs])}

        return self.stage("retarget", mocap, upstream, body)

    def _clips(self, upstream: str) -> dict:
        rf = self.run_file
        given = [s.path for s in rf.sources if s.kind == "clips"]
        retargeted = [Path(p) for p in self.done["retarget"]["outputs"]]

        def body(folder: Path, resume: bool) -> dict:
            from .clips import write_clip_set

            procedural = None
            if rf.clips["procedural"]:
                procedural = folder / "procedural"
                kinds = ["--kinds", *rf.clips["procedural"]]
                self.command(
                    ["clips", "--out", str(procedural), "--dof", str(rf.dof), *kinds], folder / "clips.log"
                )
            sources = [*retargeted, *given]
            written = write_clip_set(folder, sources, rf.clips, rf.terrains, rf.dof, self.log, procedural)
            return {
                "outputs": [str(folder)],
                "clips": [str(p) for p in written],
                "output": _digest_of(written),
            }

        return self.stage("clips", given, upstream, body)

    def _train(self, stage: str, upstream: str) -> dict:
        rf = self.run_file
        t = rf.train[stage]
        clips_dir = self.folder("clips")
        earlier = [s for s in TRAIN_STAGES[: TRAIN_STAGES.index(stage)] if not rf.train[s].skip]
        previous = earlier[-1] if earlier else None  # the stage this one starts from
        if t.skip:
            self.log(f"[pipeline] {stage}: skipped (the run file's stages.{stage}.skip)")
            self.skipped.append(stage)
            self.done[stage] = {"stage": stage, "skipped": True, "output": upstream}
            return self.done[stage]

        def body(folder: Path, resume: bool) -> dict:
            base = yaml.safe_load(t.config.read_text()) or {}
            over: dict[str, Any] = _merge(
                PROFILES[rf.profile], {"env": {"clips": [str(clips_dir)], "dof": rf.dof}}
            )
            if previous:
                over["init_from"] = str(self.folder(previous))
            if t.iterations is not None:
                over["iterations"] = t.iterations
            over = _merge(over, t.overrides)
            cfg = _merge(base, over)
            envs = int(cfg.get("env", {}).get("num_envs", 128))
            steps = int(cfg.get("num_steps_per_env", 24))
            if "save_interval" not in t.overrides:  # a checkpoint every few minutes at the profile's speed
                per_it = envs * steps / STEPS_PER_S_ESTIMATE[rf.profile]
                cfg["save_interval"] = max(1, int(rf.checkpoint_minutes * 60 / per_it))
            cfg_path = folder / "stage_config.yaml"
            write_bytes_atomic(cfg_path, yaml.safe_dump(cfg, sort_keys=False).encode())
            total = int(cfg.get("iterations", 1))
            args = ["train", "--stage", stage, "--config", str(cfg_path), "--out", str(folder)]
            ck = checkpoints(folder)
            if resume and ck:
                it, path = ck[-1]
                left = total - (it + 1)
                self.log(
                    f"[pipeline] {stage}: continuing from {path.name} ({it + 1} of {total} iterations done)"
                )
                if left < 1:  # cut off after the last checkpoint was written but before history.json
                    left = 1
                args += ["--resume", str(path), "--iterations", str(left)]
            self.command(args, folder / "train.log", {"steps_per_iteration": envs * steps})
            last = checkpoints(folder)[-1][1]
            return {
                "outputs": [str(folder)],
                "checkpoint": str(last),
                "output": file_digest(last),
                "env_steps_per_iteration": envs * steps,
                "iterations": total,
            }

        return self.stage(stage, [t.config], upstream, body)

    def _mpt(self, upstream: str) -> dict:
        return self._train("mpt", upstream)

    def _track(self, upstream: str) -> dict:
        return self._train("track", upstream)

    def _distill(self, upstream: str) -> dict:
        return self._train("distill", upstream)

    def _finetune(self, upstream: str) -> dict:
        return self._train("finetune", upstream)

    def _export(self, upstream: str) -> dict:
        src = self.run_file.export["from"]
        # keyed on the exported stage's checkpoint: exporting distill is not redone when only finetune changed
        upstream = self.done[src]["output"]

        def body(folder: Path, resume: bool) -> dict:
            onnx = folder / "policy.onnx"
            self.command(["export", str(self.folder(src)), "--out", str(onnx)], folder / "export.log")
            return {"outputs": [str(onnx)], "policy": str(onnx), "output": file_digest(onnx)}

        return self.stage("export", [], upstream, body)

    def _evaluate(self, upstream: str) -> dict:
        rf = self.run_file
        ev = rf.evaluate

        def body(folder: Path, resume: bool) -> dict:
            args = [
                "evaluate",
                self.done["export"]["policy"],
                "--out",
                str(folder / "report"),
                "--json",
                str(folder / "summary.json"),
                "--seed",
                str(int(ev.get("seed", 0))),
            ]
            scen = ev.get("scenarios") or rf.skills
            if scen:
                args += ["--scenarios", *[str(s) for s in scen]]
            if ev.get("sides"):
                args += ["--sides", *[str(s) for s in ev["sides"]]]
            if ev.get("duration_scale"):
                args += ["--duration-scale", str(float(ev["duration_scale"]))]
            if ev.get("randomise"):
                args.append("--randomise")
            self.command(args, folder / "evaluate.log")
            return {
                "outputs": [str(folder / "report")],
                "summary": str(folder / "summary.json"),
                "output": file_digest(folder / "summary.json"),
            }

        return self.stage("evaluate", [], upstream, body)


def say(line: str) -> None:
    """Print a progress line now: the pipeline's output usually goes to a log file someone is tailing."""
    print(line, flush=True)


def _flags(options: dict[str, Any]) -> list[str]:
    """A run file's option mapping as command-line flags: ``{fps: 30, no_picture: true}`` ->
    ``--fps 30 --no-picture``."""
    out: list[str] = []
    for k, v in options.items():
        flag = "--" + str(k).replace("_", "-")
        if v is True:
            out.append(flag)
        elif v is not False and v is not None:
            out += [flag, *(map(str, v) if isinstance(v, list) else [str(v)])]
    return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _digest_of(paths: list[Path]) -> str:
    return hashlib.sha256(json.dumps(tree_digest(paths), sort_keys=True).encode()).hexdigest()


def default_out(run: RunFile) -> Path:
    return Path("runs") / "pipelines" / run.name
