"""The Bake operator: compute the scene's frame range into the cache, with progress and cancel."""

from __future__ import annotations

import bpy

from . import compute


class INSTYLE_OT_bake(bpy.types.Operator):
    """Compute every frame of the scene's range for the instyle nodes, so renders read them from the cache"""

    bl_idname = "instyle.bake"
    bl_label = "Bake instyle Frames"

    _timer = None

    def _start(self, context) -> bool:
        scene = context.scene
        self.frames = list(range(scene.frame_start, scene.frame_end + 1, scene.frame_step))
        self.position = 0
        try:
            self.chains = compute.chains_of(scene)
            if not self.chains:
                self.report({"WARNING"}, "No instyle nodes in the scene's compositor")
                return False
            compute.prepare(self.chains)
        except Exception as exc:
            text = compute.error_text(exc)
            compute.mark_all(scene, text)
            self.report({"ERROR"}, text.removeprefix("Error: "))
            return False
        context.window_manager.progress_begin(0, len(self.frames))
        return True

    def _step(self, context) -> bool:
        """Compute the next frame; False when a frame failed."""
        frame = self.frames[self.position]
        for chain in self.chains:
            try:
                reply = compute.ensure_frame(chain, frame)
            except Exception as exc:
                text = compute.error_text(exc)
                compute.mark(chain, text)
                self.report({"ERROR"}, f"Frame {frame}: {text.removeprefix('Error: ')}. Frames already baked are kept.")
                return False
            compute.mark(chain, compute.describe(reply, frame))
        self.position += 1
        context.window_manager.progress_update(self.position)
        return True

    def _finish(self, context, ok: bool):
        context.window_manager.progress_end()
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        if ok:
            self.report({"INFO"}, f"Baked {len(self.frames)} frame(s)")
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        return {"FINISHED"} if ok else {"CANCELLED"}

    def execute(self, context):
        if not self._start(context):
            return {"CANCELLED"}
        while self.position < len(self.frames):
            if not self._step(context):
                return self._finish(context, False)
        return self._finish(context, True)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.001, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self.report({"WARNING"}, f"Bake cancelled after {self.position} frame(s); baked frames are kept")
            return self._finish(context, False)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if not self._step(context):
            return self._finish(context, False)
        if self.position >= len(self.frames):
            return self._finish(context, True)
        return {"RUNNING_MODAL"}
