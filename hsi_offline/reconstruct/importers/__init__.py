"""Importers for what users already produce with GPU tools: SMPL/SMPL-X, depth + cameras, VideoMimic."""
