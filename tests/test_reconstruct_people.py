"""One person kept: identity tracking through a crossing, on real BlazePose + selfie-segmenter output of
drawn people (the cartoon person of test_reconstruct_video.py), and the tracker's rules on boxes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hsi_offline.reconstruct.people import (
    choose_person,
    identity_switches,
    parse_person_rule,
    track_people,
)
from hsi_offline.reconstruct.perception import PerceptionConfig, run_mediapipe
from hsi_offline.reconstruct.video import write_video

sys.path.insert(0, str(Path(__file__).parent))
from test_reconstruct_video import _scene_frames  # noqa: E402

N = 60
A_X = [150 + 500 * i / (N - 1) for i in range(N)]  # near person (scale 1.0), left to right
B_X = [650 - 500 * i / (N - 1) for i in range(N)]  # far person (scale 0.8), right to left, behind A


@pytest.fixture(scope="module")
def crossing_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = _scene_frames([[(B_X[i], 90, 0.8), (A_X[i], 40, 1.0)] for i in range(N)], w=800)
    return write_video(tmp_path_factory.mktemp("cross") / "cross.mp4", frames, fps=30)


def _who(boxes: np.ndarray) -> str:
    """Per frame: 'A' or 'B' (the drawn person whose centre the kept box is nearer), '.' when untracked."""
    c = 0.5 * (boxes[:, 0] + boxes[:, 2])
    return "".join(
        "." if not np.isfinite(x) else ("A" if abs(x - a) < abs(x - b) else "B")
        for x, a, b in zip(c, A_X, B_X)
    )


@pytest.mark.parametrize(("rule", "person"), [("largest", "A"), ("2", "B"), ("1", "A")])
def test_kept_person_never_switches_in_a_crossing(
    crossing_video: Path, tmp_path: Path, rule: str, person: str
) -> None:
    """Two people walk past each other (the near one hides the far one mid-clip). The chosen person's box is
    on that person in every tracked frame before and after the crossing - no switch - and the frames where
    the two are one blob are left untracked, not given to either."""
    preview = tmp_path / "people.png"
    obs, stats = run_mediapipe(str(crossing_video), PerceptionConfig(person=rule, preview_path=str(preview)))
    who = _who(obs.boxes)
    assert set(who) == {person, "."}, who
    assert who[:15] == person * 15 and who[-10:] == person * 10, who
    assert stats["person"]["people_in_first_frame"] == 2 and preview.stat().st_size > 1000
    assert stats["person"]["frames_merged_with_another_person"] >= 5
    assert not obs.valid[28:32].any()  # the middle of the crossing: one blob


def test_person_number_must_exist(crossing_video: Path) -> None:
    with pytest.raises(ValueError, match=r"--person 3: the first frame shows 2 person"):
        run_mediapipe(str(crossing_video), PerceptionConfig(person=3))


def test_person_rule_words() -> None:
    assert parse_person_rule("Centre") == "centre" and parse_person_rule("center") == "centre"
    assert parse_person_rule("2") == 2
    with pytest.raises(ValueError, match="expected largest, centre, longest or a number"):
        parse_person_rule("tallest")


def _box(cx: float, h: float) -> np.ndarray:
    return np.array([cx - 0.2 * h, 100.0, cx + 0.2 * h, 100.0 + h])


def test_tracks_come_out_of_a_merge_the_way_they_went_in() -> None:
    """Boxes only: two walkers 4 px/frame in opposite directions, one merged blob for 20 frames. Each track
    keeps its walker (the constant-velocity prediction carries it), so zero switches; the rules pick as
    documented (largest in frame 0, nearest the centre, longest)."""
    T = 100
    a = np.array([_box(200 + 4 * t, 300) for t in range(T)])
    b = np.array([_box(600 - 4 * t, 240) for t in range(T)])
    dets = []
    for t in range(T):
        if 40 <= t < 60:
            dets.append(np.array([[min(a[t, 0], b[t, 0]), 100, max(a[t, 2], b[t, 2]), 400]]))
        else:
            dets.append(np.stack([a[t], b[t]]))
    tracks = track_people(dets)
    assert len(tracks) == 2
    for tr, truth in (
        (choose_person(tracks, "largest", 800, 600), [a, b]),
        (choose_person(tracks, 2, 800, 600), [b, a]),
    ):
        kept = np.array([tr.boxes[t] for t in range(T)])
        assert identity_switches(kept, truth) == 0
        assert tr.coasted == set(range(40, 60))
    assert choose_person(tracks, "centre", 1000, 600) is choose_person(tracks, 2, 800, 600)
    assert choose_person(tracks, "centre", 600, 600) is choose_person(tracks, "largest", 800, 600)
