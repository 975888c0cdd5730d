"""Add-on preferences: how to reach the engine, and where cached frames go."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty


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

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "engine_mode")
        layout.prop(self, "engine_python" if self.engine_mode == "AUTO" else "runtime_file")
        layout.prop(self, "cache_dir")
