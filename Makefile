# hsi_robot: two commands do all set-up on a fresh machine (Debian 12, Python 3.11).
#   make demo  - set up .venv and run the simulated G1 with the onboard stack (sim-in-the-loop)
#   make test  - set up .venv (with test-only references) and run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast lint models bench clean train-cpu

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/hsi-robot demo

# Each test file runs in its own process: the Unitree SDK's DDS domain is process-wide and rclpy/cyclonedds
# state must not leak between files.
test: setup
	$(PY) -m ruff check .
	@set -e; for f in tests/test_*.py; do $(PY) -m pytest -q -ra -p no:cacheprovider $$f; done

# The test files that start no DDS participant, no rclpy context and no simulator or other child process, in
# one pytest process (about 70 s on 2 cores busy with a training run). The slow ones of that kind (whole
# training, retargeting and heightmap-walk runs) stay in `make test` only.
FAST_TESTS := \
	tests/test_contract.py tests/test_crc_remote.py tests/test_export_onnx.py \
	tests/test_heightmap_core.py tests/test_heightmap_map.py tests/test_heightmap_pointcloud.py \
	tests/test_heightmap_sampler.py tests/test_heightmap_self_filter.py tests/test_joystick_root_command.py \
	tests/test_launch_consistency.py tests/test_lidar_sim.py tests/test_model_vs_official.py \
	tests/test_motion_clip.py tests/test_motion_importers.py tests/test_motion_videomimic_h5.py \
	tests/test_observation_builder.py tests/test_policy_metadata.py tests/test_policy_runner.py \
	tests/test_policy_training_parity.py tests/test_reconstruct_artifacts.py tests/test_reconstruct_fit.py \
	tests/test_reconstruct_scene.py tests/test_reconstruct_sfm.py tests/test_retarget_climb.py \
	tests/test_retarget_inputs.py tests/test_retarget_urdf.py tests/test_retarget_view.py tests/test_safety.py \
	tests/test_sim_robot.py tests/test_training_cpu_backend.py tests/test_training_env.py \
	tests/test_training_runner.py tests/test_unitree_wire.py
test-fast: setup
	$(PY) -m pytest -q -ra -p no:cacheprovider $(FAST_TESTS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

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
