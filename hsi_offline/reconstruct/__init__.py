"""Real-to-sim part 1: a casual video (or imported GPU-tool outputs) -> metric, gravity-aligned human motion
and the terrain it moves on, written as a validated clip folder (see docs/reconstruction.md)."""
