"""Blender's conventions for nodes: the first output is the result, and every socket and property has a tooltip."""

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


def test_every_property_of_the_nodes_and_their_table_rows_has_a_tooltip(fresh):
    rows = (fresh.track_styles.TrackStyleItem, fresh.track_styles.TrackSeenItem, fresh.added_people.AddedPersonItem)
    for cls in (*fresh.nodes.NODE_CLASSES, *rows):
        # the add-on's own properties (reading bpy.types.CompositorNodeCustomGroup.bl_rna to leave out the inherited
        # ones would stop its subclasses from registering again in Blender 5.0.1)
        own = [cls.bl_rna.properties.get(name) for c in cls.__mro__ for name in c.__dict__.get("__annotations__", {})]
        own = [prop for prop in own if prop is not None]
        assert len(own) >= 3, cls
        for prop in own:
            assert len(prop.description) > 10, (cls.__name__, prop.identifier, prop.description)
