"""Blender's conventions for nodes: the first output is the result, and every socket and property has a tooltip."""

from __future__ import annotations

import bpy

from ..conftest import VTEST


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


def test_add_chain_links_the_result_to_the_output_and_sets_the_render_size_to_the_footages(fresh):
    scene = bpy.context.scene
    tree = scene.compositing_node_group = bpy.data.node_groups.new("comp", "CompositorNodeTree")
    source = tree.nodes.new("CompositorNodeMovieClip")
    source.clip = bpy.data.movieclips.load(str(VTEST))
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 1920, 1080, 50
    assert not bpy.ops.instyle.add_chain.poll()  # no footage node is active
    with bpy.context.temp_override(active_node=source):
        assert bpy.ops.instyle.add_chain() == {"FINISHED"}
    out = next(n for n in tree.nodes if n.bl_idname == "NodeGroupOutput")
    assert out.inputs[0].links[0].from_node.bl_idname == "InstyleMRFBlendNode"
    (chain,) = fresh.compute.chains_of(scene)
    assert [n.bl_label for n in chain.nodes] == ["Instance Mask", "Instance Tracker", "Neural Style", "MRF Blend"]
    assert (scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage) == (768, 576, 100)


def test_bake_on_a_node_bakes_its_own_chain_only(fresh):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    tree = scene.compositing_node_group
    other = fresh.graph_setup.add_chain(tree, graph["source"], 0, -600)
    viewer = tree.nodes.new("CompositorNodeViewer")
    tree.links.new(other["mrf_blend"].outputs[0], viewer.inputs[0])
    assert len(fresh.compute.chains_of(scene)) == 2
    assert bpy.ops.instyle.bake(node=other["neural_style"].name, tree=tree.name) == {"FINISHED"}
    assert all(fresh.paths.node_dir(n.cache_id).is_dir() for n in other.values())
    assert not any(fresh.paths.node_dir(graph[k].cache_id).exists() for k in other)


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
