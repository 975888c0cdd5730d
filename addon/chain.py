"""From a node graph to engine requests: the chains of instyle nodes, their footage and its frame numbers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import bpy

from . import cache, corrections, frame_map, paths
from .nodes import is_instyle
from .wire.corrections import CORRECTIONS, TRACKER, corrections_key, tagged


class ChainError(Exception):
    """A graph the engine cannot be asked about; the text says which node and what to change."""


@dataclass
class Chain:
    """Instyle nodes from the one nearest the footage to `nodes[-1]`, and the footage node."""

    source: object
    nodes: list
    first_frame: int = 1

    @property
    def shot(self) -> str:
        return f"{footage_path(self.source)}|{self.nodes[0].cache_id}"

    def source_for(self, frame: int) -> dict:
        return {"kind": "file", **footage_frame(self.source, frame)}

    def keys(self) -> list[str]:
        """For each node, a signature of everything its cached frames depend on but the tracker's corrections,
        which reach only some frames: each frame's tag names them (`corrections`)."""
        described, keys = [_footage_description(self.source)], []
        for node in self.nodes:
            params = {k: v for k, v in self._params(node).items() if node.STAGE != TRACKER or k not in CORRECTIONS}
            described.append([node.STAGE, params])
            keys.append(cache.signature(described))
        return keys

    @cached_property
    def corrections_key(self) -> str:
        """The hash of the chain's tracker corrections (`wire.corrections.corrections_key`), as this chain was
        made."""
        tracker = next((n for n in self.nodes if n.STAGE == TRACKER), None)
        return corrections_key(tracker.stage_params()) if tracker else ""

    def tagged(self) -> list[corrections.Folder]:
        """The cache folders, with their outputs, of the nodes whose frames are tagged with corrections."""
        return [(paths.node_dir(n.cache_id), n.cached_outputs())
                for n, on in zip(self.nodes, tagged([n.STAGE for n in self.nodes])) if on]

    def corrections_request(self, frames: list[int]) -> dict:
        """The `corrections` request (`wire.Client.corrections`) for scene `frames`."""
        pipeline = self.pipeline()
        upto = [p["stage"] for p in pipeline].index(TRACKER) + 1
        return {"pipeline": pipeline[:upto], "shot": self.shot,
                "items": [{"source": self.source_for(f), "frame_number": f} for f in frames]}

    def pipeline(self) -> list[dict]:
        return [{"stage": n.STAGE, "params": self._params(n), "write": str(paths.node_dir(n.cache_id)),
                 "write_outputs": list(n.cached_outputs())} for n in self.nodes]

    def _params(self, node) -> dict:
        """The node's stage parameters, with a tracker's automatic shot start resolved against the scene."""
        params = node.stage_params()
        if params.get("shot_start") == -2:
            footage = footage_frame(self.source, self.first_frame)
            still = self.source.bl_idname == "CompositorNodeImage" and self.source.image.source == "FILE"
            params["shot_start"] = -1 if still else max(footage["frame"], 0)
        return params

    def cached(self, frame: int) -> bool:
        """Whether every node has `frame`, tagged (where tagged) with the present corrections."""
        return (all(cache.has_frame(paths.node_dir(n.cache_id), n.cached_outputs(), frame) for n in self.nodes)
                and all(corrections.current(folder, frame, self.corrections_key) for folder in self.tagged()))


def _through_reroutes(socket):
    node = socket.links[0].from_node if socket.is_linked else None
    while node is not None and node.bl_idname == "NodeReroute":
        node = node.inputs[0].links[0].from_node if node.inputs[0].is_linked else None
    return node


def chain_to(node) -> Chain:
    """Walk up the Image inputs from `node` to the footage."""
    nodes, current = [node], node
    while True:
        upstream = _through_reroutes(current.inputs["Image"])
        if upstream is None:
            raise ChainError(f"{current.name}: nothing is linked into its Image input; link a Movie Clip or Image "
                             "node with the footage (directly, through reroutes or other instyle nodes)")
        if is_instyle(upstream):
            nodes.insert(0, upstream)
            current = upstream
            continue
        if upstream.bl_idname in ("CompositorNodeMovieClip", "CompositorNodeImage"):
            footage_path(upstream)
            return Chain(upstream, nodes)
        raise ChainError(f"{current.name}: its Image input comes from {upstream.name} ({upstream.bl_label}); "
                         "instyle reads the footage itself, so link the Movie Clip or Image node straight in")


def terminal_chains(tree, first_frame: int = 1) -> list[Chain]:
    """One chain for each instyle node that feeds no other instyle node's Image input; `first_frame` is the
    scene's first frame (where a tracker's shot starts by default)."""
    instyle = [n for n in tree.nodes if is_instyle(n) and not n.mute]
    feeding = set()
    for n in instyle:
        up = _through_reroutes(n.inputs["Image"])
        if up is not None and is_instyle(up):
            feeding.add(up.name)
    chains = [chain_to(n) for n in instyle if n.name not in feeding]
    for chain in chains:
        chain.first_frame = first_frame
    return chains


def footage_path(source) -> str:
    """Absolute path of the file a Movie Clip or Image node shows."""
    if source.bl_idname == "CompositorNodeMovieClip":
        if source.clip is None:
            raise ChainError(f"{source.name}: no movie clip is chosen; open the footage in it")
        raw, lib = source.clip.filepath, source.clip.library
    else:
        if source.image is None:
            raise ChainError(f"{source.name}: no image is chosen; open the footage in it")
        raw, lib = source.image.filepath, source.image.library
    path = Path(bpy.path.abspath(raw, library=lib))
    if not path.is_file():
        raise ChainError(f"{source.name}: footage file not found: {path}; relink it")
    return str(path)


def footage_frame(source, frame: int) -> dict:
    """{"path", "frame"} of the footage shown at scene `frame`: a video and its 0-based frame, a still and 0, or
    an image sequence's pattern (see `frame_map.sequence_pattern`) and the number of the file shown."""
    path = footage_path(source)
    if source.bl_idname == "CompositorNodeMovieClip":
        return {"path": path, "frame": frame_map.movie_clip_index(frame, source.clip.frame_start,
                                                                  source.clip.frame_offset)}
    image = source.image
    if image.source == "FILE":
        return {"path": path, "frame": 0}
    n = frame_map.image_node_number(frame, source.frame_start, source.frame_duration, source.frame_offset,
                                    source.use_cyclic)
    if image.source == "MOVIE":
        return {"path": path, "frame": max(n - 1, 0)}
    if image.source == "SEQUENCE":
        return {"path": frame_map.sequence_pattern(path), "frame": n}
    raise ChainError(f"{source.name}: image source {image.source} is not footage; use a movie or image sequence")


def _footage_description(source) -> list:
    """The footage file (path, size and modification time: a file rewritten in place is new footage) and the
    node settings that map scene frames to its frames."""
    path = footage_path(source)
    stat = os.stat(path)
    file = [path, stat.st_size, stat.st_mtime_ns]
    if source.bl_idname == "CompositorNodeMovieClip":
        return [*file, "clip", source.clip.frame_start, source.clip.frame_offset]
    return [*file, source.image.source, source.frame_start, source.frame_duration, source.frame_offset,
            source.use_cyclic]
