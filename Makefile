# hsi_robot: two commands do all set-up on a fresh machine (Debian 12, Python 3.11).
#   make demo  - set up .venv and run the simulated G1 with the onboard stack (sim-in-the-loop)
#   make test  - set up .venv (with test-only references) and run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint models bench clean

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

models: setup
	$(VENV)/bin/hsi-robot model build

clean:
	rm -rf $(VENV) .venv-cyclonedds .pytest_cache build *.egg-info
