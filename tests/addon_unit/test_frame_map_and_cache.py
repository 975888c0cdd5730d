"""The add-on's bpy-free helpers, loaded straight from addon/ (no Blender needed)."""

from __future__ import annotations

import importlib
import json
import sys
import types

import pytest

from instyle import wire

from ..conftest import ROOT

PACKAGE = "instyle_addon"


def load(name):
    """addon/<name>.py, imported as a module of a package whose `wire` is the engine's: the package the extension
    ships as its own `wire` (the add-on's __init__, which needs bpy, is not run)."""
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(ROOT / "addon")]
        sys.modules[PACKAGE], sys.modules[f"{PACKAGE}.wire"] = package, wire
    return importlib.import_module(f"{PACKAGE}.{name}")


frame_map = load("frame_map")
cache = load("cache")
never_alive, always_alive = (lambda pid: False), (lambda pid: True)


def test_movie_clip_frames():
    assert frame_map.movie_clip_index(1, 1, 0) == 0
    assert frame_map.movie_clip_index(10, 5, 3) == 8


@pytest.mark.parametrize("frame, start, duration, offset, cyclic, expected", [
    (1, 1, 100, 0, False, 1), (7, 1, 100, 0, False, 7), (0, 1, 100, 0, False, 0), (500, 1, 100, 0, False, 100),
    (7, 3, 100, 2, False, 7), (101, 1, 100, 0, True, 1), (100, 1, 100, 0, True, 100),
])
def test_image_node_frames(frame, start, duration, offset, cyclic, expected):
    assert frame_map.image_node_number(frame, start, duration, offset, cyclic) == expected


def test_sequence_files_keep_their_padding():
    assert frame_map.sequence_file("/x/shot_v2_0001.png", 37) == "/x/shot_v2_0037.png"
    assert frame_map.sequence_file("/x/12.exr", 3) == "/x/03.exr"
    assert frame_map.sequence_pattern("/x/shot_v2_0001.png") == "/x/shot_v2_####.png"
    assert frame_map.sequence_pattern("/x/12.exr") == "/x/##.exr"
    with pytest.raises(ValueError):
        frame_map.sequence_file("/x/still.png", 3)


def test_cache_claim_clears_frames_of_another_key(tmp_path):
    node = tmp_path / "abc"
    assert cache.claim(node, "k1", ("alpha",), never_alive) is False
    (node / "alpha").mkdir()
    cache.frame_file(node, "alpha", 4).write_bytes(b"x")
    assert cache.has_frame(node, ("alpha",), 4) and not cache.has_frame(node, ("alpha",), 5)
    assert cache.claim(node, "k1", ("alpha",), never_alive) is False and cache.has_frame(node, ("alpha",), 4)
    (node / "corrections").mkdir()
    (node / "corrections" / "000004.json").write_text("{}")
    assert cache.claim(node, "k2", ("alpha",), never_alive) is True
    assert not cache.has_frame(node, ("alpha",), 4)
    assert json.loads((node / "key.json").read_text()) == {"key": "k2"}
    assert [p.name for p in node.iterdir()] == ["key.json"]


def test_signatures_are_stable_and_sensitive():
    a = cache.signature([["clip.avi", 1], ["mrf_blend", {"band": 6.0}]])
    assert a == cache.signature([["clip.avi", 1], ["mrf_blend", {"band": 6.0}]])
    assert a != cache.signature([["clip.avi", 1], ["mrf_blend", {"band": 7.0}]])


def test_half_written_frames_of_dead_writers_are_swept_when_a_node_claims_its_cache(tmp_path):
    import os
    node = tmp_path / "n"
    from instyle.wire.runtime import process_alive
    assert cache.claim(node, "k", ("alpha",), process_alive) is False
    (node / "alpha").mkdir()
    dead = node / "alpha" / ".000002.999999999.1.tmp.exr"
    mine = node / "alpha" / f".000003.{os.getpid()}.1.tmp.exr"
    frame = node / "alpha" / "000001.exr"
    for p in (dead, mine, frame):
        p.write_bytes(b"x")
    assert cache.claim(node, "k", ("alpha",), process_alive) is False
    assert not dead.exists() and mine.exists() and frame.exists()


def test_frames_made_from_rewritten_sequence_files_are_cleared_and_only_those(tmp_path):
    from instyle.wire import footage_tags

    plate = [tmp_path / f"plate.{n}.png" for n in (1, 2, 3)]
    for p in plate:
        p.write_bytes(b"plate")
    node = tmp_path / "n"
    for frame in (1, 2, 3, 4):
        (node / "alpha").mkdir(parents=True, exist_ok=True)
        (node / "alpha" / f"{frame:06d}.exr").write_bytes(b"x")
    for frame in (1, 2, 3):  # each made from its own file and the one before
        footage_tags.write_tag(node, frame, [footage_tags.file_identity(p) for p in plate[max(frame - 2, 0):frame]])
    (tmp_path / "plate.2.png").write_bytes(b"a paint fix")  # rewritten in place; frame 4 has no tag
    assert cache.forget_rewritten([(node, ("alpha",))], [1, 2, 3, 4, 5]) == [2, 3, 4]
    assert sorted(p.name for p in (node / "alpha").iterdir()) == ["000001.exr"]
    assert not footage_tags.tag_file(node, 2).exists() and footage_tags.current(node, 1)
