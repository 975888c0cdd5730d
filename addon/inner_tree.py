"""The node tree inside each instyle node: its sockets, pass-throughs and the cached EXR sequences it reads."""

from __future__ import annotations

from dataclasses import dataclass

import bpy

MAX_DURATION = 1048574
COLOUR_OUTPUTS = ("image", "stylized_for_mix")
INPUT_DOC = ("The footage, from a Movie Clip or Image node or from the Image output of the instyle node before "
             "this one; instyle reads the footage file itself")
PASS_DOC = "The footage, unchanged: link it into the next instyle node's Image input"


@dataclass(frozen=True)
class Socket:
    """An output socket: `source` is "pass" (the Image input), "mix" (the Image input mixed with the cached
    stylized layer by the cached alpha, so pixels with alpha 0 stay the input's own) or the name of a cached
    engine output."""

    name: str
    kind: str
    source: str
    doc: str = ""


def _by_id(sockets, identifier):
    return next(s for s in sockets if s.identifier == identifier)


def build(label: str, inputs: tuple[str, ...], outputs: tuple[Socket, ...], cache_files: dict[str, str]):
    """A new inner tree; `cache_files` maps each cached output to the path of its frame-1 file."""
    tree = bpy.data.node_groups.new(f".instyle {label}", "CompositorNodeTree")
    for name in inputs:
        tree.interface.new_socket(name, in_out="INPUT", socket_type="NodeSocketColor", description=INPUT_DOC)
    for s in outputs:
        tree.interface.new_socket(s.name, in_out="OUTPUT", description=s.doc,
                                  socket_type="NodeSocketFloat" if s.kind == "float" else "NodeSocketColor")
    group_in = tree.nodes.new("NodeGroupInput")
    group_out = tree.nodes.new("NodeGroupOutput")
    group_in.location, group_out.location = (-500, 0), (400, 0)
    readers = {}
    for k, (output, path) in enumerate(cache_files.items()):
        node = tree.nodes.new("CompositorNodeImage")
        node.name = node.label = f"cache:{output}"
        node.location = (-300, -200 - 250 * k)
        node.image = _sequence_image(f".instyle {label} {output}", path, data=output not in COLOUR_OUTPUTS)
        node.frame_start, node.frame_duration, node.frame_offset, node.use_cyclic = 1, MAX_DURATION, 0, False
        readers[output] = node
    for s in outputs:
        target = group_out.inputs[s.name]
        if s.source == "pass":
            tree.links.new(group_in.outputs["Image"], target)
        elif s.source == "mix":
            mix = tree.nodes.new("ShaderNodeMix")
            mix.data_type, mix.blend_type, mix.clamp_factor = "RGBA", "MIX", True
            tree.links.new(_red(tree, readers["alpha"]), _by_id(mix.inputs, "Factor_Float"))
            tree.links.new(group_in.outputs["Image"], _by_id(mix.inputs, "A_Color"))
            tree.links.new(readers["stylized_for_mix"].outputs["Image"], _by_id(mix.inputs, "B_Color"))
            tree.links.new(_by_id(mix.outputs, "Result_Color"), target)
        elif s.kind == "float":
            tree.links.new(_red(tree, readers[s.source]), target)
        else:
            tree.links.new(readers[s.source].outputs["Image"], target)
    return tree


def _red(tree, reader):
    """The exact red channel of an image node's output (a colour-to-float link would weight channels)."""
    sep = tree.nodes.new("CompositorNodeSeparateColor")
    sep.mode = "RGB"
    sep.location = (reader.location.x + 250, reader.location.y)
    tree.links.new(reader.outputs["Image"], sep.inputs[0])
    return sep.outputs[0]


def _sequence_image(name: str, path: str, data: bool):
    image = bpy.data.images.new(name, 1, 1, alpha=True, float_buffer=True)
    image.source = "SEQUENCE"
    image.filepath = path
    if data:
        image.colorspace_settings.name = "Non-Color"
    return image


def cache_readers(tree):
    """Output name -> Image node for each cached sequence in an inner tree."""
    return {n.name.split(":", 1)[1]: n for n in tree.nodes if n.name.startswith("cache:")}


def point_at(tree, cache_files: dict[str, str]) -> None:
    """Make the inner tree read the given frame-1 files (after a copy, or when the cache folder moves)."""
    for output, node in cache_readers(tree).items():
        if node.image and node.image.filepath != cache_files[output]:
            node.image.filepath = cache_files[output]


def duplicate_images(tree, label: str) -> None:
    """Give a copied inner tree its own image datablocks (a tree copy shares them)."""
    for output, node in cache_readers(tree).items():
        if node.image:
            node.image = _sequence_image(f".instyle {label} {output}", node.image.filepath,
                                         data=output not in COLOUR_OUTPUTS)


def remove(tree) -> None:
    """Delete an inner tree and the images only it uses."""
    images = [n.image for n in cache_readers(tree).values() if n.image]
    bpy.data.node_groups.remove(tree)
    for image in images:
        if image.users == 0:
            bpy.data.images.remove(image)
