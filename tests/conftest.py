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


def pytest_sessionstart(session):
    missing = [str(p) for p in (VTEST, MESSI) if not p.is_file()]
    if missing:
        import pytest
        pytest.exit(f"test media missing ({', '.join(missing)}): run build/setup.sh (it installs opencv-doc)",
                    returncode=2)
