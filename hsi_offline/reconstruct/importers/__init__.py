"""Importers for what users already produce with GPU tools: SMPL/SMPL-X parameters, per-frame depth + cameras."""
