# SPDX-License-Identifier: GPL-3.0-or-later
"""The artist's outlines on the Instance Tracker, from Blender Masks drawn on one frame: people the models miss,
added as instances the engine carries through the shot (the tracker's `added` parameter), and regions cut out
of an id's mask, moved with its box (`cut`). An outline is read from the Mask when it is added, in footage
pixels, so the .blend holds everything a farm node needs."""

from __future__ import annotations

import json

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from .mask_outline import outline
from .track_styles import node_named

FIRST_ID = 1001  # the engine gives added people's ids above 1000 to no one else


class AddedPersonItem(bpy.types.PropertyGroup):
    track_id: IntProperty(name="Track", description="The added person's track id (the value in the Tracks pass)")
    mask: StringProperty(name="Mask", description="The Blender Mask the outline was read from")
    scene_frame: IntProperty(name="Frame", description="The scene frame the outline was drawn on")
    footage_frame: IntProperty(name="Footage Frame", description="The footage frame the outline was drawn on")
    polygons: StringProperty(name="Outline", description="The outlines, JSON [[[x, y], ...], ...] in footage pixels")


def footage_size(source) -> tuple[int, int]:
    """(width, height) of the footage a Movie Clip or Image node shows."""
    from .chain import ChainError  # chains are made of nodes, whose module needs this one

    size = tuple(source.clip.size) if source.bl_idname == "CompositorNodeMovieClip" else tuple(source.image.size)
    if not size[0] or not size[1]:
        raise ChainError(f"{source.name}: the footage's size is unknown (the file could not be read)")
    return size


def mask_polygons(mask, size: tuple[int, int]) -> list:
    """Every closed spline of every visible layer of a Blender Mask, as outlines in pixels of footage `size`."""
    polygons = []
    for layer in mask.layers:
        if layer.hide_render:
            continue
        for spline in layer.splines:
            points = [(tuple(p.co), tuple(p.handle_left), tuple(p.handle_right)) for p in spline.points]
            if len(points) >= 3:
                polygons.append(outline(points, True, size))
    return polygons


def capture(item, tracker, mask, scene) -> None:
    """Read `mask` into `item` as drawn on the scene's current frame over the tracker's footage; ChainError when
    there is no footage or no outline."""
    from .chain import ChainError, chain_to  # chains are made of nodes, whose module needs this one

    chain = chain_to(tracker)
    polygons = mask_polygons(mask, footage_size(chain.source))
    if not polygons:
        raise ChainError(f"Mask '{mask.name}' has no spline of 3 or more points: outline the person with a closed "
                         "spline in the Mask editor")
    item.mask, item.scene_frame = mask.name, scene.frame_current
    item.footage_frame = chain.source_for(scene.frame_current)["frame"]
    item.polygons = json.dumps([[[round(x, 2), round(y, 2)] for x, y in p] for p in polygons])


def outlines_param(items) -> str:
    """The tracker's `added` or `cut` parameter from its collection of outlines (JSON, '' for none)."""
    if not len(items):
        return ""
    return json.dumps([{"id": item.track_id, "frame": item.footage_frame, "polygons": json.loads(item.polygons)}
                       for item in items])


def _add_outline(operator, context, collection: str, track_id: int | None) -> set:
    """Read the operator's Mask into a new item of the tracker's `collection`, with `track_id` (None: the next
    added person's id); reports and cancels on a missing node or Mask, or an unreadable outline."""
    from .chain import ChainError

    tracker = node_named(context, operator.node)
    mask = bpy.data.masks.get(operator.mask)
    if tracker is None or not hasattr(tracker, collection):
        operator.report({"ERROR"}, f"no Instance Tracker node named '{operator.node}'")
        return {"CANCELLED"}
    if mask is None:
        operator.report({"ERROR"}, f"no Mask named '{operator.mask}': draw one in the Mask editor (Movie Clip or "
                        "Image editor, Mask mode) on the current frame, then choose it here")
        return {"CANCELLED"}
    items = getattr(tracker, collection)
    item = items.add()
    try:
        capture(item, tracker, mask, context.scene)
    except ChainError as exc:
        items.remove(len(items) - 1)
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    if track_id is None:
        track_id = max(tracker.next_added_id, FIRST_ID)
        tracker.next_added_id = track_id + 1
    item.track_id = track_id
    verb = "Added person" if collection == "added_people" else "Cut a region from"
    tracker.status = f"{verb} {track_id} with Mask '{mask.name}' on frame {item.scene_frame}"
    return {"FINISHED"}


class INSTYLE_OT_add_person(bpy.types.Operator):
    """Add a person the models missed: the Mask's outline on the current frame becomes an instance with an id of
    its own, carried through the shot"""

    bl_idname = "instyle.add_person"
    bl_label = "Add Person from Mask"
    bl_options = {"REGISTER", "UNDO"}

    node: StringProperty(name="Node", description="The Instance Tracker node")
    mask: StringProperty(name="Mask", description="The Blender Mask outlining the person on the current frame")

    def execute(self, context):
        return _add_outline(self, context, "added_people", None)


class INSTYLE_OT_cut_region(bpy.types.Operator):
    """Cut the Mask's outline on the current frame out of a track id's mask: the region moves with that id's box
    through the shot"""

    bl_idname = "instyle.cut_region"
    bl_label = "Cut Region from Mask"
    bl_options = {"REGISTER", "UNDO"}

    node: StringProperty(name="Node", description="The Instance Tracker node")
    mask: StringProperty(name="Mask", description="The Blender Mask outlining the region on the current frame")
    track_id: IntProperty(name="Track", min=1, description="The id whose mask loses the region")

    def execute(self, context):
        return _add_outline(self, context, "cut_regions", self.track_id)


class INSTYLE_OT_remove_outline(bpy.types.Operator):
    """Remove an added person or a cut region"""

    bl_idname = "instyle.remove_outline"
    bl_label = "Remove Outline"
    bl_options = {"REGISTER", "UNDO"}

    node: StringProperty(name="Node")
    collection: EnumProperty(name="Kind", items=[("added_people", "Added person", ""),
                                                 ("cut_regions", "Cut region", "")])
    index: IntProperty(name="Row", min=0)

    def execute(self, context):
        tracker = node_named(context, self.node)
        items = getattr(tracker, self.collection, None)
        if items is None or self.index >= len(items):
            self.report({"ERROR"}, f"{self.node} has no row {self.index} of {self.collection}")
            return {"CANCELLED"}
        items.remove(self.index)
        return {"FINISHED"}


def draw(tracker, layout) -> None:
    """The added people and cut regions, each with its remove button; Add and Cut for the chosen Mask."""
    box = layout.box()
    box.label(text="Outlines from Masks")
    for collection, title in (("added_people", "added"), ("cut_regions", "cut from")):
        for k, item in enumerate(getattr(tracker, collection)):
            row = box.row(align=True)
            row.label(text=f"{title} {item.track_id}: '{item.mask}', frame {item.scene_frame}")
            op = row.operator("instyle.remove_outline", text="", icon="X")
            op.node, op.collection, op.index = tracker.name, collection, k
    row = box.row(align=True)
    row.prop_search(tracker, "mask_to_add", bpy.data, "masks", text="")
    op = row.operator("instyle.add_person", text="Add", icon="ADD")
    op.node, op.mask = tracker.name, tracker.mask_to_add
    row = box.row(align=True)
    row.prop(tracker, "cut_id")
    op = row.operator("instyle.cut_region", text="Cut", icon="REMOVE")
    op.node, op.mask, op.track_id = tracker.name, tracker.mask_to_add, tracker.cut_id


CLASSES = (AddedPersonItem, INSTYLE_OT_add_person, INSTYLE_OT_cut_region, INSTYLE_OT_remove_outline)
