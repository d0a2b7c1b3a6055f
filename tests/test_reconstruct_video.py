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


def _draw_person(img: np.ndarray, cx: float, top: float, s: float = 1.0) -> None:
    """A flat cartoon person (head with face, shirt, skin-coloured arms, trousers, shoes): BlazePose and the
    selfie segmenter both take it for a person, so the tests can exercise the real perception path."""
    import cv2

    skin, shirt, pants, shoe = (190, 150, 120), (40, 70, 160), (40, 40, 60), (20, 20, 20)

    def P(x: float, y: float) -> tuple[int, int]:  # noqa: N802
        return int(cx + x * s), int(top + y * s)

    cv2.ellipse(img, P(0, 30), (int(22 * s), int(28 * s)), 0, 0, 360, skin, -1)
    cv2.ellipse(img, P(0, 8), (int(23 * s), int(14 * s)), 0, 180, 360, (60, 40, 30), -1)
    for ex in (-8, 8):
        cv2.circle(img, P(ex, 30), max(1, int(3 * s)), (30, 30, 30), -1)
    cv2.ellipse(img, P(0, 44), (int(7 * s), int(3 * s)), 0, 0, 180, (120, 60, 60), -1)
    cv2.rectangle(img, P(-8, 55), P(8, 68), skin, -1)
    cv2.fillPoly(img, [np.array([P(-38, 70), P(38, 70), P(30, 180), P(-30, 180)])], shirt)
    for sx in (-1, 1):
        cv2.line(img, P(sx * 36, 75), P(sx * 50, 135), shirt, int(16 * s))
        cv2.line(img, P(sx * 50, 135), P(sx * 55, 190), skin, int(13 * s))
        cv2.circle(img, P(sx * 55, 195), int(9 * s), skin, -1)
        cv2.line(img, P(sx * 18, 180), P(sx * 22, 270), pants, int(26 * s))
        cv2.line(img, P(sx * 22, 270), P(sx * 24, 355), pants, int(22 * s))
        cv2.ellipse(img, P(sx * 32, 362), (int(18 * s), int(8 * s)), 0, 0, 360, shoe, -1)
    cv2.rectangle(img, P(-32, 170), P(32, 190), pants, -1)


def _scene_frames(people: list[list[tuple[float, float, float]]], w: int = 360, h: int = 480) -> list:
    """One frame per entry: a wall and floor with the listed (x, top, scale) cartoon people drawn on it."""
    frames = []
    for figures in people:
        img = np.full((h, w, 3), (170, 190, 170), np.uint8)
        img[int(0.8 * h) :] = (120, 110, 100)
        for cx, top, sc in figures:
            _draw_person(img, cx, top, sc)
        frames.append(img)
    return frames


def test_cartoon_person_is_tracked(tmp_path: Path) -> None:
    """The positive control for the video-level bad-input tests below: one person is tracked throughout."""
    frames = _scene_frames([[(150 + 2 * i, 40, 1.0)] for i in range(20)])
    p = write_video(tmp_path / "one.mp4", frames, fps=30)
    obs, stats = run_mediapipe(str(p))
    assert stats["tracked_frames"] >= 18 and obs.num_frames == 20
    assert stats["several_people_seen"] == 0 and obs.fps == pytest.approx(30.0)


def test_rotated_phone_video_is_seen_upright(tmp_path: Path) -> None:
    """Frames stored sideways with a 90 degree display-rotation tag (a phone held upright): perception sees
    the person upright in a 360 x 480 frame, head above hips."""
    upright = _scene_frames([[(150 + 2 * i, 40, 1.0)] for i in range(20)])
    p = write_video(tmp_path / "rot.mp4", [np.rot90(f, k=-1) for f in upright], fps=30, rotation=90)
    obs, stats = run_mediapipe(str(p))
    assert (stats["width"], stats["height"], stats["rotation"]) == (360, 480, 90)
    assert stats["tracked_frames"] >= 18
    v = obs.valid
    nose_y, hip_y = obs.uv[v, 0, 1], obs.uv[v][:, [23, 24], 1].mean(axis=1)
    assert np.all(nose_y < hip_y - 100)


def test_person_lost_for_long_stretch_in_video(tmp_path: Path) -> None:
    """Person visible 0.67 s, gone 2.33 s (walked out of frame), back 0.67 s: refused with the stretch named;
    accepted when --max-gap allows the stretch."""
    seen = [[(150 + i, 40, 1.0)] for i in range(20)]
    frames = _scene_frames(seen + [[]] * 70 + seen)
    p = write_video(tmp_path / "lost.mp4", frames, fps=30)
    with pytest.raises(ValueError, match=r"the person is lost for 2\.\d s \(frames \d+-\d+\)"):
        run_mediapipe(str(p))
    obs, stats = run_mediapipe(str(p), PerceptionConfig(max_gap_seconds=3.0))
    assert 36 <= stats["tracked_frames"] <= 42 and not obs.valid[25:85].any()


def test_several_people_in_video(tmp_path: Path) -> None:
    """Two people side by side: refused (the documented rule) with the numbered preview written;
    --allow-multiple (= --person largest) keeps the larger person, on its box in every tracked frame."""
    two = [[(140, 40, 1.0), (470 - i, 60, 0.95)] for i in range(30)]
    p = write_video(tmp_path / "two.mp4", _scene_frames(two, w=640), fps=30)
    preview = tmp_path / "people.png"
    with pytest.raises(
        ValueError, match=r"several people are visible .*--person largest\|centre\|longest\|N"
    ):
        run_mediapipe(str(p), PerceptionConfig(preview_path=str(preview)))
    assert preview.stat().st_size > 1000
    obs, stats = run_mediapipe(str(p), PerceptionConfig(allow_multiple=True))
    assert stats["person"]["rule"] == "largest" and stats["person"]["people_in_first_frame"] == 2
    assert stats["tracked_frames"] >= 27
    cx = 0.5 * (obs.boxes[obs.valid, 0] + obs.boxes[obs.valid, 2])
    assert np.all(np.abs(cx - 140) < 60)


def test_real_frame_rate_from_timestamps(tmp_path: Path) -> None:
    """A variable-frame-rate file (25 fps with a 1 s recording pause): the container's average rate is
    40 frames over 2.6 s (about 15 fps), the real frame interval is 40 ms; the reader reports 25 fps."""
    from fractions import Fraction

    import av

    p = tmp_path / "vfr.mp4"
    with av.open(str(p), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for i, t_ms in enumerate([40 * i for i in range(20)] + [40 * i + 1000 for i in range(20, 40)]):
            fr = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 5 * i, np.uint8), format="rgb24")
            fr.pts, fr.time_base = t_ms, Fraction(1, 1000)
            for pk in s.encode(fr):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    info = probe(p)
    assert info.fps < 20  # the container's average: not the capture rate
    times = np.array([t for t, _ in iter_frames(p)])
    assert len(times) == 40
    assert fps_from_times(times, info.fps) == pytest.approx(25.0, rel=1e-3)


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
