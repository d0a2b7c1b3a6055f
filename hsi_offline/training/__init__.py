"""Policy learning: the G1 motion-tracking environment (MuJoCo CPU / MuJoCo Warp GPU) and its rsl-rl glue."""
