# SPDX-License-Identifier: GPL-3.0-or-later
"""People the artist adds on the Instance Tracker where the models miss them: a Blender Mask drawn around the
person on one frame becomes an instance that the engine carries through the shot (the tracker's `added`
parameter). The outline is taken from the Mask when the person is added, in footage pixels, so the .blend holds
everything a farm node needs; Update re-reads it after the Mask was edited."""

from __future__ import annotations

import json

import bpy
from bpy.props import IntProperty, StringProperty

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


def added_param(tracker) -> str:
    """The tracker's `added` parameter: its added people as the engine takes them (JSON, '' for none)."""
    if not len(tracker.added_people):
        return ""
    return json.dumps([{"id": item.track_id, "frame": item.footage_frame, "polygons": json.loads(item.polygons)}
                       for item in tracker.added_people])


class INSTYLE_OT_add_person(bpy.types.Operator):
    """Add a person the models missed: the Mask's outline on the current frame becomes an instance with an id of
    its own, carried through the shot"""

    bl_idname = "instyle.add_person"
    bl_label = "Add Person from Mask"
    bl_options = {"REGISTER", "UNDO"}

    node: StringProperty(name="Node", description="The Instance Tracker node")
    mask: StringProperty(name="Mask", description="The Blender Mask outlining the person on the current frame")

    def execute(self, context):
        tracker = node_named(context, self.node)
        mask = bpy.data.masks.get(self.mask)
        if tracker is None or not hasattr(tracker, "added_people"):
            self.report({"ERROR"}, f"no Instance Tracker node named '{self.node}'")
            return {"CANCELLED"}
        if mask is None:
            self.report({"ERROR"}, f"no Mask named '{self.mask}': draw one in the Mask editor (Movie Clip or Image "
                        "editor, Mask mode) around the person, then choose it here")
            return {"CANCELLED"}
        from .chain import ChainError

        item = tracker.added_people.add()
        try:
            capture(item, tracker, mask, context.scene)
        except ChainError as exc:
            tracker.added_people.remove(len(tracker.added_people) - 1)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        item.track_id = max(tracker.next_added_id, FIRST_ID)
        tracker.next_added_id = item.track_id + 1
        tracker.status = f"Added person {item.track_id} from Mask '{mask.name}' on frame {item.scene_frame}"
        return {"FINISHED"}


class INSTYLE_OT_remove_added_person(bpy.types.Operator):
    """Remove an added person"""

    bl_idname = "instyle.remove_added_person"
    bl_label = "Remove Added Person"
    bl_options = {"REGISTER", "UNDO"}

    node: StringProperty(name="Node")
    track_id: IntProperty(name="Track")

    def execute(self, context):
        tracker = node_named(context, self.node)
        rows = [k for k, item in enumerate(getattr(tracker, "added_people", ())) if item.track_id == self.track_id]
        if not rows:
            self.report({"ERROR"}, f"{self.node} has no added person {self.track_id}")
            return {"CANCELLED"}
        tracker.added_people.remove(rows[0])
        return {"FINISHED"}


def draw(tracker, layout) -> None:
    """The added people, each with its remove button, and the Add button for the chosen Mask."""
    box = layout.box()
    box.label(text="Added people")
    for item in tracker.added_people:
        row = box.row(align=True)
        row.label(text=f"{item.track_id}: '{item.mask}', frame {item.scene_frame}")
        op = row.operator("instyle.remove_added_person", text="", icon="X")
        op.node, op.track_id = tracker.name, item.track_id
    row = box.row(align=True)
    row.prop_search(tracker, "mask_to_add", bpy.data, "masks", text="")
    op = row.operator("instyle.add_person", text="Add", icon="ADD")
    op.node, op.mask = tracker.name, tracker.mask_to_add


CLASSES = (AddedPersonItem, INSTYLE_OT_add_person, INSTYLE_OT_remove_added_person)
