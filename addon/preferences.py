"""Add-on preferences: how to reach the engine, where cached frames go, and the engine's models and licenses."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from . import engine_link

_STATUS_ICONS = {"present": "CHECKMARK", "missing": "CANCEL", "corrupt": "ERROR"}


class InstylePreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_mode: EnumProperty(
        name="Engine",
        items=[("AUTO", "Start automatically", "Start the engine with the Python below; it ends with Blender"),
               ("CONNECT", "Connect to running", "Use an engine started with `instyle-engine serve`")],
        default="AUTO")
    engine_python: StringProperty(name="Engine Python", subtype="FILE_PATH",
                                  description="Python of the venv where the instyle engine is installed "
                                              "(empty: $INSTYLE_ENGINE_PYTHON)")
    runtime_file: StringProperty(name="Runtime File", subtype="FILE_PATH",
                                 description="The running engine's runtime file (empty: the per-user default)")
    cache_dir: StringProperty(name="Cache Folder", subtype="DIR_PATH", default="//instyle_cache",
                              options={"PATH_SUPPORTS_BLEND_RELATIVE"},
                              description="Where engine results are cached; // is the .blend file's folder")

    on_error: EnumProperty(
        name="On Error",
        items=[("FAIL", "Fail the Render", "A frame instyle cannot compute stops the render: a background render "
                "exits with code 1 and nothing more is written; an interactive one is cancelled"),
               ("PASS", "Pass Footage Through", "For previews: a frame instyle cannot compute renders unstyled, and "
                "the error shows on the node and in the console")],
        default="FAIL",
        description="What a render does with a frame instyle cannot compute")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "engine_mode")
        layout.prop(self, "engine_python" if self.engine_mode == "AUTO" else "runtime_file")
        layout.prop(self, "cache_dir")
        layout.prop(self, "on_error")
        layout.operator("instyle.free_memory", icon="TRASH")
        draw_models(layout.box())


def draw_models(layout) -> None:
    """The connected engine's models (from its handshake): status, license, restricted ones flagged.

    Drawing never connects or starts the engine; without a connection it says so.
    """
    layout.label(text="Models")
    client = engine_link.connected()
    if client is None:
        layout.label(text="Not connected: models and their licenses show once the engine is in use", icon="INFO")
        return
    for model in client.welcome.get("models", []):
        status = model["status"]
        if status == "missing" and not model["offline"]:
            status, icon = "needs a download", "INTERNET"
        else:
            icon = _STATUS_ICONS.get(status, "QUESTION")
        row = layout.row()
        row.label(text=f"{model['name']}: {status}", icon=icon)
        if model["restricted"]:
            row.label(text=f"RESTRICTED: {model['license']}", icon="ERROR")
        else:
            row.label(text=model["license"])
    layout.label(text="Fetch models with `instyle-engine weights fetch [NAME]`; check them with `... weights verify`")
