"""Motion clips: the G1 motion format (``clip``), resampling, and G1-motion importers/exporters."""

from .clip import MOTION_CLIP_SCHEMA, MotionClip, load, make_clip
from .resample import resample

__all__ = ["MOTION_CLIP_SCHEMA", "MotionClip", "load", "make_clip", "resample"]
