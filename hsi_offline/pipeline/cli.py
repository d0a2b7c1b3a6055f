"""``hsi-offline pipeline RUN.yaml``: motion in, evaluated policy out, in one resumable command.

Stages in order: reconstruct -> retarget -> clips -> mpt -> track -> distill -> finetune -> export ->
evaluate.
Run it again after a change or an interruption: stages whose inputs and settings are unchanged are skipped, a
cut-off training stage continues from its last checkpoint. See docs/pipeline.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .runfile import PROFILES, STAGES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_file", type=Path, help="run file (config/pipelines/*.yaml)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/pipelines/<name>)")
    p.add_argument(
        "--source", nargs="*", default=[], help="more sources: mocap files (BVH, ...) or clip folders"
    )
    p.add_argument(
        "--profile", choices=tuple(PROFILES), default=None, help="machine profile (default: the file's)"
    )
    p.add_argument("--until", choices=STAGES, default=None, help="stop after this stage")


def run(args: argparse.Namespace) -> int:
    from hsi_offline.outputs import check_output_dir

    from .report import write_report
    from .run import Pipeline, default_out
    from .runfile import load_run_file

    rf = load_run_file(args.run_file, args.source, args.profile)
    out = check_output_dir(args.out or default_out(rf), "run folder")
    pipe = Pipeline(rf, out, args.until)
    try:
        pipe.execute()
    finally:  # an interrupted or failed run still gets the report of what it did
        report = write_report(out, rf, pipe.done, pipe.ran, pipe.skipped) if pipe.done else None
    print(
        f"[pipeline] ran {', '.join(pipe.ran) or 'nothing'}; skipped {', '.join(pipe.skipped) or 'nothing'}"
    )
    print(f"[pipeline] report: {report}")
    return 0
