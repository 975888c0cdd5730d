"""Operators that talk to the engine itself rather than to a node."""

from __future__ import annotations

import bpy

from . import engine_link
from .wire import EngineError


class INSTYLE_OT_free_memory(bpy.types.Operator):
    """Ask the instyle engine to unload its models and drop its per-shot state, freeing GPU/CPU memory (before a
    Cycles GPU render, say); they load again when next needed"""

    bl_idname = "instyle.free_memory"
    bl_label = "Free instyle Engine Memory"

    def execute(self, context):
        client = engine_link.connected()
        if client is None:
            self.report({"INFO"}, "The instyle engine is not running; nothing to free")
            return {"CANCELLED"}
        try:
            freed = client.free_memory()
        except EngineError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        self.report({"INFO"}, f"Freed {freed['released_bytes'] / 2**20:.0f} MB of models and per-shot state")
        return {"FINISHED"}
