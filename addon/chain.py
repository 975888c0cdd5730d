"""From a node graph to engine requests: the chains of instyle nodes, their footage and its frame numbers.

A chain reads its footage through a footage object: `NodeFootage` for a Movie Clip or Image node of the scene
compositor, or a strip's (`sequencer.StripFootage`) for a node group run by a Video Sequencer strip. It says which
footage frame a scene frame shows, which scene frames it is shown at, and where each node's frames are cached."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import bpy

from . import cache, corrections, frame_map, paths
from .node_params import SCENE_START
from .nodes import is_instyle
from .wire.corrections import CORRECTIONS, TRACKER, corrections_key, tagged


OUTPUT_NODES = frozenset({"NodeGroupOutput", "CompositorNodeViewer", "CompositorNodeOutputFile"})


class ChainError(Exception):
    """A graph the engine cannot be asked about; the text says which node and what to change, and `node` is the
    node at fault, when there is one."""

    def __init__(self, message: str, node=None):
        super().__init__(message)
        self.node = node


class NodeFootage:
    """The footage of a Movie Clip or Image node: shown at every scene frame, cached by scene frame in each
    node's own folder, which its inner tree reads."""

    def __init__(self, node):
        self.node = node

    @property
    def still(self) -> bool:
        return self.node.bl_idname == "CompositorNodeImage" and self.node.image.source == "FILE"

    @property
    def sequence(self) -> bool:
        """Whether the footage is an image sequence: its frames are held to the files they were made from one by
        one (`cache.forget_rewritten`), not by the chain's keys."""
        return self.node.bl_idname == "CompositorNodeImage" and self.node.image.source == "SEQUENCE"

    @property
    def shot(self) -> str:
        return footage_path(self.node)

    def frame(self, frame: int) -> dict:
        return footage_frame(self.node, frame)

    def number(self, frame: int) -> int:
        return frame

    def shows(self, frame: int) -> bool:
        return True

    def description(self) -> list:
        return _footage_description(self.node)

    def node_dir(self, node) -> Path:
        return paths.node_dir(node.cache_id)

    def publish(self, node, frame: int) -> None:
        """Nothing to do: the node's inner tree reads the folder its frames are cached in."""


@dataclass
class Chain:
    """Instyle nodes from the one nearest the footage to `nodes[-1]`, the node they read from (`source`) and the
    footage it stands for (a `NodeFootage` of `source` unless given)."""

    source: object
    nodes: list
    first_frame: int = 1
    footage: object = None

    def __post_init__(self):
        if self.footage is None:
            self.footage = NodeFootage(self.source)

    @property
    def shot(self) -> str:
        return f"{self.footage.shot}|{self.nodes[0].cache_id}"

    @property
    def folders(self) -> list[tuple[Path, tuple[str, ...]]]:
        """Each node's cache folder, with the outputs it caches."""
        return [(self.node_dir(n), n.cached_outputs()) for n in self.nodes]

    def source_for(self, frame: int) -> dict:
        return {"kind": "file", **self.footage.frame(frame)}

    def number(self, frame: int) -> int:
        """The number of the cache files holding scene `frame`."""
        return self.footage.number(frame)

    def shows(self, frame: int) -> bool:
        """False where the footage is not shown at scene `frame` (outside its strip), so nothing is computed."""
        return self.footage.shows(frame)

    def node_dir(self, node) -> Path:
        return self.footage.node_dir(node)

    def publish(self, frame: int) -> None:
        """Put each node's cached result for scene `frame` where its inner tree reads it."""
        for node in self.nodes:
            self.footage.publish(node, frame)

    def keys(self) -> list[str]:
        """For each node, a signature of everything its cached frames depend on but the tracker's corrections,
        which reach only some frames: each frame's tag names them (`corrections`), and an image sequence's files,
        each of which reaches only the frames made from it (`cache.forget_rewritten`)."""
        described, keys = [self.footage.description()], []
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

    @cached_property
    def _read(self) -> dict[str, tuple[str, ...]]:
        return {node.name: read_outputs(node) for node in self.nodes}

    def outputs(self, node) -> tuple[str, ...]:
        """The node's cached outputs that something reads (`read_outputs`, as the graph was when this chain was
        made): the ones the engine writes and a cached frame must have."""
        return self._read[node.name]

    def tagged(self) -> list[corrections.Folder]:
        """The cache folders, with the outputs read from them, of the nodes whose frames are tagged with
        corrections."""
        return [(self.node_dir(n), self.outputs(n))
                for n, on in zip(self.nodes, tagged([n.STAGE for n in self.nodes])) if on]

    def corrections_request(self, frames: list[int]) -> dict:
        """The `corrections` request (`wire.Client.corrections`) for scene `frames`."""
        pipeline = self.pipeline()
        upto = [p["stage"] for p in pipeline].index(TRACKER) + 1
        return {"pipeline": pipeline[:upto], "shot": self.shot,
                "items": [{"source": self.source_for(f), "frame_number": self.number(f)} for f in frames]}

    def pipeline(self) -> list[dict]:
        return [{"stage": n.STAGE, "params": self._params(n), "write": str(self.node_dir(n)),
                 "write_outputs": list(self.outputs(n))} for n in self.nodes]

    def _params(self, node) -> dict:
        """The node's stage parameters, with a tracker's automatic shot start resolved against the scene."""
        params = node.stage_params()
        if params.get("shot_start") == SCENE_START:
            footage = self.footage.frame(self.first_frame)
            params["shot_start"] = -1 if self.footage.still else max(footage["frame"], 0)
        return params

    def cached(self, frame: int) -> bool:
        """Whether every node has `frame` of each output read from it (a frame lacking one that a new link reads
        is computed again, as a whole), tagged (where tagged) with the present corrections."""
        number = self.number(frame)
        return (all(cache.has_frame(self.node_dir(n), self.outputs(n), number) for n in self.nodes)
                and all(corrections.current(folder, number, self.corrections_key) for folder in self.tagged()))


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


def socket_reaches_output(socket) -> bool:
    """Whether an output socket is linked (unmuted) to a node whose outputs arrive at an output (`reaches_output`),
    or to an output node itself."""
    return socket.is_linked and any(reaches_output(link.to_node) for link in socket.links if not link.is_muted)


def read_outputs(node) -> tuple[str, ...]:
    """The cached outputs of instyle `node` that something reads: those of its sockets linked on to the tree's
    output, a Viewer or a File Output (MRF Blend's Image, the mix, reads `alpha` and `stylized_for_mix`). No
    instyle node reads another's cache (the engine hands stages their inputs itself), so the engine writes only
    these; a socket linked later makes the frames lacking its output not cached, and so computed again."""
    wanted = set()
    for s in node.OUTPUTS:
        if s.source != "pass" and socket_reaches_output(node.outputs[s.name]):
            wanted.update(("alpha", "stylized_for_mix") if s.source == "mix" else (s.source,))
    return tuple(o for o in node.cached_outputs() if o in wanted)


def chain_to(node, group_footage=None) -> Chain:
    """Walk up the Image inputs from `node` to the footage, leaving out muted instyle nodes; in a node group run by
    a strip, `group_footage` is the strip's footage, which the Group Input node stands for."""
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
        if upstream.bl_idname == "NodeGroupInput" and group_footage is not None:
            return Chain(upstream, nodes, footage=group_footage)
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


def terminal_chains(tree, first_frame: int = 1, group_footage=None) -> list[Chain]:
    """One chain for each live instyle node (see `live_nodes`) that feeds no other live instyle node's Image
    input; `first_frame` is the scene's first frame (where a tracker's shot starts by default); `group_footage` as
    for `chain_to`."""
    live = live_nodes(tree)
    feeding = set()
    for n in live:
        up = _upstream(n.inputs["Image"])
        if up is not None and is_instyle(up):
            feeding.add(up.name)
    chains = [chain_to(n, group_footage) for n in live if n.name not in feeding]
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
    path = Path(os.path.normpath(bpy.path.abspath(raw, library=lib)))  # "//../x.avi" after a save: the same file
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
    """The footage file (path, size and modification time: a file rewritten in place is new footage; for an image
    sequence, the path the engine reads it by, as each file counts only for the frames made from it) and the node
    settings that map scene frames to its frames."""
    path = footage_path(source)
    if source.bl_idname == "CompositorNodeImage" and source.image.source == "SEQUENCE":
        file = [frame_map.sequence_pattern(path)]
    else:
        stat = os.stat(path)
        file = [path, stat.st_size, stat.st_mtime_ns]
    if source.bl_idname == "CompositorNodeMovieClip":
        return [*file, "clip", source.clip.frame_start, source.clip.frame_offset]
    return [*file, source.image.source, source.frame_start, source.frame_duration, source.frame_offset,
            source.use_cyclic]
