# hsi_robot: two commands do all set-up on a fresh machine (Debian 12, Python 3.11).
#   make demo  - set up .venv and run the simulated G1 with the onboard stack (sim-in-the-loop)
#   make test  - set up .venv (with test-only references) and run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint models bench clean train-cpu

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/hsi-robot demo

# Each test file runs in its own process: the Unitree SDK's DDS domain is process-wide and rclpy/cyclonedds
# state must not leak between files.
test: setup
	$(PY) -m ruff check .
	@set -e; for f in tests/test_*.py; do $(PY) -m pytest -q -ra -p no:cacheprovider $$f; done

lint: setup
	$(PY) -m ruff check .

# The four training stages end to end at CPU scale on procedural flat-ground clips (about 50 min on 2 cores;
# docs/training.md), then export with the golden check and the sim2sim evaluation through the onboard nodes.
CPU_RUNS := runs/cpu
train-cpu: setup
	$(VENV)/bin/hsi-offline clips --out $(CPU_RUNS)/clips
	$(VENV)/bin/hsi-offline train --stage mpt --config config/training/cpu/mpt.yaml --clips $(CPU_RUNS)/clips \
		--out $(CPU_RUNS)/mpt
	$(VENV)/bin/hsi-offline train --stage track --config config/training/cpu/track.yaml --clips $(CPU_RUNS)/clips \
		--init-from $(CPU_RUNS)/mpt --out $(CPU_RUNS)/track
	$(VENV)/bin/hsi-offline train --stage distill --config config/training/cpu/distill.yaml \
		--clips $(CPU_RUNS)/clips --init-from $(CPU_RUNS)/track --out $(CPU_RUNS)/distill
	$(VENV)/bin/hsi-offline train --stage finetune --config config/training/cpu/finetune.yaml \
		--clips $(CPU_RUNS)/clips --init-from $(CPU_RUNS)/distill --out $(CPU_RUNS)/finetune
	$(VENV)/bin/hsi-offline export $(CPU_RUNS)/finetune --out $(CPU_RUNS)/policy.onnx
	$(VENV)/bin/hsi-offline evaluate $(CPU_RUNS)/policy.onnx --json $(CPU_RUNS)/eval.json

models: setup
	$(VENV)/bin/hsi-robot model build

clean:
	rm -rf $(VENV) .venv-cyclonedds .pytest_cache build *.egg-info
