"""Footage decoding: frames read in any order are the frames a sequential decode gives; streams keep their own
positions, so reads that jump about leave a render's sequential reads unseeked; image sequences are read by
number."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from instyle import media
from instyle.media import FrameSource, SourceError

from ..conftest import VTEST


@pytest.fixture(scope="module")
def decoded() -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(VTEST))
    frames = []
    for _ in range(80):
        ok, bgr = capture.read()
        assert ok
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def test_frames_read_in_any_order_are_the_sequential_decodes(decoded):
    source = FrameSource()
    order = [0, 1, 2, 30, 31, 35, 40, 70, 5, 6, 9, 60, 79, 0]  # forward, short and long jumps ahead, back
    for index in order:
        assert np.array_equal(source.frame(str(VTEST), index), decoded[index]), index
    reader = source._readers[(VTEST, "render")]
    assert 0 < reader.seeks < len(order)


def test_short_jumps_ahead_decode_forward_once_seeking_is_known_to_cost_more(decoded):
    source = FrameSource()
    for index in (0, 1, 2, 40, 41):  # the jump to 40 seeks, and measures what a seek costs
        source.frame(str(VTEST), index)
    reader = source._readers[(VTEST, "render")]
    assert reader.seeks == 1
    assert np.array_equal(source.frame(str(VTEST), 44), decoded[44])  # vtest: a seek costs some 80 decodes
    assert reader.seeks == 1
    assert np.array_equal(source.frame(str(VTEST), 10), decoded[10])  # back: seeks
    assert reader.seeks == 2


def test_a_stream_of_key_frames_leaves_the_renders_reads_sequential(decoded):
    source = FrameSource()
    for index in range(0, 50):
        if index % 24 == 1:
            assert np.array_equal(source.frame(str(VTEST), index + 23, stream="keys"), decoded[index + 23])
        assert np.array_equal(source.frame(str(VTEST), index), decoded[index])
    assert source._readers[(VTEST, "render")].seeks == 0


def test_frames_past_the_end_name_the_range():
    with pytest.raises(SourceError) as err:
        FrameSource().frame(str(VTEST), 100000)
    assert err.value.code == "frame_out_of_range" and "frames 0 to 794" in str(err.value)


def test_image_sequences_are_read_by_number(tmp_path, decoded):
    for number in (1001, 1002):
        cv2.imwrite(str(tmp_path / f"plate.{number:04d}.png"), cv2.cvtColor(decoded[number - 1000], cv2.COLOR_RGB2BGR))
    pattern = str(tmp_path / "plate.####.png")
    source = FrameSource()
    assert np.array_equal(source.frame(pattern, 1002), decoded[2])
    assert np.array_equal(source.frame(pattern, 1001), decoded[1])
    with pytest.raises(SourceError) as err:
        source.frame(pattern, 1000)
    assert err.value.code == "frame_out_of_range" and "plate.1000.png does not exist" in str(err.value)
    assert media.sequence_file(str(tmp_path / "p_##.exr"), 7).name == "p_07.exr"
    assert media.sequence_file(str(tmp_path / "p_##.exr"), 123).name == "p_123.exr"
