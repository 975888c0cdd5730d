"""Larger footage made from the one clip at hand: vtest.avi's frames upscaled (stretched, bicubic) to production
sizes and written once as MJPG .avi files under out/footage/, so that benchmarks read a file (decode, key frames,
the crop path) as a render of real 1080p or 4K plates does.

`python -m instyle.bench.footage WxH FRAMES` writes (or reuses) the clip and prints its path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

DATA = Path("/usr/share/doc/opencv-doc/examples/data")
"""Debian's opencv-doc sample data (build/setup.sh installs it): the clip and the images the benchmarks use."""
VTEST = DATA / "vtest.avi"
FOOTAGE_DIR = Path(__file__).resolve().parents[3] / "out" / "footage"
NATIVE = (768, 576)
"""vtest.avi's own size (width, height) in pixels: asked for, it is returned as is."""
QUALITY = 95
"""MJPG quality (0-100) of the written clips: close to the source's own compression."""


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080): width and height in pixels."""
    width, height = text.lower().split("x")
    return int(width), int(height)


def frame_count(path: Path) -> int:
    """How many frames the video file at `path` holds (0 when it cannot be opened)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()


def upscaled(size: tuple[int, int], frames: int, folder: Path = FOOTAGE_DIR, source: Path = VTEST) -> Path:
    """`source`'s first `frames` frames at `size` (width, height in pixels) as an MJPG .avi at its frame rate:
    `folder`/<stem>-WxH.avi, written only when missing or shorter than `frames`; `source` itself at its own
    size (`NATIVE`)."""
    if size == NATIVE and source == VTEST:
        return source
    path = folder / f"{source.stem}-{size[0]}x{size[1]}.avi"
    if frame_count(path) >= frames:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    reader = cv2.VideoCapture(str(source))
    fps = reader.get(cv2.CAP_PROP_FPS) or 25.0
    partial = path.with_suffix(".partial.avi")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, QUALITY)
    try:
        try:
            for _ in range(frames):
                ok, frame = reader.read()
                if not ok:
                    raise SystemExit(f"{source} holds fewer than {frames} frames")
                writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))
        finally:
            writer.release()
            reader.release()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return path


if __name__ == "__main__":
    print(upscaled(parse_size(sys.argv[1]), int(sys.argv[2])))
