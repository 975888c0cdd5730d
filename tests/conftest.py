"""Shared paths for both test suites (engine tests run in .venv, Blender tests in .venv-blender)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

ROOT = Path(__file__).resolve().parents[1]
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
VTEST = OPENCV_DATA / "vtest.avi"
MESSI = OPENCV_DATA / "messi5.jpg"
ENGINE_PYTHON = Path(os.environ.get("INSTYLE_ENGINE_PYTHON", ROOT / ".venv" / "bin" / "python"))
CUT_CLIP = (3, 2)  # `cut_clip`: frames before and after its cut


def cut_clip(path: Path) -> None:
    """Write a 768x576 clip with a hard cut to `path`: frames 0-2 of vtest.avi, then messi5.jpg (other people, other
    colours) for two frames. Needs OpenCV (the engine's venv; Blender tests run this with ENGINE_PYTHON)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    capture = cv2.VideoCapture(str(VTEST))
    for _ in range(CUT_CLIP[0]):
        writer.write(capture.read()[1])
    still = cv2.resize(cv2.imread(str(MESSI)), (768, 576))
    for _ in range(CUT_CLIP[1]):
        writer.write(still)
    writer.release()
    capture.release()


def pytest_sessionstart(session):
    missing = [str(p) for p in (VTEST, MESSI) if not p.is_file()]
    if missing:
        import pytest
        pytest.exit(f"test media missing ({', '.join(missing)}): run build/setup.sh (it installs opencv-doc)",
                    returncode=2)
