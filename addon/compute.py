"""Bringing cached frames up to date: invalidating stale ones and asking the engine for missing ones."""

from __future__ import annotations

import time

from . import cache, corrections, engine_link, inner_tree, paths
from .chain import Chain, ChainError, terminal_chains
from .nodes import is_instyle
from .wire import EngineError
from .wire.runtime import process_alive


def chains_of(scene) -> list[Chain]:
    tree = scene.compositing_node_group
    return terminal_chains(tree, scene.frame_start) if tree else []


def prepare(chains: list[Chain]) -> None:
    """Point inner trees at the cache and clear frames computed with other parameters or footage."""
    for chain in chains:
        for node, key in zip(chain.nodes, chain.keys()):
            if cache.claim(paths.node_dir(node.cache_id), key, node.cached_outputs(), process_alive):
                node.status = "Inputs changed: cached frames were cleared"
            inner_tree.point_at(node.node_tree, node.cache_files())


def settle(chain: Chain, frames: list[int]) -> None:
    """Clear the chain's cached `frames` that its tracker's corrections changed, and keep the others
    (`corrections.settle`)."""
    def digests(asked: list[int]) -> list[str]:
        request = chain.corrections_request(asked)
        try:
            return engine_link.client().corrections(**request)
        except EngineError as exc:
            if exc.code != "disconnected":
                raise
            return engine_link.restart().corrections(**request)
    corrections.settle(chain.tagged(), frames, chain.corrections_key, digests)


def ensure_frame(chain: Chain, frame: int) -> dict | None:
    """Compute `frame` for the whole chain unless every node already has it; returns the engine's reply."""
    settle(chain, [frame])
    if chain.cached(frame):
        return None
    header = {"source": chain.source_for(frame), "pipeline": chain.pipeline(), "frame_number": frame,
              "shot": chain.shot}
    try:
        reply, _ = engine_link.client().run(**header)
    except EngineError as exc:
        if exc.code != "disconnected":
            raise
        reply, _ = engine_link.restart().run(**header)
    return reply


def describe(reply: dict | None, frame: int) -> str:
    if reply is None:
        return f"Frame {frame}: cached"
    ms = sum(v for k, v in reply["timings_ms"].items() if "." not in k)
    return f"Frame {frame}: {len(reply['instances'])} instance(s), {ms:.0f} ms"


def mark(chain: Chain, text: str) -> None:
    for node in chain.nodes:
        node.status = text


def mark_all(scene, text: str) -> None:
    """Show `text` on every instyle node of the scene's compositor (when no chain could be built)."""
    tree = scene.compositing_node_group
    for node in tree.nodes if tree else ():
        if is_instyle(node):
            node.status = text


def error_text(exc: Exception) -> str:
    if isinstance(exc, EngineError):
        return f"Error: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
    if isinstance(exc, ChainError):
        return f"Error: {exc}"
    return f"Error: {type(exc).__name__}: {exc}"


class FrameTimer:
    """Milliseconds per frame spent in the add-on, engine included."""

    def __init__(self):
        self.samples: list[float] = []

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.samples.append((time.perf_counter() - self.t0) * 1000)
