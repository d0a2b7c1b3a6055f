"""Sim-to-sim evaluation of an exported policy: ``hsi-offline evaluate POLICY``.

Scenarios (``scenarios``) are run through the onboard nodes against the simulated robot (``deploy``) and in
the training environment (``training_env``); both give ``rollout.Rollout`` ground truth, scored by the same
pure ``scenario_metrics`` and written up by ``report`` (Markdown + PNG + JSON).
"""
