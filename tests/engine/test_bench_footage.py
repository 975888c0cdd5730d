"""Production-size footage for the benchmarks: written once as a video file, reused, rewritten when too short."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from instyle.bench.footage import NATIVE, VTEST, frame_count, parse_size, upscaled


def small_clip(path, frames: int, size=(64, 48)):
    """An MJPG .avi of `frames` frames, each a different grey ramp, at `size` (width, height)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    ramp = np.linspace(0, 200, size[0], dtype=np.float32)[None, :, None]
    for f in range(frames):
        writer.write(np.broadcast_to(ramp + 10 * f, (size[1], size[0], 3)).astype(np.uint8).copy())
    writer.release()
    return path


def test_sizes_are_read_as_width_by_height():
    assert parse_size("1920x1080") == (1920, 1080) and parse_size("3840X2160") == (3840, 2160)


def test_upscaled_clips_are_written_once_at_the_size_and_reused(tmp_path):
    source = small_clip(tmp_path / "src.avi", 5)
    path = upscaled((128, 96), 3, tmp_path / "footage", source)
    assert path.name == "src-128x96.avi" and frame_count(path) == 3
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (96, 128, 3)
    assert abs(float(frame[:, -1].mean()) - 200) < 8 and abs(float(frame[:, 0].mean())) < 8  # the ramp, stretched
    written = path.stat().st_mtime_ns
    assert upscaled((128, 96), 2, tmp_path / "footage", source) == path and path.stat().st_mtime_ns == written
    assert frame_count(upscaled((128, 96), 5, tmp_path / "footage", source)) == 5  # too short: rewritten
    with pytest.raises(SystemExit, match="fewer than 6 frames"):
        upscaled((128, 96), 6, tmp_path / "footage", source)
    assert frame_count(path) == 5 and [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file


def test_vtest_at_its_own_size_is_vtest_itself(tmp_path):
    assert upscaled(NATIVE, 48, tmp_path) == VTEST and not any(tmp_path.iterdir())
