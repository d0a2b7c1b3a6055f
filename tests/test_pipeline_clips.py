"""The pipeline's clips stage (``write_clip_set``): motion clips get every variant the run file asks for,
procedural clips (standing in place) only their mirror image, since another speed, path or heading of
standing still is the same clip."""

from __future__ import annotations

from hsi_offline.motion.clip import load
from hsi_offline.pipeline.clips import write_clip_set
from hsi_offline.retarget.pipeline import retarget_clip
from hsi_offline.retarget.synthetic_human import flat_walk
from hsi_offline.training.procedural_clips import standing_clip


def test_motion_clips_get_the_variants_and_procedural_clips_their_mirror(tmp_path):
    walk, _, _ = retarget_clip(flat_walk(n_steps=4))
    src = walk.save(tmp_path / "src" / "walk.npz")
    proc = tmp_path / "procedural"
    standing_clip(seconds=1.0).save(proc / "standing.npz")
    out = tmp_path / "clips"
    out.mkdir()
    settings = {"mirror": True, "speeds": [0.8], "straighten": [0.0, 0.4], "original": False}
    written = write_clip_set(out, [src], settings, ["flat"], 23, log=lambda _m: None, procedural=proc)
    names = sorted(p.stem for p in written)
    walks = [
        f"walk_{p}{m}{s}"
        for p in ("straight", "curve+0.4")
        for m in ("", "_mirror")
        for s in ("", "_speed0.8")
    ]
    assert names == sorted([*walks, "standing_original", "standing_mirror"])
    assert (out / "clips.png").stat().st_size > 0
    curve = load(out / "walk_curve+0.4_speed0.8.npz")
    kinds = [v["kind"] for v in curve.provenance["variants"]]
    assert kinds == ["straighten", "speed"]
