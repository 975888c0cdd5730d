"""The add-on's hold of cached frames to the artist's corrections (addon/corrections.py, no Blender needed): frames
tagged with other corrections are kept when the engine gives them the same digest, and cleared otherwise."""

from __future__ import annotations

import importlib
import sys
import types

import instyle.wire
from instyle.wire.corrections import read_tag, write_tag

from ..conftest import ROOT


def load_corrections():
    """addon/corrections.py as the extension zip has it: in a package beside `cache` and a copy of `wire`."""
    if "instyle_addon" not in sys.modules:
        package = types.ModuleType("instyle_addon")
        package.__path__ = [str(ROOT / "addon")]
        sys.modules["instyle_addon"] = package
        sys.modules["instyle_addon.wire"] = instyle.wire
    return importlib.import_module("instyle_addon.corrections")


corrections = load_corrections()


def test_frames_tagged_with_other_corrections_are_kept_if_the_same_ones_reach_them_and_cleared_if_not(tmp_path):
    tracker, style = (tmp_path / "tracker", ("mask", "tracks")), (tmp_path / "style", ("image",))
    for node_dir, outputs in (tracker, style):
        for frame in (1, 2, 3, 4):
            for output in outputs:
                path = node_dir / output / f"{frame:06d}.exr"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"exr")
        write_tag(node_dir, 1, "now", "a")  # made with the present corrections
        write_tag(node_dir, 2, "before", "b")  # the same corrections reach it now
        write_tag(node_dir, 3, "before", "c")  # other corrections reach it now; frame 4 has no tag
    asked = []

    def digests(frames):
        asked.append(frames)
        return [{2: "b", 3: "changed"}[f] for f in frames]

    assert corrections.settle([tracker, style], [1, 2, 3, 4, 5], "now", digests) == [3, 4]
    assert asked == [[2, 3]], "the engine is asked once, about the frames made with other corrections only"
    for node_dir, outputs in (tracker, style):
        assert read_tag(node_dir, 2) == {"key": "now", "applied": "b"}
        assert [corrections.current((node_dir, outputs), f, "now") for f in (1, 2, 3, 4)] == [True, True, False, False]
        for frame, kept in ((1, True), (2, True), (3, False), (4, False)):
            assert all((node_dir / o / f"{frame:06d}.exr").exists() == kept for o in outputs), (node_dir, frame)
    assert corrections.settle([tracker, style], [1, 2, 3, 4], "now", digests) == [] and len(asked) == 1
