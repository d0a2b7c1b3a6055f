"""Video reading and every bad-input case, with small synthetic videos written by PyAV."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hsi_offline.reconstruct.perception import (
    PerceptionConfig,
    check_single_person,
    check_tracking,
    count_other_people,
    run_mediapipe,
)
from hsi_offline.reconstruct.video import fps_from_times, iter_frames, probe, write_video


def _stick_figure_frames(n: int, w: int = 160, h: int = 240) -> list[np.ndarray]:
    """A drawn stick figure on a grey background (BlazePose does not take it for a person)."""
    import cv2

    frames = []
    for i in range(n):
        img = np.full((h, w, 3), 200, np.uint8)
        x = 40 + 2 * i
        pts = {
            "head": (x, 40),
            "neck": (x, 70),
            "hip": (x, 140),
            "lf": (x - 20, 220),
            "rf": (x + 20, 220),
            "lh": (x - 30, 110),
            "rh": (x + 30, 110),
        }
        cv2.circle(img, pts["head"], 18, (20, 20, 20), 3)
        for a, b in (("neck", "hip"), ("hip", "lf"), ("hip", "rf"), ("neck", "lh"), ("neck", "rh")):
            cv2.line(img, pts[a], pts[b], (20, 20, 20), 4)
        frames.append(img)
    return frames


def test_probe_honours_rotation_and_frame_rate(tmp_path: Path) -> None:
    img = np.zeros((48, 96, 3), np.uint8)
    img[:, :48] = 255  # left half white: after a 90 degree rotation it is the bottom or top half
    p = write_video(tmp_path / "rot.mp4", [img] * 12, fps=24, rotation=90)
    info = probe(p)
    assert (info.width, info.height, info.rotation) == (48, 96, 90)
    assert info.fps == pytest.approx(24.0)
    frames = list(iter_frames(p))
    assert len(frames) == 12 and frames[0][1].shape == (96, 48, 3)
    top, bottom = frames[0][1][:40].mean(), frames[0][1][-40:].mean()
    assert abs(top - bottom) > 100  # the white half moved to one end: the frame was really rotated
    assert fps_from_times(np.array([t for t, _ in frames]), 0.0) == pytest.approx(24.0, rel=1e-3)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hsi_offline.cli", "reconstruct", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_unreadable_video_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    r = _cli(str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert "cannot read video" in last and "bad.mp4" in last
    assert not (tmp_path / "out" / "human_motion.npz").exists()


def test_missing_video_is_one_line_error(tmp_path: Path) -> None:
    r = _cli(str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "does not exist" in r.stderr.strip().splitlines()[-1]


def test_no_person_in_video(tmp_path: Path) -> None:
    p = write_video(tmp_path / "stick.mp4", _stick_figure_frames(20), fps=20)
    with pytest.raises(ValueError, match="no person detected in any of 20 frames"):
        run_mediapipe(str(p))


def test_too_few_frames(tmp_path: Path) -> None:
    p = write_video(tmp_path / "short.mp4", _stick_figure_frames(5), fps=20)
    r = _cli(str(p), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "only 5 frames" in r.stderr.strip().splitlines()[-1]


def test_person_lost_for_long_stretch() -> None:
    valid = np.ones(300, bool)
    valid[100:200] = False  # 3.3 s at 30 fps
    with pytest.raises(ValueError, match=r"lost for 3\.3 s \(frames 100-199\)"):
        check_tracking(valid, 30.0, PerceptionConfig(), "clip")
    check_tracking(valid, 30.0, PerceptionConfig(max_gap_seconds=4.0), "clip")  # allowed when asked


def test_person_tracked_too_rarely() -> None:
    valid = np.zeros(100, bool)
    valid[::5] = True
    with pytest.raises(ValueError, match="tracked in only 20 of 100 frames"):
        check_tracking(valid, 30.0, PerceptionConfig(), "clip")


def test_several_people_rule() -> None:
    person = np.zeros((60, 80), bool)
    person[10:50, 10:25] = True
    everyone = person.copy()
    everyone[12:48, 50:64] = True  # a second person-sized blob
    small = person.copy()
    small[5:8, 60:62] = True  # a bird, not a person
    assert count_other_people(person, everyone) == 1
    assert count_other_people(person, small) == 0
    with pytest.raises(ValueError, match="several people are visible"):
        check_single_person([1, 1, 0, 1], PerceptionConfig(), "clip")
    check_single_person([1, 1, 0, 1], PerceptionConfig(allow_multiple=True), "clip")
    check_single_person([0, 0, 0, 0, 0, 1], PerceptionConfig(), "clip")  # a passer-by in one check is fine
