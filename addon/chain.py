"""From a node graph to engine requests: the chains of instyle nodes, their footage and its frame numbers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import bpy

from . import cache, frame_map, paths
from .node_params import SCENE_START
from .nodes import is_instyle


OUTPUT_NODES = frozenset({"NodeGroupOutput", "CompositorNodeViewer", "CompositorNodeOutputFile"})


class ChainError(Exception):
    """A graph the engine cannot be asked about; the text says which node and what to change, and `node` is the
    node at fault, when there is one."""

    def __init__(self, message: str, node=None):
        super().__init__(message)
        self.node = node


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
        """For each node, a signature of everything its cached frames depend on."""
        described, keys = [_footage_description(self.source)], []
        for node in self.nodes:
            described.append([node.STAGE, self._params(node)])
            keys.append(cache.signature(described))
        return keys

    def pipeline(self) -> list[dict]:
        return [{"stage": n.STAGE, "params": self._params(n), "write": str(paths.node_dir(n.cache_id)),
                 "write_outputs": list(n.cached_outputs())} for n in self.nodes]

    def _params(self, node) -> dict:
        """The node's stage parameters, with a tracker's automatic shot start resolved against the scene."""
        params = node.stage_params()
        if params.get("shot_start") == SCENE_START:
            footage = footage_frame(self.source, self.first_frame)
            still = self.source.bl_idname == "CompositorNodeImage" and self.source.image.source == "FILE"
            params["shot_start"] = -1 if still else max(footage["frame"], 0)
        return params

    def cached(self, frame: int) -> bool:
        return all(cache.has_frame(paths.node_dir(n.cache_id), n.cached_outputs(), frame) for n in self.nodes)


def _upstream(socket):
    """The node feeding `socket`, seen through reroutes and muted instyle nodes (a muted node passes its Image
    input on, as Blender's mute does); None when nothing is linked."""
    node = _linked_from(socket)
    while node is not None and (node.bl_idname == "NodeReroute" or (is_instyle(node) and node.mute)):
        node = _linked_from(node.inputs[0] if node.bl_idname == "NodeReroute" else node.inputs["Image"])
    return node


def _linked_from(socket):
    link = _linked_from_link(socket)
    return link.from_node if link is not None else None


def _linked_from_link(socket):
    links = [link for link in socket.links if not link.is_muted] if socket.is_linked else []
    return links[0] if links else None


def reaches_output(node) -> bool:
    """Whether anything `node` outputs arrives, through any nodes, at the tree's output, a Viewer or a File
    Output: only such nodes are computed."""
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current.bl_idname in OUTPUT_NODES:
            return True
        if current.name in seen:
            continue
        seen.add(current.name)
        todo += [link.to_node for out in current.outputs for link in out.links if not link.is_muted]
    return False


def chain_to(node) -> Chain:
    """Walk up the Image inputs from `node` to the footage, leaving out muted instyle nodes."""
    nodes, current = [node], node
    while True:
        upstream = _upstream(current.inputs["Image"])
        if upstream is None:
            raise ChainError(f"{current.name}: nothing is linked into its Image input; link a Movie Clip or Image "
                             "node with the footage (directly, through reroutes or other instyle nodes)", current)
        if is_instyle(upstream):
            _check_footage_link(current, upstream)
            nodes.insert(0, upstream)
            current = upstream
            continue
        if upstream.bl_idname in ("CompositorNodeMovieClip", "CompositorNodeImage"):
            footage_path(upstream, current)
            return Chain(upstream, nodes)
        raise ChainError(f"{current.name}: its Image input comes from {upstream.name} ({upstream.bl_label}); "
                         "instyle reads the footage itself, so link the Movie Clip or Image node straight in", current)


def _check_footage_link(node, upstream) -> None:
    """An instyle node's Image input must carry the footage: from the upstream instyle node's Image output, not a
    result (a Neural Style's Stylized output would make MRF Blend treat the styled frame as the footage)."""
    link = _linked_from_link(node.inputs["Image"])
    while link is not None and link.from_node.bl_idname == "NodeReroute":
        link = _linked_from_link(link.from_node.inputs[0])
    if link is not None and link.from_node == upstream and link.from_socket.name != "Image":
        raise ChainError(f"{node.name}: its Image input comes from {upstream.name}'s {link.from_socket.name} output; "
                         f"link {upstream.name}'s Image output (the footage) into it instead", node)


def live_nodes(tree) -> list:
    """The instyle nodes of `tree` that are computed: not muted, and linked on to an output."""
    return [n for n in tree.nodes if is_instyle(n) and not n.mute and reaches_output(n)]


def terminal_chains(tree, first_frame: int = 1) -> list[Chain]:
    """One chain for each live instyle node (see `live_nodes`) that feeds no other live instyle node's Image
    input; `first_frame` is the scene's first frame (where a tracker's shot starts by default)."""
    live = live_nodes(tree)
    feeding = set()
    for n in live:
        up = _upstream(n.inputs["Image"])
        if up is not None and is_instyle(up):
            feeding.add(up.name)
    chains = [chain_to(n) for n in live if n.name not in feeding]
    for chain in chains:
        chain.first_frame = first_frame
    return chains


def footage_path(source, reader=None) -> str:
    """Absolute path of the file a Movie Clip or Image node shows; errors are put on `reader`, the instyle node
    reading it, when given."""
    if source.bl_idname == "CompositorNodeMovieClip":
        if source.clip is None:
            raise ChainError(f"{source.name}: no movie clip is chosen; open the footage in it", reader)
        raw, lib = source.clip.filepath, source.clip.library
    else:
        if source.image is None:
            raise ChainError(f"{source.name}: no image is chosen; open the footage in it", reader)
        raw, lib = source.image.filepath, source.image.library
    path = Path(bpy.path.abspath(raw, library=lib))
    if not path.is_file():
        raise ChainError(f"{source.name}: footage file not found: {path}; relink it", reader)
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
