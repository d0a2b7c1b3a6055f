#!/usr/bin/env bash
# One set-up path for hsi_robot: system packages (when root), .venv, pinned Python deps, the project itself.
# Idempotent: a stamp file keyed on the requirement files skips the pip work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
WITH_TEST=${WITH_TEST:-1}

say() { printf '[setup] %s\n' "$*"; }

# 1. System packages: CycloneDDS 0.10.2 (headers + libddsc) for the Unitree SDK's cyclonedds binding.
need_apt=()
[ -f /usr/include/dds/dds.h ] || need_apt+=(cyclonedds-dev)
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages ${need_apt[*]}; run: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 2
  fi
fi

# 2. CYCLONEDDS_HOME: a prefix of symlinks onto Debian's layout (what cyclonedds==0.10.2's build expects).
CDDS=$ROOT/.venv-cyclonedds
mkdir -p "$CDDS"
ln -sfn /usr/include "$CDDS/include"
ln -sfn /usr/lib/x86_64-linux-gnu "$CDDS/lib"
[ "$(uname -m)" = aarch64 ] && ln -sfn /usr/lib/aarch64-linux-gnu "$CDDS/lib"
ln -sfn /usr/bin "$CDDS/bin"
export CYCLONEDDS_HOME=$CDDS

# 3. Virtual environment and pinned packages.
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
stamp=$VENV/.hsi_setup_stamp
want=$(cat requirements/*.txt setup.py pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$WITH_TEST
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned Python packages (first run takes several minutes)"
  $PIP install -q --upgrade pip setuptools wheel
  # torch first, from the pinned CPU build, so nothing pulls a CUDA build.
  $PIP install -q "torch==2.13.0"
  $PIP install -q -r requirements/runtime.txt
  if [ "$WITH_TEST" = 1 ]; then
    $PIP install -q -r requirements/test.txt
    $PIP install -q --no-deps -r requirements/reference-nodeps.txt
  fi
  $PIP install -q --no-deps -e .
  echo "$want" > "$stamp"
else
  say "Python packages up to date"
fi
"$VENV/bin/python" -c "import hsi_robot_nodes" && say "ready: $VENV"
