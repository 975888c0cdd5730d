"""The demo's preview shows the input it was given, even among other images of its folder."""

from __future__ import annotations

import importlib.util

from ..conftest import ROOT


def demo_preview():
    spec = importlib.util.spec_from_file_location("demo_preview", ROOT / "build" / "demo_preview.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_photo_among_other_images_is_its_own_source_and_a_sequence_gives_the_frames_file(tmp_path):
    source_file = demo_preview().source_file
    for name in ("basketball1.png", "messi5.jpg", "plate.0999.png", "plate.1000.png", "plate.1001.png"):
        (tmp_path / name).write_bytes(b"")
    assert source_file(tmp_path / "messi5.jpg", 1) == tmp_path / "messi5.jpg"
    assert source_file(tmp_path / "basketball1.png", 1) == tmp_path / "basketball1.png"  # no basketball2.png
    assert source_file(tmp_path / "plate.1000.png", 2) == tmp_path / "plate.1001.png"
    assert source_file(tmp_path / "plate.0999.png", 3) == tmp_path / "plate.1001.png"
