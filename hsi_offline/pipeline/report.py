"""The run's one report (``RUN/report.md``): what every stage did, with the figures the stages wrote.

Why links and not copies: the retarget pictures, learning curves and evaluation plots already sit in the stage
folders of the run; the report links them relative to itself, so the run folder can be moved or archived
whole.
"""

from __future__ import annotations

import json
from pathlib import Path

from hsi_kernel.atomic import write_bytes_atomic

from .runfile import STAGES, TRAIN_STAGES, RunFile


def _rel(path: Path, root: Path) -> str:
    return str(Path(path).resolve().relative_to(root.resolve()))


def _train_row(folder: Path) -> str:
    hist = folder / "history.json"
    try:
        h = json.loads(hist.read_text())
    except (OSError, ValueError):
        return "no history"
    if not h:
        return "no iterations"
    a, b = h[0], h[-1]
    nan = float("nan")
    ep = f"{a['mean_episode_length']:.0f} -> {b['mean_episode_length']:.0f}"
    ok = f"{a.get('success_rate', nan):.2f} -> {b.get('success_rate', nan):.2f}"
    return f"{len(h)} iterations; episode length {ep}; tracking success {ok}"


def write_report(
    out: Path, run: RunFile, stamps: dict[str, dict], ran: list[str], skipped: list[str]
) -> Path:
    lines = [
        f"# Pipeline run `{run.name}`",
        "",
        f"- run file: `{run.path}`; profile `{run.profile}`; {run.dof}-DoF",
        "- sources: " + (", ".join(f"{s.kind} `{s.path}`" for s in run.sources) or "none (procedural clips)"),
        f"- terrains: {', '.join(run.terrains)}; "
        f"skills (evaluation scenarios): {', '.join(run.skills) or 'all'}",
        f"- reproduce: `hsi-offline pipeline {run.path} --out {out}`",
        "",
        "## Stages",
        "",
        "| stage | this run | seconds (when it ran) | key |",
        "|---|---|---|---|",
    ]
    for s in STAGES:
        st = stamps.get(s)
        if st is None:
            lines.append(f"| {s} | not reached | - | - |")
            continue
        if st.get("skipped"):
            lines.append(f"| {s} | left out by the run file | - | - |")
            continue
        what = "ran" if s in ran else "skipped (up to date)"
        lines.append(f"| {s} | {what} | {st.get('seconds', '-')} | `{st['key'][:12]}` |")
    pictures = sorted((out / "retarget").glob("*/*.png")) if (out / "retarget").is_dir() else []
    if pictures:
        lines += ["", "## Retargeted motion", ""]
        lines += [f"![{p.parent.name}]({_rel(p, out)})" for p in pictures]
    if "clips" in stamps:
        n = len(stamps["clips"].get("clips", []))
        lines += ["", "## Clips", "", f"{n} clips (sources x variants x terrains) in `clips/`."]
        if (out / "clips" / "clips.png").is_file():
            lines += ["", "![clips](clips/clips.png)"]
    trained = [s for s in TRAIN_STAGES if s in stamps and not stamps[s].get("skipped")]
    if trained:
        lines += ["", "## Training", ""]
        for s in trained:
            folder = out / s
            lines.append(f"- **{s}**: {_train_row(folder)} (`{_rel(Path(stamps[s]['checkpoint']), out)}`)")
        for s in trained:
            png = out / s / "learning_curves.png"
            if png.is_file():
                lines += ["", f"![{s} learning curves]({_rel(png, out)})"]
    if "export" in stamps:
        lines += [
            "",
            "## Export",
            "",
            f"`{_rel(Path(stamps['export']['policy']), out)}` (from stage {run.export['from']})",
        ]
    if "evaluate" in stamps:
        summary = json.loads(Path(stamps["evaluate"]["summary"]).read_text())
        sides = [s for s in ("deploy", "lockstep", "training_env") if s in summary.get("sides", [])]
        lines += [
            "",
            "## Evaluation",
            "",
            "| scenario | " + " | ".join(sides) + " |",
            "|---|" + "---|" * len(sides),
        ]
        for sc in summary["scenarios"]:
            cells = []
            for side in sides:
                r = sc.get(side) or {}
                cells.append(
                    "**completed**" if r.get("completed") else ("fell" if r.get("fell") else "not completed")
                )
            lines.append(f"| {sc['name']} | " + " | ".join(cells) + " |")
        report = out / "evaluate" / "report"
        lines += [
            "",
            f"Full evaluation report: [{_rel(report / 'report.md', out)}]({_rel(report / 'report.md', out)})",
        ]
        for png in sorted(report.glob("*.png")):
            lines += ["", f"![{png.stem}]({_rel(png, out)})"]
    path = out / "report.md"
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())
    return path
