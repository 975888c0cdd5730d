"""Bringing cached frames up to date: invalidating stale ones and asking the engine for missing ones."""

from __future__ import annotations

import time

import bpy

from . import cache, corrections, engine_link, inner_tree, sequencer
from .chain import Chain, live_nodes, terminal_chains
from .faults import Fault
from .nodes import is_instyle
from .wire import EngineError
from .wire.runtime import process_alive

_pending: dict[tuple[str, str], str] = {}


def chains_of(scene) -> list[Chain]:
    """The chains of the scene's compositor (when the render composites), then those of the node groups its Video
    Sequencer strips run."""
    tree = scene.compositing_node_group if scene.render.use_compositing else None
    return (terminal_chains(tree, scene.frame_start) if tree else []) + sequencer.strip_chains(scene)


def chains_or_none(scene) -> list[Chain]:
    """The scene's chains, or none when the graph is broken (its error is reported by whoever builds them)."""
    try:
        return chains_of(scene)
    except Exception:
        return []


def prepare(chains: list[Chain]) -> None:
    """Point inner trees at the cache and clear frames computed with other parameters or footage."""
    for chain in chains:
        for node, key in zip(chain.nodes, chain.keys()):
            if cache.claim(chain.node_dir(node), key, node.cached_outputs(), process_alive):
                post(node, "Inputs changed: cached frames were cleared")
            inner_tree.point_at(node.node_tree, node.cache_files())


def settle(chain: Chain, frames: list[int]) -> None:
    """Clear the chain's cached scene `frames` made from image sequence files rewritten since
    (`cache.forget_rewritten`) or that its tracker's corrections changed (`corrections.settle`), and keep the
    others (both work on cache numbers)."""
    scene_frame = {chain.number(f): f for f in frames if chain.shows(f)}
    if chain.footage.sequence:
        cache.forget_rewritten(chain.folders, sorted(scene_frame))

    def digests(asked: list[int]) -> list[str]:
        request = chain.corrections_request([scene_frame[n] for n in asked])
        try:
            return engine_link.client().corrections(**request)
        except EngineError as exc:
            if exc.code != "disconnected":
                raise
            return engine_link.restart().corrections(**request)
    corrections.settle(chain.tagged(), sorted(scene_frame), chain.corrections_key, digests)


def ensure_frame(chain: Chain, frame: int) -> dict | None:
    """Compute `frame` for the whole chain unless every node already has it (with the present corrections) or the
    chain's footage is not shown then (outside its strip), and put it where the nodes read it; returns the
    engine's reply."""
    if not chain.shows(frame):
        return None
    settle(chain, [frame])
    reply = None if chain.cached(frame) else run(frame_request(chain, frame))
    chain.publish(frame)
    return reply


def frame_request(chain: Chain, frame: int) -> dict:
    """The `run` request computing `frame` for every node of `chain` (built where Blender data may be read)."""
    return {"source": chain.source_for(frame), "pipeline": chain.pipeline(), "frame_number": chain.number(frame),
            "shot": chain.shot}


def run(request: dict, sent=lambda request_id: None) -> dict:
    """Send a `frame_request` (in the engine's priority lane) and wait for the reply; an engine that went away is
    started again once. `sent` gets the request's id, which `engine_link.client().cancel` takes."""
    header = {"type": "run", **request}
    try:
        reply, _ = engine_link.client().request(header, sent=sent)
    except EngineError as exc:
        if exc.code != "disconnected":
            raise
        reply, _ = engine_link.restart().request(header, sent=sent)
    return reply


def describe(reply: dict | None, frame: int) -> str:
    if reply is None:
        return f"Frame {frame}: cached"
    ms = sum(v for k, v in reply["timings_ms"].items() if "." not in k)
    return f"Frame {frame}: {len(reply['instances'])} instance(s), {ms:.0f} ms"


def mark(chain: Chain, text: str) -> None:
    for node in chain.nodes:
        post(node, text)


def mark_fault(chains: list[Chain], fault: Fault) -> None:
    """Put `fault` on its node; the other nodes of its chain say which node stopped them. A fault of no node goes
    on the last node of every chain."""
    for chain in chains:
        if fault.node is None:
            post(chain.nodes[-1], fault.status)
        elif any(n == fault.node for n in chain.nodes):
            for node in chain.nodes:
                post(node, fault.status if node == fault.node else f"Not computed: {fault.node.name} has an error")
    if fault.node is not None and not any(fault.node == n for chain in chains for n in chain.nodes):
        post(fault.node, fault.status)


def mark_idle(scene) -> None:
    """Say on each instyle node of the scene's compositor that is not computed why not: it is muted, or reaches no
    output."""
    tree = scene.compositing_node_group if scene.render.use_compositing else None
    live = {n.name for n in live_nodes(tree)} if tree else set()
    for node in tree.nodes if tree else ():
        if is_instyle(node) and node.name not in live:
            post(node, "Muted: bypassed" if node.mute else "Not computed: not linked to an output or a Viewer")


def post(node, text: str) -> None:
    """Set `node.status`; from a render thread of an interactive session the text waits for `flush_statuses`,
    as Blender data must only be written on the main thread there."""
    if bpy.app.background:
        if node.status != text:
            node.status = text
    else:
        _pending[(node.id_data.name, node.name)] = text


def flush_statuses() -> float:
    """Write the statuses posted from render threads (a timer: runs again after the returned seconds)."""
    while _pending:
        (tree_name, node_name), text = _pending.popitem()
        tree = bpy.data.node_groups.get(tree_name)
        node = tree.nodes.get(node_name) if tree else None
        if node is not None and node.status != text:
            node.status = text
    return 0.25


class FrameTimer:
    """Milliseconds per frame spent in the add-on, engine included."""

    def __init__(self):
        self.samples: list[float] = []

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.samples.append((time.perf_counter() - self.t0) * 1000)
