"""Artist corrections reach only some frames: the engine tags each frame it writes from the Instance Tracker on with
the corrections that reach it, and says which reach any frame (the `corrections` request), so that a change leaves
the frames it does not reach as they are (they equal a render from scratch with the change) and only the others
are computed again (through a real engine process, and a fresh Service as another machine)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from instyle.service import Service
from instyle.wire import EngineError
from instyle.wire.corrections import corrections_key, read_tag
from instyle.wire.requests import parse_corrections, parse_run

from ..conftest import CUT_CLIP, cut_clip

FIRST_SHOT, COUNT = CUT_CLIP[0], sum(CUT_CLIP)  # footage frames 0-2 from vtest.avi, then a cut to a still
DRAWN_ON = 1
STAGES = ("instance_mask", "instance_tracker", "neural_style", "mrf_blend")
OUTPUTS = {"instance_mask": ("mask",), "instance_tracker": ("mask", "tracks"), "neural_style": ("image",),
           "mrf_blend": ("alpha", "stylized_for_mix")}


def pipeline(cache: Path, tracker: dict) -> list[dict]:
    params = {"instance_mask": {"quality": "faster"}, "instance_tracker": {"shot_start": 0, **tracker},
              "neural_style": {"palette": ["style13"]}, "mrf_blend": {}}  # one style: less work on key frames
    return [{"stage": s, "params": params[s], "write": str(cache / s), "write_outputs": list(OUTPUTS[s])}
            for s in STAGES]


def item(clip: str, f: int) -> dict:
    """Footage frame `f`, cached as frame f + 1 (a scene starting at 1)."""
    return {"source": {"kind": "file", "path": clip, "frame": f}, "frame_number": f + 1}


def cached(cache: Path, f: int) -> dict:
    """Every cached output of footage frame `f`: {(stage, output): float32 array} (HxW for one channel)."""
    return {(s, o): cv2.imread(str(cache / s / o / f"{f + 1:06d}.exr"), cv2.IMREAD_UNCHANGED)
            for s in STAGES for o in OUTPUTS[s]}


def outline_of(mask: np.ndarray) -> list:
    """The largest outline of a bool HxW mask as [[x, y], ...] pixels: what an artist draws as a Mask."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return max(contours, key=cv2.contourArea)[:, 0, :].astype(float).tolist()


def test_a_correction_changes_only_the_frames_it_reaches_and_they_match_a_render_from_scratch(engine, tmp_path):
    clip, cache = str(tmp_path / "cut.avi"), tmp_path / "cache"
    cut_clip(Path(clip))
    items = [item(clip, f) for f in range(COUNT)]
    with engine.client() as client:
        plain = {f: client.run(**items[f], pipeline=pipeline(cache, {}), shot="clip")[0] for f in range(COUNT)}
        tags = {f: {s: read_tag(cache / s, f + 1) for s in STAGES} for f in range(COUNT)}
        assert all(t["instance_mask"] is None for t in tags.values()), "the mask stage knows nothing of corrections"
        untouched = tags[0]["instance_tracker"]
        assert untouched["key"] == corrections_key({})
        assert all(t[s] == untouched for t in tags.values() for s in STAGES[1:]), "no correction reaches any frame"

        # the artist adds the drawn frame's largest person (as if the detector had missed them)
        tracks = cached(cache, DRAWN_ON)[("instance_tracker", "tracks")]
        target = max({i["track_id"] for i in plain[DRAWN_ON]["instances"]}, key=lambda t: (tracks == t).sum())
        added = json.dumps([{"id": 1001, "frame": DRAWN_ON, "polygons": [outline_of(tracks == target)]}])
        corrected = pipeline(cache, {"added": added})
        digests = client.corrections(corrected[:2], items, shot="clip")
        reached = [f for f in range(COUNT) if digests[f] != untouched["applied"]]
        assert reached == list(range(FIRST_SHOT)), "followed through the first shot both ways, and not past the cut"
        assert Service(torch.device("cpu")).corrections(
            parse_corrections({"id": 1, "shot": "clip", "pipeline": corrected[:2], "items": items}))["applied"] == digests, \
            "a fresh engine (another machine, or this one restarted) finds the same"

        for f in reached:  # what the add-on asks for: the frames reached, computed again
            reply, _ = client.run(**items[f], pipeline=corrected, shot="clip")
            assert 1001 in [i["track_id"] for i in reply["instances"]], f
            assert all(read_tag(cache / s, f + 1) == {"key": corrections_key({"added": added}),
                                                      "applied": digests[f]} for s in STAGES[1:])

        # other corrections reach other frames: a cut out of, or a hold range on, a person after the cut
        after = cached(cache, FIRST_SHOT)[("instance_tracker", "tracks")]
        other = max(set(np.unique(after).astype(int).tolist()) - {0}, key=lambda t: (after == t).sum())
        y0, x0 = (int(v) for v in np.argwhere(after == other).min(axis=0))
        cut = json.dumps([{"id": other, "frame": FIRST_SHOT, "polygons": [[[x0, y0], [x0 + 40, y0], [x0, y0 + 40]]]}])
        last = COUNT - 1
        for change, frames in (({"cut": cut}, list(range(FIRST_SHOT, COUNT))),
                               ({"hold_ranges": f"{other}: {last}-{last}"}, [last])):
            now = client.corrections(pipeline(cache, {"added": added, **change})[:2], items, shot="clip")
            assert [f for f in range(COUNT) if now[f] != digests[f]] == frames, change
        with pytest.raises(EngineError, match="needs an instance_tracker stage") as err:
            client.corrections(corrected[:1], items, shot="clip")
        assert err.value.code == "bad_request"

    # from scratch, with the person added before anything was rendered
    scratch = tmp_path / "scratch"
    service = Service(torch.device("cpu"))
    for f in range(COUNT):
        service.run(parse_run({"id": f, **items[f], "pipeline": pipeline(scratch, {"added": added}), "shot": "clip"}), [])
    for f in range(COUNT):  # the frames not reached are still those rendered before the person was added
        mine, theirs = cached(cache, f), cached(scratch, f)
        for name in mine:
            assert np.array_equal(mine[name], theirs[name]), (f, name)
