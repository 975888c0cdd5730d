"""Video Sequencer strips: scene frames to strip content, overlapping strips, and publishing cached frames.

The expected indexes were read off Blender 5.0.1's own sequencer renders of vtest.avi and of a numbered PNG
sequence, compared with the decoded frames."""

from __future__ import annotations

import os

import pytest

from .test_frame_map_and_cache import cache, frame_map


@pytest.mark.parametrize("frame, start, length, reverse, strobe, expected", [
    (15, 10.0, 793, False, 1.0, 5),   # a movie strip at frame 10 (its animation offset, 2, is added by the caller)
    (13, 10.0, 10, False, 1.0, 3),    # an image strip
    (10, 10.0, 20, True, 2.0, 18), (11, 10.0, 20, True, 2.0, 18), (12, 10.0, 20, True, 2.0, 16),
    (29, 10.0, 20, True, 2.0, 0),     # reversed and strobed: the last frame shows the first
    (5, 10.0, 20, False, 1.0, 0), (40, 10.0, 20, False, 1.0, 19),  # held before and after the content
])
def test_strip_index_is_what_the_sequencer_shows(frame, start, length, reverse, strobe, expected):
    assert frame_map.strip_index(frame, start, length, reverse, strobe) == expected


def test_first_overlap_of_frame_ranges():
    assert frame_map.first_overlap([(15, 17), (30, 32), (17, 20)]) is None  # end is exclusive
    assert frame_map.first_overlap([(15, 17), (30, 32), (16, 40)]) == (0, 2, 16)
    assert frame_map.first_overlap([(1, 5)]) is None


def test_file_number():
    assert frame_map.file_number("/plates/v2/shot_010.1001.exr") == 1001
    with pytest.raises(ValueError):
        frame_map.file_number("/plates/still.png")


def test_publish_links_a_cached_frame_where_it_is_read(tmp_path):
    strip_a = tmp_path / "strips" / "a" / "alpha" / "000005.exr"
    strip_b = tmp_path / "strips" / "b" / "alpha" / "000005.exr"
    for path, data in ((strip_a, b"a"), (strip_b, b"b")):
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    read = tmp_path / "alpha" / "000015.exr"
    cache.publish(strip_a, read)
    assert read.read_bytes() == b"a" and read.samefile(strip_a)
    cache.publish(strip_a, read)  # already there: nothing changes
    cache.publish(strip_b, read)
    assert read.read_bytes() == b"b" and strip_a.read_bytes() == b"a"
    assert sorted(p.name for p in read.parent.iterdir()) == ["000015.exr"]
    assert os.stat(strip_b).st_nlink == 2


def test_publish_never_writes_through_a_planted_symlink_and_copies_where_links_fail(tmp_path, monkeypatch):
    src, read = tmp_path / "cache" / "000005.exr", tmp_path / "alpha" / "000015.exr"
    src.parent.mkdir()
    read.parent.mkdir()
    src.write_bytes(b"frame")
    victim = tmp_path / "victim"
    victim.write_bytes(b"someone else's")
    planted = read.with_name(f".{read.stem}.{os.getpid()}.publish.tmp.exr")  # the name publish once used
    planted.symlink_to(victim)

    def no_links(src, dst):
        raise OSError("links are not supported here")
    monkeypatch.setattr(os, "link", no_links)
    cache.publish(src, read)
    assert read.read_bytes() == b"frame" and not read.samefile(src)  # a copy
    assert victim.read_bytes() == b"someone else's" and planted.is_symlink()
    assert sorted(p.name for p in read.parent.iterdir()) == sorted(["000015.exr", planted.name])
