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


def view(socket):
    """Link an instyle node's output `socket` to a new Viewer, so that the engine writes that output into the
    cache (it writes only the outputs something reads); returns the Viewer."""
    tree = socket.node.id_data
    viewer = tree.nodes.new("CompositorNodeViewer")
    viewer.location = (socket.node.location.x, socket.node.location.y - 300)
    tree.links.new(socket, viewer.inputs[0])
    return viewer


def read_png(path: Path):
    """uint8 HxWx3, top row first."""
    import numpy as np
    image = bpy.data.images.load(str(path), check_existing=False)
    w, h = image.size
    data = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(data)
    bpy.data.images.remove(image)
    return np.round(data.reshape(h, w, 4)[::-1, :, :3] * 255).astype(np.uint8)


def pixels(path: Path):
    """float32 HxWx4 of an image file as Blender loads it (Non-Color), top row first."""
    import numpy as np
    image = bpy.data.images.load(str(path), check_existing=False)
    image.colorspace_settings.name = "Non-Color"
    w, h = image.size
    data = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(data)
    bpy.data.images.remove(image)
    return data.reshape(h, w, 4)[::-1]


def read_exr(path: Path):
    """float32 HxW (red channel), top row first."""
    return pixels(path)[:, :, 0].copy()


def render_saved_file(fresh, tmp_path: Path, frames: int, before_render: str = ""):
    """What `blender -b file.blend -a` does on a farm node: the footage graph (`frames` frames of vtest, rendered
    to //frames/, cached in //instyle_cache) is saved as tmp_path/farm.blend, and a new process opens it, runs the
    Python `before_render`, renders and exits 0, or 1 if the add-on recorded a failure. Returns the process."""
    import subprocess
    import textwrap

    from ..conftest import VTEST

    fresh.graph_setup.footage_graph(bpy.context.scene, str(VTEST), frames)
    bpy.context.scene.render.filepath = "//frames/######"
    bpy.context.preferences.addons[ADDON].preferences.cache_dir = "//instyle_cache"
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "farm.blend"))
    script = textwrap.dedent(f"""
        import bpy, addon_utils, sys
        addon_utils.enable("{ADDON}", default_set=True)
        bpy.context.preferences.addons["{ADDON}"].preferences.engine_python = {str(ENGINE_PYTHON)!r}
        bpy.ops.wm.open_mainfile(filepath={str(tmp_path / 'farm.blend')!r})
    """) + textwrap.dedent(before_render) + textwrap.dedent(f"""
        bpy.ops.render.render(animation=True)
        sys.modules["{ADDON}"].engine_link.shutdown()
        sys.exit(1 if sys.modules["{ADDON}"].render_hooks.failures else 0)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
