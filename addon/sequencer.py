"""instyle in the Video Sequencer: chains in the node groups of Compositor modifiers on movie and image strips.

Blender runs a Compositor modifier's node group on the strip's own image at each frame the strip is shown
(`render_pre` runs before, so frames computed there are used for that very frame). The chain's footage is the
strip's file, and scene frames map to its frames as the sequencer maps them (`frame_map.strip_index`).

Caching: the nodes of a group read one file per scene frame (`<node folder>/<output>/<scene frame>.exr`), yet a
group may run on several strips (a strip that was split, say). So each (strip, modifier) caches its results in its
own folder, numbered by the strip's footage frame (`paths.strip_dir`; a strip moved in time keeps them), and
links the frame it shows into the folder the nodes read before Blender reads it. Two strips sharing a group
must therefore not be shown at the same frame.

Supported: movie strips and image-sequence (or single image) strips; start, start/end handles, animation
offsets, reversed frames and strobe. Not supported, with a ChainError saying what to change: retiming keys, a
Speed effect over the strip, and a movie whose frame rate is not the scene's (Blender may then play it at
another speed, and Python cannot tell whether it does).
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from . import cache, frame_map, graph_setup, paths
from .chain import Chain, ChainError, terminal_chains
from .nodes import is_instyle

FOOTAGE_TYPES = ("MOVIE", "IMAGE")
MODIFIER_NAME = "instyle"


class StripFootage:
    """The footage of a movie or image strip, for the node group of one of its Compositor modifiers.

    Read from the strip when made; ChainError when the strip's timing is one instyle cannot follow.
    """

    def __init__(self, scene, strip, modifier):
        self.name = strip.name
        if strip.type not in FOOTAGE_TYPES:
            raise ChainError(f"{strip.name}: instyle reads the footage of movie and image strips, and this is a "
                             f"{strip.type.lower()} strip; put the modifier on the movie or image strip itself")
        _check_timing(scene, strip)
        self.start, self.length = strip.frame_start, strip.frame_duration
        self.offset, self.reverse, self.strobe = strip.animation_offset_start, strip.use_reverse_frames, strip.strobe
        self.shown = (strip.frame_final_start, strip.frame_final_end)
        self.first_frame = self.shown[1] - 1 if self.reverse else self.shown[0]  # shows the earliest footage frame
        self.key = cache.signature([scene.name, strip.name, modifier.name])
        if strip.type == "MOVIE":
            self.file = _existing(strip, bpy.path.abspath(strip.filepath, library=scene.library))
            self.path, self.first_number, self.still = self.file, 0, False
            return
        names = [strip.elements[0].filename, strip.elements[-1].filename]
        folder = bpy.path.abspath(strip.directory, library=scene.library)
        self.file = _existing(strip, os.path.join(folder, names[0]))
        self.still = len(strip.elements) == 1
        self.path = self.file if self.still else _sequence_pattern(strip, self.file, names[1], len(strip.elements))
        self.first_number = 0 if self.still else frame_map.file_number(self.file)

    @property
    def shot(self) -> str:
        return f"{self.path}|strip {self.key}"

    def number(self, frame: int) -> int:
        """The footage frame shown at scene `frame`: a movie's 0-based frame, or an image sequence's file number."""
        if self.still:
            return 0
        return self.first_number + self.offset + frame_map.strip_index(frame, self.start, self.length,
                                                                      self.reverse, self.strobe)

    def frame(self, frame: int) -> dict:
        return {"path": self.path, "frame": self.number(frame)}

    def shows(self, frame: int) -> bool:
        return self.shown[0] <= frame < self.shown[1]

    @property
    def sequence(self) -> bool:
        """Whether the footage is an image sequence, whose files count one by one (`chain.NodeFootage.sequence`)."""
        return self.path != self.file

    def description(self) -> list:
        """The footage file (a rewritten file is new footage; an image sequence's files count one by one, see
        `sequence`); frames are cached by footage frame, so where the strip sits in the timeline does not
        matter."""
        if self.sequence:
            return ["strip", self.path]
        stat = os.stat(self.file)
        return [self.file, stat.st_size, stat.st_mtime_ns, "strip", self.path]

    def node_dir(self, node) -> Path:
        return paths.strip_dir(node.cache_id, self.key)

    def publish(self, node, frame: int) -> None:
        """Link the node's cached footage frame shown at scene `frame` into the folder its inner tree reads."""
        for output in node.cached_outputs():
            cached = cache.frame_file(self.node_dir(node), output, self.number(frame))
            if cached.is_file():
                cache.publish(cached, cache.frame_file(paths.node_dir(node.cache_id), output, frame))


def _existing(strip, path: str) -> str:
    if not os.path.isfile(path):
        raise ChainError(f"{strip.name}: footage file not found: {path}; relink the strip's file")
    return path


def _sequence_pattern(strip, first: str, last_name: str, count: int) -> str:
    """The engine's path for an image strip's files (see `frame_map.sequence_pattern`), which must be one run of
    consecutive numbers (its first and last file are checked)."""
    try:
        consecutive = os.path.basename(frame_map.sequence_file(first, frame_map.file_number(first) + count - 1)) \
            == last_name
    except ValueError:
        consecutive = False
    if not consecutive:
        raise ChainError(f"{strip.name}: its {count} images are not one numbered sequence ({os.path.basename(first)} "
                         f"to {last_name}); use files numbered without gaps, such as plate.1001.exr to "
                         f"plate.{1000 + count}.exr")
    return frame_map.sequence_pattern(first)


def _check_timing(scene, strip) -> None:
    """ChainError unless the sequencer shows the strip's frames one per scene frame (see the module's text)."""
    speed_effects = {s.input_1.as_pointer(): s.name for s in scene.sequence_editor.strips_all
                     if s.type == "SPEED" and s.input_1 is not None}
    for holder in _with_metas(strip):
        if len(getattr(holder, "retiming_keys", ())) > 1:
            raise ChainError(f"{holder.name}: it is retimed, which instyle cannot follow; reset its retiming "
                             "(Strip > Retiming > Reset Retiming), or render the retimed strip to a movie and use that")
        if holder.as_pointer() in speed_effects:
            raise ChainError(f"{holder.name}: Speed effect {speed_effects[holder.as_pointer()]} retimes it, which "
                             "instyle cannot follow; remove the effect, or render the retimed strip to a movie and "
                             "use that")
    scene_fps = scene.render.fps / scene.render.fps_base
    if strip.type == "MOVIE" and strip.fps > 0 and abs(strip.fps - scene_fps) > 1e-3 * scene_fps:
        raise ChainError(f"{strip.name}: its movie runs at {strip.fps:g} fps and the scene at {scene_fps:g} fps, so "
                         "Blender may play it at another speed, which instyle cannot follow; set the scene's frame "
                         f"rate to {strip.fps:g} fps (Output Properties > Format), or convert the movie to "
                         f"{scene_fps:g} fps")


def _with_metas(strip) -> list:
    """`strip` and the meta strips holding it, innermost first."""
    held = [strip]
    while (parent := held[-1].parent_meta()) is not None:
        held.append(parent)
    return held


def _renders(editor, strip) -> bool:
    """Whether the sequencer renders `strip` at all: it, its channel and the meta strips holding it are unmuted."""
    for held in _with_metas(strip):
        parent = held.parent_meta()
        if held.mute or (parent or editor).channels[held.channel].mute:
            return False
    return True


def instyle_modifiers(scene) -> list[tuple]:
    """(strip, modifier) for each unmuted Compositor modifier whose node group holds instyle nodes, on the strips
    the sequencer renders; empty when the scene does not render its sequencer."""
    editor = scene.sequence_editor
    if editor is None or not scene.render.use_sequencer:
        return []
    found = []
    for strip in editor.strips_all:
        for modifier in strip.modifiers:
            group = getattr(modifier, "node_group", None) if modifier.type == "COMPOSITOR" else None
            if group is not None and not modifier.mute and any(is_instyle(n) for n in group.nodes) \
                    and _renders(editor, strip):
                found.append((strip, modifier))
    return found


def strip_chains(scene) -> list[Chain]:
    """The chains of the node groups run by the scene's strips (see `instyle_modifiers`), each with its strip's
    footage; ChainError when a group is shown by two strips at once, or is also the scene's compositor."""
    users = instyle_modifiers(scene)
    by_group: dict[str, list] = {}
    for strip, modifier in users:
        by_group.setdefault(modifier.node_group.name, []).append(strip)
    for group, strips in by_group.items():
        overlap = frame_map.first_overlap([(s.frame_final_start, s.frame_final_end) for s in strips])
        if overlap is not None:
            a, b, frame = strips[overlap[0]], strips[overlap[1]], overlap[2]
            raise ChainError(f"{a.name} and {b.name} both show node group {group} at frame {frame}, and its nodes "
                             "read one image per frame; give one strip its own copy of the group (the number next "
                             "to the group's name in its Compositor modifier makes one)")
        if scene.render.use_compositing and scene.compositing_node_group is not None \
                and scene.compositing_node_group.name == group:
            raise ChainError(f"node group {group} is both the scene's compositor and a strip's modifier; give the "
                             "strip its own copy (the number next to the group's name in its Compositor modifier)")
    chains = []
    for strip, modifier in users:
        footage = StripFootage(scene, strip, modifier)
        chains += terminal_chains(modifier.node_group, footage.first_frame, footage)
    return chains


def add_strip_chain(scene, strip) -> tuple[object, dict]:
    """Give `strip` a Compositor modifier with a new node group: Group Input (the strip's image) -> Instance Mask
    -> Instance Tracker -> Neural Style -> MRF Blend -> Group Output. Returns the modifier and the nodes by stage."""
    tree = bpy.data.node_groups.new(f"instyle {strip.name}", "CompositorNodeTree")
    tree.interface.new_socket("Image", in_out="INPUT", socket_type="NodeSocketColor")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    group_in, group_out = tree.nodes.new("NodeGroupInput"), tree.nodes.new("NodeGroupOutput")
    group_in.location, group_out.location = (-300, 0), (1400, 0)
    nodes = graph_setup.add_chain(tree, group_in)
    tree.links.new(nodes["mrf_blend"].outputs["Image"], group_out.inputs[0])
    with bpy.context.temp_override(sequencer_scene=scene):  # without it, modifiers.new crashes headless Blender
        modifier = strip.modifiers.new(name=MODIFIER_NAME, type="COMPOSITOR")
    modifier.node_group = tree
    return modifier, nodes


def strip_graph(scene, movie: str, frames: int) -> dict:
    """Give `scene` a Video Sequencer with `movie` as a strip from frame 1 and the instyle chain as its modifier,
    rendered through the sequencer at the movie's size and frame rate; returns the strip and the nodes by stage."""
    strip = scene.sequence_editor_create().strips.new_movie("footage", movie, channel=1, frame_start=1)
    _, nodes = add_strip_chain(scene, strip)
    scene.render.use_sequencer, scene.render.use_compositing = True, False
    scene.render.fps, scene.render.fps_base = round(strip.fps), round(strip.fps) / strip.fps  # the movie's rate
    graph_setup.exact_output(scene, strip.elements[0].orig_width, strip.elements[0].orig_height,
                             min(frames, strip.frame_final_duration))
    return {"strip": strip, **nodes}


def _editing_scene(context):
    """The scene whose strips the Video Sequencer edits (Blender 5 gives it its own context member)."""
    return getattr(context, "sequencer_scene", None) or context.scene


class INSTYLE_OT_add_strip_chain(bpy.types.Operator):
    """Run Instance Mask, Instance Tracker, Neural Style and MRF Blend on the active movie or image strip: a
    Compositor modifier with a new node group holding the four nodes"""

    bl_idname = "instyle.add_strip_chain"
    bl_label = "Add instyle Chain to Strip"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        scene = _editing_scene(context)
        strip = scene.sequence_editor.active_strip if scene and scene.sequence_editor else None
        if strip is None or strip.type not in FOOTAGE_TYPES:
            cls.poll_message_set("Select a movie or image strip")
            return False
        return True

    def execute(self, context):
        scene = _editing_scene(context)
        strip = scene.sequence_editor.active_strip
        modifier, _ = add_strip_chain(scene, strip)
        self.report({"INFO"}, f"Added modifier {modifier.name} running node group {modifier.node_group.name} "
                              f"to {strip.name}")
        return {"FINISHED"}


def add_menu_entry(self, context):
    self.layout.operator(INSTYLE_OT_add_strip_chain.bl_idname, icon="NODETREE")
