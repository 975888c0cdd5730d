"""Live preview: a frame change or an edit computes the visible frame in the engine's priority lane, without a
render and without blocking Blender.

A change (`frame_change_post`, `depsgraph_update_post`) only records the wish; `tick` (a timer, on Blender's main
thread) acts once the wish has been still for `DEBOUNCE_S`: it builds the chains, clears frames made with other
settings, and hands the request to a worker thread. A newer wish cancels the request in flight. When the reply
comes, `tick` reloads the nodes' cached images so the compositor shows the frame, and each node says whether the
frame is computed, pending or failed, and how much of the scene's range is cached.

Timers do not run in background Blender (farms, bpy as a module): there `active` is False and nothing is
previewed; tests drive `tick` themselves.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import bpy
from bpy.app.handlers import persistent

from . import cache, compute, engine_link, faults, inner_tree, paths

DEBOUNCE_S = 0.25
TICK_S = 0.1


@dataclass
class Request:
    """One frame of one scene being computed by the worker: `done` is set with `error` or the engine's `replies`."""

    scene: str
    frame: int
    requests: list[dict]
    ids: list[int] = field(default_factory=list)
    replies: dict[str, dict] = field(default_factory=dict)  # the engine's reply by chain (its `shot`)
    error: Exception | None = None
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)


active = not bpy.app.background
_wish: dict = {}  # {"scene": name, "since": monotonic time of the last change}
_flight: list[Request] = []


@persistent
def on_change(scene, *_):
    """A frame change or an edit: remember to preview the scene's current frame once changes stop."""
    if active and scene.compositing_node_group is not None and not bpy.app.is_job_running("RENDER"):
        _wish.update(scene=scene.name, since=time.monotonic())


def tick() -> float:
    """Advance the preview (see the module's description); returns the seconds until it wants to run again."""
    if _flight and _flight[0].done.is_set():
        _land(_flight.pop())
    if not _wish or time.monotonic() - _wish["since"] < DEBOUNCE_S or bpy.app.is_job_running("RENDER"):
        return TICK_S
    scene = bpy.data.scenes.get(_wish["scene"])
    _wish.clear()
    if scene is None:
        return TICK_S
    frame = scene.frame_current
    if _flight and (_flight[0].scene, _flight[0].frame) != (scene.name, frame):
        _cancel(_flight[0])
    try:
        chains = compute.chains_of(scene)
        compute.prepare(chains)
        for chain in chains:  # a correction clears only the frames it reaches (a short engine request)
            compute.settle(chain, [frame])
    except Exception as exc:
        compute.mark_fault(compute.chains_or_none(scene), faults.locate(exc))
        return TICK_S
    todo = [c for c in chains if c.shows(frame) and not c.cached(frame)]
    for chain in chains:
        if chain in todo:
            _mark(scene, chain, frame, "computing")
        elif not chain.nodes[-1].status.startswith(f"Frame {frame}: "):  # keep "computed in ... ms"
            _mark(scene, chain, frame, "cached")
    if todo and not _flight:
        request = Request(scene.name, frame, [compute.frame_request(c, frame) for c in todo])
        try:
            engine_link.client()  # started here, on the main thread, which may read the preferences
        except Exception as exc:
            compute.mark_fault(todo, faults.locate(exc, todo))
            return TICK_S
        _flight.append(request)
        threading.Thread(target=_work, args=(request,), name="instyle-preview", daemon=True).start()
    elif todo:
        _wish.update(scene=scene.name, since=0.0)  # after the request in flight
    return TICK_S


def _work(request: Request) -> None:
    try:
        for header in request.requests:
            request.replies[header["shot"]] = compute.run(header, sent=request.ids.append)
    except Exception as exc:  # reported on the nodes by `_land`, on the main thread
        request.error = exc
    finally:
        request.done.set()


def _cancel(request: Request) -> None:
    request.cancelled = True
    for request_id in request.ids[-1:]:
        try:
            engine_link.client().cancel(request_id)
        except Exception:
            pass  # it finished meanwhile: the frame is cached, which does no harm


def _land(request: Request) -> None:
    """On the main thread: show what the worker computed, or its error."""
    scene = bpy.data.scenes.get(request.scene)
    chains = compute.chains_or_none(scene) if scene else []
    if request.error is not None:
        if not request.cancelled:
            compute.mark_fault(chains, faults.locate(request.error, chains))
        return
    for chain in chains:
        for node in chain.nodes:
            for reader in inner_tree.cache_readers(node.node_tree).values():
                if reader.image is not None:
                    reader.image.reload()
        if chain.shows(request.frame) and chain.cached(request.frame):
            chain.publish(request.frame)
        reply = request.replies.get(chain.shot)
        _mark(scene, chain, request.frame, "computed" if reply else "cached", reply)


def _mark(scene, chain, frame: int, state: str, reply: dict | None = None) -> None:
    """Status: the frame's state (with the engine's time) and how much of the scene's range is cached."""
    frames = range(scene.frame_start, scene.frame_end + 1)
    last = chain.nodes[-1]
    done = sum(cache.has_frame(paths.node_dir(last.cache_id), chain.outputs(last), f) for f in frames)
    took = f" in {sum(v for k, v in reply['timings_ms'].items() if '.' not in k):.0f} ms" if reply else ""
    compute.mark(chain, f"Frame {frame}: {state}{took}; {done} of {len(frames)} frames cached")


HANDLERS = ((bpy.app.handlers.frame_change_post, on_change), (bpy.app.handlers.depsgraph_update_post, on_change))


def register():
    for handlers, handler in HANDLERS:
        if handler not in handlers:
            handlers.append(handler)
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, persistent=True)


def unregister():
    for handlers, handler in HANDLERS:
        if handler in handlers:
            handlers.remove(handler)
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
