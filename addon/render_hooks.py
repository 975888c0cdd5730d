"""Render handlers: every frame being rendered is computed first if it is not cached, so that
`blender -b file.blend -a` works without a bake; a frame that cannot be computed fails the render.

Failing, by the On Error preference (`FAIL`, the default):
- a background render exits with code 1 before the frame is composited: the frames before it are written,
  that frame and those after it are not, and a farm manager sees the task fail;
- an interactive render is cancelled: the failed frame's file is removed once Blender has written it, and the
  next frame cannot start (the render settings are set so that Blender refuses it, and put back when the render
  ends). The error is on the node at fault and in the console.
With `PASS` the frame renders unstyled, for previews, and the error is reported the same way.
"""

from __future__ import annotations

import os
import sys
import time

import bpy
from bpy.app.handlers import persistent

from . import compute, faults, paths, saving

failures: list[str] = []
last_replies: dict[int, list[dict]] = {}
handler_ms: dict[int, float] = {}
_failed_frames: set[int] = set()
_held_settings: dict[str, object] = {}  # render settings changed to cancel an interactive render, to restore


@persistent
def on_render_pre(scene, *_):
    frame = scene.frame_current
    if _held_settings:
        return  # an interactive render being cancelled: Blender refuses this frame
    started, chains = time.perf_counter(), []
    if frame == scene.frame_start and saving.unsaved_warning():
        print(f"instyle: {saving.unsaved_warning()}", file=sys.stderr, flush=True)
    compute.mark_idle(scene)
    try:
        chains = compute.chains_of(scene)
        compute.prepare(chains)
        replies = [compute.ensure_frame(chain, frame) for chain in chains]
    except Exception as exc:  # a render handler must not raise: report, then fail the render (or pass through)
        _fail(scene, frame, faults.locate(exc, chains), chains)
        return
    last_replies[frame] = [r for r in replies if r]
    handler_ms[frame] = (time.perf_counter() - started) * 1000
    for chain, reply in zip(chains, replies):
        compute.mark(chain, compute.describe(reply, frame))


def _fail(scene, frame: int, fault: faults.Fault, chains) -> None:
    text = f"instyle: frame {frame}: {fault.detail}"
    failures.append(text)
    print(text, file=sys.stderr, flush=True)
    compute.mark_fault(chains, fault)
    prefs = paths.preferences()
    if prefs is not None and prefs.on_error == "PASS":
        return
    if _in_background():
        print(f"instyle: the render stops at frame {frame}; frames before it are written "
              "(Preferences > Add-ons > instyle > On Error: Pass Footage Through renders such frames unstyled)",
              file=sys.stderr, flush=True)
        raise SystemExit(1)  # Blender ends the process with this code: the frame is never composited or written
    _failed_frames.add(frame)
    _held_settings.update(camera=scene.camera, use_compositing=scene.render.use_compositing,
                          use_sequencer=scene.render.use_sequencer)
    scene.camera, scene.render.use_compositing, scene.render.use_sequencer = None, False, False


def _in_background() -> bool:
    """Whether this is a background render (`blender -b`, or bpy as a module), which a failure ends."""
    return bpy.app.background


@persistent
def on_render_write(scene, *_):
    """Remove the file Blender has just written for a frame that failed: it is not a rendering of instyle."""
    frame = scene.frame_current
    if frame in _failed_frames:
        path = scene.render.frame_path(frame=frame)
        if os.path.isfile(path):
            os.remove(path)


@persistent
def on_render_end(scene, *_):
    """After an interactive render (finished or cancelled): restore the settings changed to stop it."""
    for name, value in _held_settings.items():
        setattr(scene if name == "camera" else scene.render, name, value)
    _held_settings.clear()
    _failed_frames.clear()


HANDLERS = ((bpy.app.handlers.render_pre, on_render_pre), (bpy.app.handlers.render_write, on_render_write),
            (bpy.app.handlers.render_cancel, on_render_end), (bpy.app.handlers.render_complete, on_render_end))


def register():
    for handlers, handler in HANDLERS:
        if handler not in handlers:
            handlers.append(handler)
    if not bpy.app.timers.is_registered(compute.flush_statuses):
        bpy.app.timers.register(compute.flush_statuses, persistent=True)


def unregister():
    for handlers, handler in HANDLERS:
        if handler in handlers:
            handlers.remove(handler)
    if bpy.app.timers.is_registered(compute.flush_statuses):
        bpy.app.timers.unregister(compute.flush_statuses)
