"""``hsi-offline tracking``: a training checkpoint rolled out from fixed frames of every clip, per-clip
figures and why each run ended, on a real (tiny) checkpoint trained here."""

from __future__ import annotations

import json

import pytest
from test_training_cli import YAML  # the tiny stage-1 run (2 environments, 2 iterations)

from hsi_offline.cli import main
from hsi_offline.training.procedural_clips import standing_clip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tracking")
    clips = tmp / "clips"
    standing_clip(seconds=0.6).save(clips / "stand_short.npz")
    standing_clip(seconds=1.0).save(clips / "stand_long.npz")
    cfg = tmp / "mpt.yaml"
    cfg.write_text(YAML.format(clip=clips))
    assert main(["train", "--stage", "mpt", "--config", str(cfg), "--out", str(tmp / "run")]) == 0
    return tmp, clips


def _track(tmp, clips, distance: str) -> dict:
    out = tmp / f"track_{distance}.json"
    png = tmp / f"track_{distance}.png"
    args = ["tracking", str(tmp / "run"), "--clips", str(clips), "--starts", "3", "--distance", distance]
    assert main([*args, "--json", str(out), "--png", str(png)]) == 0
    assert png.stat().st_size > 0
    return json.loads(out.read_text())


def test_a_loose_distance_ends_runs_only_at_the_clip_end_or_a_fall(trained, capsys):
    tmp, clips = trained
    result = _track(tmp, clips, "100")
    assert [r["clip"] for r in result["clips"]] == ["stand_long", "stand_short"]
    long, short = result["clips"]
    assert long["frames"] == 51 and short["frames"] == 31  # 50 Hz, both ends
    assert long["starts"] == [0, 16, 33] and short["starts"] == [0, 10, 20]  # evenly spaced
    for r in result["clips"]:
        # a one-iteration policy may fall (forbidden contact), but 100 m never ends a run on distance
        assert set(r["ends"]) <= {"clip_end", "contact"} and sum(r["ends"].values()) == r["runs"] == 3
        assert r["completed"] == r["ends"].get("clip_end", 0)
        assert r["completed"] / 3 <= r["tracked_share"] <= 1.0
        assert 0.0 <= r["mean_link_error_m"] < 2.0
    assert result["runs"] == 6
    out = capsys.readouterr().out
    assert f"{result['completed']}/6 completed" in out and "stand_short" in out


def test_a_tight_distance_ends_every_run_at_once(trained):
    tmp, clips = trained
    result = _track(tmp, clips, "0.0001")
    for r in result["clips"]:
        assert r["ends"] == {"distance": 3} and r["completed"] == 0
        assert r["tracked_share"] < 0.1  # one step of the 10-49 left to go


def test_the_runs_own_clips_by_default(trained, capsys):
    tmp, _ = trained
    assert main(["tracking", str(tmp / "run"), "--starts", "1", "--distance", "100"]) == 0
    out = capsys.readouterr().out
    assert "stand_long" in out and "stand_short" in out and "1 start(s) per clip" in out


def test_bad_input_is_one_line(trained, capsys):
    tmp, clips = trained
    assert main(["tracking", str(tmp / "nope.pt"), "--clips", str(clips)]) == 2
    assert "nope.pt" in capsys.readouterr().err
    assert main(["tracking", str(tmp / "run"), "--clips", str(clips), "--distance", "-1"]) == 2
    assert "--distance must be a positive" in capsys.readouterr().err
