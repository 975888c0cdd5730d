"""Building the standard graph: footage -> Instance Mask -> Instance Tracker -> Neural Style -> MRF Blend."""

from __future__ import annotations

from pathlib import Path

import bpy

from .frame_map import file_number, sequence_file
from .nodes import InstanceMaskNode, InstanceTrackerNode, MRFBlendNode, NeuralStyleNode

VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".ogv"}


def add_chain(tree, source, x: float = 0.0, y: float = 0.0) -> dict:
    """Add the four nodes fed by `source` (a Movie Clip or Image node); returns them by stage name."""
    mask = tree.nodes.new(InstanceMaskNode.bl_idname)
    track = tree.nodes.new(InstanceTrackerNode.bl_idname)
    style = tree.nodes.new(NeuralStyleNode.bl_idname)
    blend = tree.nodes.new(MRFBlendNode.bl_idname)
    for k, node in enumerate((mask, track, style, blend)):
        node.location = (x + 260 * (k + 1), y)
    tree.links.new(source.outputs["Image"], mask.inputs["Image"])
    tree.links.new(mask.outputs["Image"], track.inputs["Image"])
    tree.links.new(track.outputs["Image"], style.inputs["Image"])
    tree.links.new(style.outputs["Image"], blend.inputs["Image"])
    return {"instance_mask": mask, "instance_tracker": track, "neural_style": style, "mrf_blend": blend}


def footage_graph(scene, footage: str, frames: int | None = None, chain: bool = True) -> dict:
    """Give `scene` a compositor that runs `footage` (a video, or the first file of an image sequence)
    through the instyle chain to the output, at the footage's size and with exact colour settings; with
    `chain` False, straight to the output (Blender alone: the floor the benchmarks compare instyle with)."""
    path = Path(footage).resolve()
    tree = bpy.data.node_groups.new("instyle", "CompositorNodeTree")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    scene.compositing_node_group = tree
    if path.suffix.lower() in VIDEO_SUFFIXES:
        clip = bpy.data.movieclips.load(str(path))
        source = tree.nodes.new("CompositorNodeMovieClip")
        source.clip = clip
        width, height, length = clip.size[0], clip.size[1], clip.frame_duration
    else:
        image = bpy.data.images.load(str(path))
        length = _sequence_length(path)
        image.source = "SEQUENCE" if length > 1 else "FILE"
        source = tree.nodes.new("CompositorNodeImage")
        source.image = image
        source.frame_start, source.frame_duration = 1, length
        source.frame_offset = file_number(str(path)) - 1 if length > 1 else 0  # scene frame 1 shows the first file
        width, height = image.size
    source.location = (-300, 0)
    nodes = add_chain(tree, source) if chain else {}
    out = link_to_output(tree, nodes["mrf_blend"] if chain else source)
    exact_output(scene, width, height, min(length, frames) if frames else length)
    return {"source": source, "output": out, **nodes}


def exact_output(scene, width: int, height: int, frames: int) -> None:
    """Render frames 1..`frames` at `width` x `height` into 8-bit PNGs with no view transform or dither, so the
    footage's pixels come out unchanged where instyle leaves them."""
    render = scene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
    render.dither_intensity = 0.0
    render.image_settings.file_format = "PNG"
    render.image_settings.color_mode = "RGB"
    render.image_settings.color_depth = "8"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.frame_start, scene.frame_end = 1, frames


def _sequence_length(first: Path) -> int:
    n = 0
    try:
        while Path(sequence_file(str(first), file_number(str(first)) + n)).is_file():
            n += 1
    except ValueError:
        return 1
    return max(n, 1)


def link_to_output(tree, node):
    """Link `node`'s first output (its result) to the tree's Group Output, made (with an Image socket) if missing;
    returns the Group Output node."""
    out = next((n for n in tree.nodes if n.bl_idname == "NodeGroupOutput" and n.is_active_output), None)
    if out is None:
        out = tree.nodes.new("NodeGroupOutput")
        out.location = (node.location.x + 300, node.location.y)
    if not any(item.item_type == "SOCKET" and item.in_out == "OUTPUT" for item in tree.interface.items_tree):
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    tree.links.new(node.outputs[0], out.inputs[0])
    return out


def footage_size(source) -> tuple[int, int]:
    """(width, height) of the footage a Movie Clip or Image node shows; (0, 0) when unknown."""
    data = source.clip if source.bl_idname == "CompositorNodeMovieClip" else source.image
    return (int(data.size[0]), int(data.size[1])) if data is not None else (0, 0)


class INSTYLE_OT_add_chain(bpy.types.Operator):
    """Add Instance Mask, Instance Tracker, Neural Style and MRF Blend after the active footage node, link the
    result to the output and set the render size to the footage's"""

    bl_idname = "instyle.add_chain"
    bl_label = "Add instyle Chain"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        node = getattr(context, "active_node", None)
        if node is None or node.bl_idname not in ("CompositorNodeMovieClip", "CompositorNodeImage"):
            cls.poll_message_set("Select the Movie Clip or Image node with the footage first")
            return False
        return True

    def execute(self, context):
        source = context.active_node
        nodes = add_chain(source.id_data, source, source.location.x, source.location.y)
        link_to_output(source.id_data, nodes["mrf_blend"])
        width, height = footage_size(source)
        if width and height:
            render = context.scene.render
            render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
            self.report({"INFO"}, f"Render size set to the footage's, {width} x {height}")
        return {"FINISHED"}
