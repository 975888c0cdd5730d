"""The Neural Style node's track id -> style table and the Instance Tracker's list of analysed ids: their rows,
how they are drawn, and the operators that add and remove table rows. A row's style is a fixed style (or a mix)
written as text, or a painting: an Image datablock, picked or opened in the row."""

from __future__ import annotations

from collections import Counter

import bpy
from bpy.props import IntProperty, PointerProperty, StringProperty

from .style_images import is_painting
from .style_table import palette_style


class TrackStyleItem(bpy.types.PropertyGroup):
    track_id: IntProperty(name="Track", default=1, min=1, description="Track id (the value in the Tracks pass)")
    style: StringProperty(name="Style", description="A fixed style (style05) or a mix (style03+style07, "
                                                    "style03*0.3+style07*0.7); empty: the palette's style")
    image: PointerProperty(type=bpy.types.Image, name="Painting", poll=lambda row, image: is_painting(image),
                           description="A style image for this track, in place of the style text: rendered with "
                                       "the node's method (Arbitrary under Fast)")


class TrackSeenItem(bpy.types.PropertyGroup):
    track_id: IntProperty(name="Track", description="A track id the analysis found (the value in the Tracks pass)")
    frames: IntProperty(name="Frames", description="Frames of the analysed range the id is seen in")
    first: IntProperty(name="First", description="First frame the id is seen in")
    last: IntProperty(name="Last", description="Last frame the id is seen in")


class INSTYLE_UL_track_styles(bpy.types.UIList):
    """Track id, style text and painting per row (the text greyed out while a painting takes its place); an id
    listed twice is marked (its last row wins)."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        counts = Counter(row.track_id for row in data.track_styles)
        row = layout.row(align=True)
        row.alert = counts[item.track_id] > 1
        split = row.split(factor=0.2, align=True)
        split.prop(item, "track_id", text="", emboss=False)
        styles = split.split(factor=0.4, align=True)
        text = styles.row(align=True)
        text.active = item.image is None
        text.prop(item, "style", text="")
        styles.template_ID(item, "image", open="image.open")


class INSTYLE_UL_tracks_seen(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        split = layout.split(factor=0.25)
        split.label(text=str(item.track_id))
        split.label(text=f"{item.frames} frame(s), {item.first}-{item.last}")


def node_named(context, name: str):
    """The node `name` of the node editor's tree, or else of the scene's compositor; None if neither has it."""
    trees = (getattr(context.space_data, "edit_tree", None), context.scene.compositing_node_group)
    return next((t.nodes[name] for t in trees if t is not None and name in t.nodes), None)


def add_rows(node, track_ids) -> list[int]:
    """Give `node` a table row for each id it has none for, with the style the default rule gives it (the
    palette's); returns the ids added."""
    present = {row.track_id for row in node.track_styles}
    added = [t for t in track_ids if t not in present]
    for track_id in added:
        row = node.track_styles.add()
        row.track_id, row.style = track_id, palette_style(track_id, node.palette_names())
    return added


class INSTYLE_OT_track_style_add(bpy.types.Operator):
    """Add a row to the Neural Style node's track style table (the next id, with the palette's style)"""

    bl_idname = "instyle.track_style_add"
    bl_label = "Add Track Style"
    bl_options = {"REGISTER", "UNDO"}

    node: StringProperty(name="Node")

    def execute(self, context):
        node = node_named(context, self.node)
        if node is None:
            self.report({"ERROR"}, f"No node named {self.node!r} in the compositor")
            return {"CANCELLED"}
        add_rows(node, [max((row.track_id for row in node.track_styles), default=0) + 1])
        node.track_styles_index = len(node.track_styles) - 1
        return {"FINISHED"}


class INSTYLE_OT_track_style_remove(bpy.types.Operator):
    """Remove the selected row of the Neural Style node's track style table (that id gets the palette's style)"""

    bl_idname = "instyle.track_style_remove"
    bl_label = "Remove Track Style"
    bl_options = {"REGISTER", "UNDO"}

    node: StringProperty(name="Node")

    def execute(self, context):
        node = node_named(context, self.node)
        if node is None or not 0 <= node.track_styles_index < len(node.track_styles):
            return {"CANCELLED"}
        node.track_styles.remove(node.track_styles_index)
        node.track_styles_index = min(node.track_styles_index, len(node.track_styles) - 1)
        return {"FINISHED"}


CLASSES = (TrackStyleItem, TrackSeenItem, INSTYLE_UL_track_styles, INSTYLE_UL_tracks_seen,
           INSTYLE_OT_track_style_add, INSTYLE_OT_track_style_remove)
