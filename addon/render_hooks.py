"""Render handlers: every frame being rendered is computed first if it is not cached, so that
`blender -b file.blend -a` works without a bake."""

from __future__ import annotations

import sys
import time

import bpy
from bpy.app.handlers import persistent

from . import compute

failures: list[str] = []
last_replies: dict[int, list[dict]] = {}
handler_ms: dict[int, float] = {}


@persistent
def on_render_pre(scene, *_):
    frame = scene.frame_current
    started = time.perf_counter()
    try:
        chains = compute.chains_of(scene)
        compute.prepare(chains)
        replies = [compute.ensure_frame(chain, frame) for chain in chains]
    except Exception as exc:  # a render handler must not raise: report, remember, and let the render go on
        text = f"instyle: frame {frame}: {compute.error_text(exc)}"
        failures.append(text)
        print(text, file=sys.stderr, flush=True)
        if bpy.app.background:
            for chain in _safe_chains(scene):
                compute.mark(chain, compute.error_text(exc))
        return
    last_replies[frame] = [r for r in replies if r]
    handler_ms[frame] = (time.perf_counter() - started) * 1000
    if bpy.app.background:
        for chain, reply in zip(chains, replies):
            compute.mark(chain, compute.describe(reply, frame))


def _safe_chains(scene):
    try:
        return compute.chains_of(scene)
    except Exception:
        return []


def register():
    if on_render_pre not in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.append(on_render_pre)


def unregister():
    if on_render_pre in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.remove(on_render_pre)
