"""An image sequence is known by the file each frame is read from: a plate frame rewritten in place makes stale
the cached frames made from it (its own, and the next, whose temporal stabilisation read it) and the tracker's
record of it, and no other frame."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from instyle import media
from instyle.media import FrameSource
from instyle.service import Service
from instyle.wire.requests import parse_run
from instyle.wire import footage_tags

from ..conftest import VTEST

FIRST = 1001
COUNT = 3


def write_plate(folder, frames) -> str:
    """Write `frames` (uint8 HxWx3 RGB) as folder/plate.1001.png ...; returns the sequence's pattern."""
    for number, frame in enumerate(frames, FIRST):
        cv2.imwrite(str(folder / f"plate.{number}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return str(folder / "plate.####.png")


@pytest.fixture(scope="module")
def vtest_frames():
    source = FrameSource()
    return [source.frame(str(VTEST), index) for index in range(100, 100 + COUNT)]


def test_each_frame_of_a_sequence_is_known_by_its_own_file(tmp_path, vtest_frames):
    pattern = write_plate(tmp_path, vtest_frames)
    before = {n: media.footage_identity(pattern, n) for n in range(FIRST, FIRST + COUNT)}
    (tmp_path / f"plate.{FIRST + COUNT}.png").write_bytes((tmp_path / f"plate.{FIRST}.png").read_bytes())
    assert {n: media.footage_identity(pattern, n) for n in before} == before, "adding a file changed no frame"
    assert media.shot_identity(pattern) == (str(tmp_path / "plate.####.png"),)
    with open(tmp_path / f"plate.{FIRST + 1}.png", "r+b") as f:  # rewritten in place: same inode, same folder
        f.write(cv2.imencode(".png", vtest_frames[0][:, ::-1])[1].tobytes())
        f.truncate()
    after = {n: media.footage_identity(pattern, n) for n in before}
    assert [n for n in before if after[n] != before[n]] == [FIRST + 1]
    assert media.footage_identity(pattern, 999)[1:] == (None, None)


def pipeline(folder) -> list[dict]:
    return [{"stage": "instance_mask", "params": {}, "write": str(folder / "mask")},
            {"stage": "instance_tracker", "params": {"shot_start": FIRST}, "write": str(folder / "tracker")},
            {"stage": "neural_style", "params": {}, "write": str(folder / "style")}]


def test_a_frame_rewritten_in_place_makes_stale_only_the_frames_made_from_it(tmp_path, vtest_frames):
    plate, cache = tmp_path / "plate", tmp_path / "cache"
    plate.mkdir()
    pattern = write_plate(plate, vtest_frames)
    service = Service(torch.device("cpu"))

    def render(number):
        header = {"id": number, "source": {"kind": "file", "path": pattern, "frame": number}, "frame_number": number,
                  "pipeline": pipeline(cache), "shot": "plate"}
        service.run(parse_run(header), [])
        return cv2.imread(str(cache / "style" / "image" / f"{number:06d}.exr"), cv2.IMREAD_UNCHANGED)

    first = [render(n) for n in range(FIRST, FIRST + COUNT)]
    for stage in ("mask", "tracker", "style"):
        tag = json.loads(footage_tags.tag_file(cache / stage, FIRST + 1).read_text())
        named = {f[0] for f in tag["files"]}
        assert {str(plate / f"plate.{n}.png") for n in (FIRST, FIRST + 1)} <= named  # its own, and the previous one
        assert all(footage_tags.current(cache / stage, n) for n in range(FIRST, FIRST + COUNT))
    folder_mtime = plate.stat().st_mtime_ns
    with open(plate / f"plate.{FIRST + 1}.png", "r+b") as f:  # a paint fix saved over the file
        f.write(cv2.imencode(".png", cv2.cvtColor(vtest_frames[1][:, ::-1], cv2.COLOR_RGB2BGR))[1].tobytes())
        f.truncate()
    assert plate.stat().st_mtime_ns == folder_mtime
    for stage in ("mask", "tracker", "style"):
        assert [footage_tags.current(cache / stage, n) for n in range(FIRST, FIRST + COUNT)] == [True, False, False]
    again = render(FIRST + 1)
    assert np.abs(again - first[1]).max() > 0.1, "the rewritten frame rendered as before"
    assert footage_tags.current(cache / "style", FIRST + 1)
    lines = [json.loads(line) for line in (cache / "tracker" / "tracks.jsonl").read_text().splitlines()[1:]]
    records = [line["footage"] for line in lines if line["frame"] == FIRST + 1]
    assert len(records) == 2 and records[-1] == list(media.footage_identity(pattern, FIRST + 1)), \
        "the tracker kept the rewritten frame's old record"
