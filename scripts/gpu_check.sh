#!/usr/bin/env bash
# The GPU check for the day a GPU machine is lent (about 10 minutes, no network there): MuJoCo Warp
# throughput at 4096 and 8192 environments, then `hsi-offline pipeline config/pipelines/gpu_check.yaml` with
# the gpu profile (all four stages, export, evaluation) for a short budget. Everything it measures goes to
# $OUT (default ./gpu_check_out): bench_env_warp.json, pipeline.log (stage, iteration, steps/s, ETA), the run's
# report.md, every stage's learning_curves.png, history.json and train.log, summary.txt.
#
# Needs the project's environment on that machine (.venv from scripts/setup.sh, or PY=/path/to/python) with
# a CUDA build of torch, warp-lang and mujoco-warp. Run from the repository root:
#   OUT=/tmp/gpu bash scripts/gpu_check.sh            # or through the device tool: bash scripts/gpu_check.sh
# Budgets (seconds, override by environment): BENCH_S=240 (includes Warp's first kernel compile),
# PIPELINE_S=330. A stage cut off by the budget still leaves its checkpoints; its curves are drawn from the
# last one.
set -uo pipefail
OUT=${OUT:-gpu_check_out}
PY=${PY:-.venv/bin/python}
BENCH_S=${BENCH_S:-240}
PIPELINE_S=${PIPELINE_S:-330}
RUN=${RUN:-runs/pipelines/gpu_check}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
echo "gpu_check: $(date -u +%FT%TZ) on $(hostname), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
command -v nvidia-smi >/dev/null && nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

if ! "$PY" - > "$OUT/environment.txt" 2>&1 <<'EOF'
import sys
import torch, warp, mujoco, mujoco_warp  # noqa: F401  (what the warp backend needs)
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)
print("warp", warp.config.version, "mujoco", mujoco.__version__)
assert torch.cuda.is_available(), "torch sees no CUDA device"
print("gpu", torch.cuda.get_device_name(0))
EOF
then
    echo "gpu_check: the environment is not usable here (see $OUT/environment.txt):"
    tail -1 "$OUT/environment.txt"
    exit 3
fi
cat "$OUT/environment.txt"

echo "gpu_check: Warp throughput (4096 and 8192 environments; the first call compiles the kernels)"
timeout -s INT "$BENCH_S" nice -n 5 "$PY" -m hsi_offline.cli bench env --backend warp --envs 4096 8192 \
    --steps 50 --repeats 2 --json "$OUT/bench_env_warp.json"
echo "gpu_check: bench exit $?"

echo "gpu_check: pipeline with the gpu profile (budget ${PIPELINE_S} s)"
timeout -s INT "$PIPELINE_S" "$PY" -m hsi_offline.cli pipeline config/pipelines/gpu_check.yaml --profile gpu \
    --out "$RUN" 2>&1 | tee "$OUT/pipeline.log"
echo "gpu_check: pipeline exit ${PIPESTATUS[0]}"

# bring back what the stages wrote; a stage the budget cut off gets its curves from its last checkpoint
"$PY" - "$RUN" "$OUT" <<'EOF'
import re, shutil, sys
from pathlib import Path
run, out = Path(sys.argv[1]), Path(sys.argv[2]) / "pipeline"
out.mkdir(parents=True, exist_ok=True)
if (run / "report.md").is_file():
    shutil.copy(run / "report.md", out / "report.md")
lines = []
for stage in ("mpt", "track", "distill", "finetune"):
    d = run / stage
    if not d.is_dir():
        continue
    (out / stage).mkdir(exist_ok=True)
    for name in ("learning_curves.png", "history.json", "train.log", "stage_config.yaml", "stage.json"):
        if (d / name).is_file():
            shutil.copy(d / name, out / stage / name)
    ckpts = sorted(d.glob("model_*.pt"), key=lambda p: int(re.findall(r"\d+", p.name)[0]))
    if ckpts and not (d / "learning_curves.png").is_file():
        from hsi_offline.training.runner import load_checkpoint, plot_curves
        hist = ((load_checkpoint(ckpts[-1]).get("infos") or {}).get("hsi_robot") or {}).get("history") or []
        if hist:
            plot_curves(hist, out / stage / "learning_curves.png", f"{stage} (cut off at {ckpts[-1].name})")
    log = (d / "train.log").read_text() if (d / "train.log").is_file() else ""
    times = [float(t) for t in re.findall(r" (\d+\.\d+)s\s*$", log, flags=re.M)]
    lines.append(f"{stage}: {len(times)} iterations logged, median {sorted(times)[len(times) // 2]:.2f} s per iteration"
                 if times else f"{stage}: no iteration logged")
for name in ("summary.json",):
    if (run / "evaluate" / name).is_file():
        shutil.copy(run / "evaluate" / name, out / name)
for png in (run / "evaluate" / "report").glob("*.png") if (run / "evaluate" / "report").is_dir() else []:
    shutil.copy(png, out / png.name)
(out.parent / "summary.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
grep -h "steps/s" "$OUT/pipeline.log" | tail -5
echo "gpu_check: done; results in $OUT"
