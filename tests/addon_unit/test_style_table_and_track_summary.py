"""The add-on's style texts and its reading of the track store, checked against the engine's own code: the
engine's style map parser and merge parser, and a store written by the engine's TrackStore."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from instyle.stages.instance_tracker import parse_merge
from instyle.stylize.styles import parse_map
from instyle.track_store import TrackStore
from instyle.wire.params import ParamError

from ..conftest import MESSI
from .test_frame_map_and_cache import load

style_table = load("style_table")
track_summary = load("track_summary")


def blend_dir_abspath(text: str) -> str:
    """Blender's bpy.path.abspath for a .blend saved in /shots/a (no bpy here)."""
    return "/shots/a/" + text[2:] if text.startswith("//") else text


def unsaved_abspath(text: str) -> str:
    """Blender's bpy.path.abspath before the .blend is saved: a `//` path stays relative."""
    return text[2:] if text.startswith("//") else text


def test_table_rows_become_the_map_the_engine_reads(tmp_path):
    image = tmp_path / "klimt.jpg"
    image.write_bytes(MESSI.read_bytes())
    rows = [(1, "style05"), (4, str(tmp_path / "sub" / ".." / "klimt.jpg")), (2, " style03+style07 "), (3, ""),
            (7, "style03*0.3+style07*0.7")]
    text = style_table.serialise(rows, blend_dir_abspath, "Neural Style")
    assert text == f"1=style05; 4={image}; 2=style03+style07; 7=style03*0.3+style07*0.7"
    parsed = parse_map(text, "neural_style.track_styles", "id")
    assert set(parsed) == {1, 2, 4, 7}
    assert parsed[4].image == str(image) and parsed[1].weights == (("style05", 1.0),)
    assert dict(parsed[7].weights) == pytest.approx({"style03": 0.3, "style07": 0.7})


def test_a_later_row_for_the_same_id_wins_as_in_the_engine():
    text = style_table.serialise([(1, "style05"), (2, "style06"), (1, "style09")], blend_dir_abspath, "N")
    assert text == "2=style06; 1=style09"
    assert parse_map(text, "t", "id")[1].weights == (("style09", 1.0),)


def test_blend_relative_paths_become_absolute_and_normalised():
    assert style_table.absolute("//art/../art/k.jpg", blend_dir_abspath, "N") == "/shots/a/art/k.jpg"
    assert style_table.absolute("/x/./y.png", blend_dir_abspath, "N") == "/x/y.png"
    assert style_table.absolute(" style07 ", blend_dir_abspath, "N") == "style07"
    assert style_table.absolute("", blend_dir_abspath, "N") == ""


def test_relative_path_of_an_unsaved_file_is_refused_with_the_fix():
    with pytest.raises(style_table.StyleTextError, match=r"Neural Style, track 3: //k.jpg .* save the file"):
        style_table.serialise([(3, "//k.jpg")], unsaved_abspath, "Neural Style")


def test_a_path_with_a_separator_is_refused():
    with pytest.raises(style_table.StyleTextError, match="';' or '='"):
        style_table.serialise([(3, "/art/a;b.jpg")], blend_dir_abspath, "Neural Style")


def test_class_map_paths_become_absolute_and_bad_entries_reach_the_engine_unchanged():
    text = style_table.absolute_map("person=//p.jpg; car = style19;;  junk ", blend_dir_abspath, "N")
    assert text == "person=/shots/a/p.jpg; car=style19; junk"
    with pytest.raises(ParamError, match="'junk' is not KEY=STYLE"):
        parse_map(style_table.absolute_map("car=style19; junk", blend_dir_abspath, "N"), "class_styles", "class")


def test_palette_cycles_from_id_one():
    palette = ["style03", "style13", "style19"]
    assert [style_table.palette_style(i, palette) for i in range(1, 8)] == [
        "style03", "style13", "style19", "style03", "style13", "style19", "style03"]


def test_store_written_by_the_engine_is_read_back(tmp_path):
    path = tmp_path / track_summary.STORE_NAME
    store = TrackStore(path, "k1")
    store.put(10, np.array([[0, 0, 5, 5], [1, 1, 9, 9]]), np.array([1, 0]))
    store.put(11, np.zeros((0, 4)), np.zeros(0))
    store.put(12, np.array([[0, 0, 5, 5]]), np.array([3]))
    with open(path, "ab") as f:
        f.write(b'{"frame": 13, "boxes": [[0, 0')  # a writer that died mid-line
    assert track_summary.read_store(path) == {10: [1, 0], 11: [], 12: [3]}
    assert track_summary.read_store(tmp_path / "none.jsonl") == {}
    (tmp_path / "other.jsonl").write_text(json.dumps({"something": 1}) + "\n")
    assert track_summary.read_store(tmp_path / "other.jsonl") == {}


def test_summary_counts_frames_per_id_after_merge_and_exclude():
    store = {0: [1, 2, 0], 1: [1, 2, 3], 2: [3, 5], 4: [5]}
    footage = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4}  # scene frame -> footage frame
    seen, missing = track_summary.summarise(store, footage, {3: 1}, {2})
    assert seen == [track_summary.Seen(1, 3, 1, 3), track_summary.Seen(5, 2, 3, 5)]
    assert missing == [4]


def test_exclude_text():
    assert track_summary.exclude_set(" 5, 9,, ") == {5, 9}


merge_pairs = st.lists(st.tuples(st.integers(1, 12), st.integers(1, 12)), max_size=8)


@given(merge_pairs)
def test_merge_map_agrees_with_the_engine(pairs):
    text = ", ".join(f"{a}={b}" for a, b in pairs)
    try:
        expected = parse_merge(text)
    except ParamError:
        return  # the engine refuses it, so no analysis is ever read with it
    assert track_summary.merge_map(text) == expected


def test_engine_store_and_add_on_agree_on_the_file_name():
    from instyle.stages import instance_tracker
    assert instance_tracker.STORE_NAME == track_summary.STORE_NAME
