"""Video reading with PyAV: real frame rate from timestamps, rotation metadata honoured, clear errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class VideoInfo:
    path: Path
    width: int  # after rotation
    height: int
    fps: float
    num_frames: int  # from the container (may be an estimate; the reader counts the real number)
    rotation: int  # degrees counter-clockwise applied to display the frames upright


def _open(path: Path):  # noqa: ANN202
    import av

    if path.is_dir():
        raise ValueError(f"video '{path}' is a folder, not a video")
    if not path.is_file():
        raise FileNotFoundError(f"video '{path}' does not exist")
    try:
        c = av.open(str(path))
    except Exception as e:
        raise ValueError(f"cannot read video '{path}': {e.__class__.__name__}: {e}") from None
    if not c.streams.video:
        c.close()
        raise ValueError(f"'{path}' has no video stream")
    return c


def probe(path: str | Path) -> VideoInfo:
    path = Path(path)
    c = _open(path)
    try:
        s = c.streams.video[0]
        rate = float(s.average_rate) if s.average_rate else (float(s.guessed_rate) if s.guessed_rate else 0.0)
        first = next(c.decode(video=0), None)
        if first is None:
            raise ValueError(f"cannot read video '{path}': no decodable frame")
        rot = int(getattr(first, "rotation", 0) or 0) % 360
        w, h = first.width, first.height
        if rot in (90, 270):
            w, h = h, w
        n = int(s.frames or 0)
        if n == 0 and s.duration and s.time_base:
            n = int(round(float(s.duration * s.time_base) * rate))
        return VideoInfo(path, w, h, rate, n, rot)
    except Exception as e:  # PyAV's errors, some of them ValueErrors that do not name the file
        if isinstance(e, ValueError) and str(path) in str(e):
            raise
        raise ValueError(f"cannot read video '{path}': {e.__class__.__name__}: {e}") from None
    finally:
        c.close()


def iter_frames(path: str | Path, max_side: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time in seconds, RGB uint8 frame upright) for every frame; optionally downscaled so the longer
    side is at most `max_side` pixels."""
    path = Path(path)
    c = _open(path)
    decoded, failures = 0, []
    try:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        declared = int(s.frames or 0)
        for fr in _decode_skipping_damage(c, s, failures):
            decoded += 1
            rot = int(getattr(fr, "rotation", 0) or 0) % 360
            w, h = fr.width, fr.height
            if max_side and max(w, h) > max_side:
                k = max_side / max(w, h)
                w, h = int(round(w * k / 2)) * 2, int(round(h * k / 2)) * 2
            img = fr.to_ndarray(format="rgb24", width=w, height=h)
            if rot:
                img = np.ascontiguousarray(np.rot90(img, k=rot // 90))
            t = float(fr.pts * fr.time_base) if fr.pts is not None and fr.time_base else float("nan")
            yield t, img
        if not decoded and failures:
            raise ValueError(f"cannot decode video '{path}': {failures[0]}")
        if decoded < declared or failures:
            _warn_truncated(path, decoded, declared, failures[0] if failures else "")
    except Exception as e:
        if isinstance(e, ValueError) and str(path) in str(e):
            raise
        raise ValueError(f"cannot decode video '{path}': {e.__class__.__name__}: {e}") from None
    finally:
        c.close()


def _decode_skipping_damage(c, s, failures: list[str]) -> Iterator:  # noqa: ANN001
    """The stream's frames, packet by packet; a packet that does not decode (a cut-off file's missing tail,
    a damaged stretch) is skipped and noted in ``failures``: PyAV's ``decode`` generator ends at the first
    error with an exception that does not name the file, and the frames after it are lost."""
    for packet in c.demux(s):
        try:
            frames = packet.decode()
        except Exception as e:  # PyAV's decode errors (some of them subclass ValueError)
            failures.append(f"{e.__class__.__name__}: {e}")
            continue
        yield from frames


_warned_truncated: set[Path] = set()


def _warn_truncated(path: Path, decoded: int, declared: int, failure: str = "") -> None:
    """One line on stderr, once per file: a cut-off file decodes its first frames without an error, and what
    it lacks would otherwise go unnoticed (the report would say "tracked 17/17" of a 90-frame video)."""
    if path in _warned_truncated:
        return
    _warned_truncated.add(path)
    how = f"{decoded} of the {declared} frames its container declares" if declared else f"{decoded} frames"
    why = f" (first decode error: {failure.split(':')[0]})" if failure else ""
    print(
        f"warning: video '{path}' is truncated or damaged: {how} could be decoded{why}; only those are used",
        file=sys.stderr,
        flush=True,
    )


def fps_from_times(times: np.ndarray, fallback: float) -> float:
    """Real frame rate from presentation timestamps (median frame interval), else the container's rate."""
    t = np.asarray(times, dtype=np.float64)
    t = t[np.isfinite(t)]
    if len(t) >= 3:
        dt = np.median(np.diff(t))
        if dt > 0:
            return float(1.0 / dt)
    if fallback > 0:
        return float(fallback)
    raise ValueError("the video has no usable frame rate (no timestamps, no average rate)")


def write_video(path: str | Path, frames: list[np.ndarray], fps: int = 30, rotation: int = 0) -> Path:
    """Write RGB frames as H.264 MP4 (tests make their synthetic videos with this); optional rotation tag."""
    import av

    path = Path(path)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        if rotation:
            s.set_display_rotation(rotation)
        for img in frames:
            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
