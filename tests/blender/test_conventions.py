"""Blender's conventions for nodes: the first output is the result, and every socket has a tooltip."""

from __future__ import annotations

import bpy


def test_every_socket_has_a_tooltip_and_the_first_output_is_the_result(fresh):
    tree = bpy.data.node_groups.new("t", "CompositorNodeTree")
    first = {}
    for cls in fresh.nodes.NODE_CLASSES:
        node = tree.nodes.new(cls.bl_idname)
        for item in node.node_tree.interface.items_tree:
            assert item.item_type == "SOCKET" and len(item.description) > 20, (cls.bl_label, item.name)
        first[cls.bl_label] = node.outputs[0].name
    assert first["Neural Style"] == "Stylized" and first["MRF Blend"] == "Image"
    mrf = fresh.nodes.MRFBlendNode
    assert mrf.OUTPUTS[0].source == "mix"  # MRF Blend's first output is the blended frame, not a pass-through
