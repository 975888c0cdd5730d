"""Real Blender (bpy 5.0.1 in .venv-blender) with the extension installed from the built zip.

Blender's user folders are pointed into a temporary directory before bpy is imported, so the tests
never touch the user's own configuration.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="instyle-blender-tests-"))
os.environ["BLENDER_USER_RESOURCES"] = str(_HOME / "user")
os.environ["XDG_CACHE_HOME"] = str(_HOME / "cache")

import bpy  # noqa: E402

from ..conftest import ENGINE_PYTHON, ROOT  # noqa: E402

ADDON = "bl_ext.user_default.instyle"


def built_zip() -> Path:
    found = sorted((ROOT / "dist").glob("instyle-*.zip"))
    if not found:
        pytest.exit("dist/instyle-*.zip is missing: run build/setup.sh first", returncode=2)
    return found[-1]


@pytest.fixture(scope="session")
def addon():
    """The extension, installed from the zip once, enabled, with the engine started from .venv."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=str(built_zip()), repo="user_default", enable_on_install=True)
    module = sys.modules[ADDON]
    yield module
    module.engine_link.shutdown()


@pytest.fixture
def fresh(addon, tmp_path):
    """An empty file with the add-on enabled, its engine Python set and its cache in `tmp_path`."""
    bpy.ops.wm.read_homefile(use_empty=True)
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.engine_mode, prefs.engine_python, prefs.cache_dir = "AUTO", str(ENGINE_PYTHON), str(tmp_path / "cache")
    prefs.on_error = "FAIL"
    addon.render_hooks.failures.clear()
    addon.render_hooks.last_replies.clear()
    return addon


def read_png(path: Path):
    """uint8 HxWx3, top row first."""
    import numpy as np
    image = bpy.data.images.load(str(path), check_existing=False)
    w, h = image.size
    data = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(data)
    bpy.data.images.remove(image)
    return np.round(data.reshape(h, w, 4)[::-1, :, :3] * 255).astype(np.uint8)


def read_exr(path: Path):
    """float32 HxW (red channel), top row first."""
    import numpy as np
    image = bpy.data.images.load(str(path), check_existing=False)
    image.colorspace_settings.name = "Non-Color"
    w, h = image.size
    data = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(data)
    bpy.data.images.remove(image)
    return data.reshape(h, w, 4)[::-1, :, 0].copy()
