"""The four compositor nodes. Each turns its properties into one stage of an engine pipeline and shows the
engine's cached results through its inner tree."""

from __future__ import annotations

import uuid

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import inner_tree, paths
from .inner_tree import Socket

STYLE_ITEMS = [(f"style{i:02d}", f"Style {i:02d}", f"Fixed style {i} of the 26-style network") for i in range(26)]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class InstyleNode:
    """Shared behaviour; subclasses set STAGE, INPUTS, OUTPUTS and `stage_params`."""

    STAGE = ""
    INPUTS: tuple[str, ...] = ("Image",)
    OUTPUTS: tuple[Socket, ...] = ()

    cache_id: StringProperty(name="Cache ID", description="Folder of this node's cached frames", default="")
    status: StringProperty(name="Status", default="")

    @classmethod
    def poll(cls, tree):
        return tree.bl_idname == "CompositorNodeTree"

    @classmethod
    def cached_outputs(cls) -> tuple[str, ...]:
        names = [s.source for s in cls.OUTPUTS if s.source not in ("pass", "mix")]
        if any(s.source == "mix" for s in cls.OUTPUTS):
            names += ["alpha", "stylized_for_mix"]
        return tuple(dict.fromkeys(names))

    def init(self, context):
        self.cache_id = uuid.uuid4().hex[:12]
        self.node_tree = inner_tree.build(self.bl_label, self.INPUTS, self.OUTPUTS, self.cache_files())

    def copy(self, node):
        self.cache_id = uuid.uuid4().hex[:12]
        self.node_tree = node.node_tree.copy()
        inner_tree.duplicate_images(self.node_tree, self.bl_label)
        inner_tree.point_at(self.node_tree, self.cache_files())
        self.status = ""

    def free(self):
        if self.node_tree and self.node_tree.users <= 1:
            inner_tree.remove(self.node_tree)

    def cache_files(self) -> dict[str, str]:
        return {o: paths.frame_one(self.cache_id, o) for o in self.cached_outputs()}

    def stage_params(self) -> dict:
        raise NotImplementedError

    def draw_buttons(self, context, layout):
        for name in self.PROPS:
            layout.prop(self, name)
        if self.status:
            layout.label(text=self.status, icon="ERROR" if self.status.startswith("Error") else "INFO")
        layout.operator("instyle.bake", icon="RENDER_ANIMATION")


class InstanceMaskNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Find people or chosen objects in the footage: one soft mask per instance"""

    bl_idname = "InstyleInstanceMaskNode"
    bl_label = "Instance Mask"
    STAGE = "instance_mask"
    OUTPUTS = (Socket("Image", "color", "pass"), Socket("Mask", "float", "mask"), Socket("Index", "float", "index"))
    PROPS = ("model", "quality", "classes", "score_threshold", "max_instances", "grow", "feather", "smoothing")

    MODEL_ITEMS = [
        ("centernet+rvm", "CenterNet + RVM", "Offline models: object boxes, person mattes, GrabCut for other classes"),
        ("maskrcnn", "Mask R-CNN", "torchvision Mask R-CNN v2; its weights are a separate download "
         "(instyle-engine weights fetch maskrcnn_v2)"),
    ]
    QUALITY_ITEMS = [
        ("faster", "Faster", "Detection on every second frame, mattes on person crops"),
        ("better", "Better", "Also tiled detection (finds more small people) and a whole-frame video matte"),
    ]

    model: EnumProperty(name="Model", default="centernet+rvm", items=MODEL_ITEMS)
    quality: EnumProperty(name="Quality", default="better", items=QUALITY_ITEMS)
    classes: StringProperty(name="Classes", default="person",
                            description="COCO classes to mask, separated by commas (person, car, dog, ...)")
    score_threshold: FloatProperty(name="Score Threshold", default=0.35, min=0.0, max=1.0)
    max_instances: IntProperty(name="Max Instances", default=16, min=1, max=64)
    grow: IntProperty(name="Grow", default=0, min=-32, max=32, description="Grow (>0) or shrink (<0) masks, pixels")
    feather: FloatProperty(name="Feather", default=0.0, min=0.0, max=32.0, description="Soften mask edges, pixels")
    smoothing: FloatProperty(name="Temporal Smoothing", default=0.0, min=0.0, max=0.9,
                             description="Weight of each instance's mask from the previous frame of the shot")

    def stage_params(self) -> dict:
        return {"model": self.model, "quality": self.quality, "classes": _split(self.classes) or ["person"],
                "score_threshold": self.score_threshold, "max_instances": self.max_instances, "grow": self.grow,
                "feather": self.feather, "smoothing": self.smoothing}


class InstanceTrackerNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Keep each instance's identity, and so its style, across the frames of the shot"""

    bl_idname = "InstyleInstanceTrackerNode"
    bl_label = "Instance Tracker"
    STAGE = "instance_tracker"
    OUTPUTS = (Socket("Image", "color", "pass"), Socket("Mask", "float", "mask"), Socket("Tracks", "float", "tracks"),
               Socket("Selection", "float", "selection"))
    PROPS = ("method", "max_distance", "confirm_frames", "max_lost", "shot_start", "merge", "exclude", "selection")

    method: EnumProperty(name="Method", default="kalman", items=[
        ("kalman", "Kalman", "Optimal assignment on box overlap, predicted motion and colour; people hidden for a "
         "while get their identity back"),
        ("centre", "Nearest Centre", "Each box takes the id of the nearest box centre in the previous frame (IST)")])
    max_distance: FloatProperty(name="Max Distance", default=0.1, min=0.0, max=1.0,
                                description="Nearest Centre: largest move between frames, as a fraction of the "
                                            "frame diagonal")
    confirm_frames: IntProperty(name="Confirm Frames", default=2, min=1, max=30,
                                description="Kalman: frames in a row a newcomer is seen before getting an id (and a "
                                            "style)")
    max_lost: IntProperty(name="Keep Lost", default=30, min=0, max=10000,
                          description="Kalman: frames a person who is out of sight keeps their id for their return")
    shot_start: IntProperty(name="Shot Start", default=-2, min=-2, max=9999999,
                            description="Footage frame (from 0) the shot begins at: identities are worked out in "
                                        "order from there, so frames rendered in any order or on any machine get the "
                                        "same ids (-2: the footage frame at the scene's start; -1: in the order "
                                        "frames are rendered)")
    merge: StringProperty(name="Merge", default="",
                          description="Track ids that are one person, as OLD=NEW pairs: 3=1, 7=2")
    exclude: StringProperty(name="Exclude", default="", description="Track ids to leave unstyled: 5, 9")
    selection: StringProperty(name="Selection", default="",
                              description="Track ids whose masks make the Selection output: 1, 4")

    def stage_params(self) -> dict:
        return {name: getattr(self, name) for name in self.PROPS}


class NeuralStyleNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Stylize each tracked instance in its own style (or the whole frame without a mask upstream)"""

    bl_idname = "InstyleNeuralStyleNode"
    bl_label = "Neural Style"
    STAGE = "neural_style"
    OUTPUTS = (Socket("Image", "color", "pass"), Socket("Stylized", "color", "image"),
               Socket("Mask", "float", "mask"))
    PROPS = ("style", "per_track", "palette", "strength", "resolution")

    style: EnumProperty(name="Style", items=STYLE_ITEMS, default="style03")
    per_track: BoolProperty(name="Style per Track", default=True,
                            description="Give each track the next style of the palette")
    palette: StringProperty(name="Palette", default="style03, style13, style19, style24",
                            description="Styles cycled through by track id, separated by commas")
    strength: FloatProperty(name="Strength", default=1.0, min=0.0, max=1.0)
    resolution: IntProperty(name="Resolution", default=0, min=0, max=8192,
                            description="Longest side the network runs at (0: the footage's own)")

    def stage_params(self) -> dict:
        return {"style": self.style, "per_track": self.per_track, "palette": _split(self.palette) or [self.style],
                "strength": self.strength, "resolution": self.resolution}


class MRFBlendNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Blend the stylized image into the untouched footage along the mask edges"""

    bl_idname = "InstyleMRFBlendNode"
    bl_label = "MRF Blend"
    STAGE = "mrf_blend"
    INPUTS = ("Image",)
    OUTPUTS = (Socket("Image", "color", "mix"), Socket("Alpha", "float", "alpha"))
    PROPS = ("mode", "band", "unary")
    MODE_ITEMS = (
        ("mrf", "MRF", "Labels from a Markov random field: the seam goes where stylized and original agree"),
        ("feather", "Feather", "A linear ramp across the band"),
        ("naive", "Naive Paste", "A hard cut at the mask edge, no band"),
        ("poisson", "Poisson", "Gradient-domain blending inside the band"),
    )

    mode: EnumProperty(name="Mode", items=MODE_ITEMS, default="mrf", description="How the band is blended")
    band: FloatProperty(name="Band", default=6.0, min=0.0, max=256.0,
                        description="Width in pixels of the blend band centred on the mask edge")
    unary: FloatProperty(name="Unary", default=1.0, min=0.0, max=100.0,
                         description="MRF: how firmly band pixels keep the side of the edge they lie on, against "
                                     "the cost of the contrast the blend creates")

    def stage_params(self) -> dict:
        return {"mode": self.mode, "band": self.band, "unary": self.unary}


NODE_CLASSES = (InstanceMaskNode, InstanceTrackerNode, NeuralStyleNode, MRFBlendNode)


def is_instyle(node) -> bool:
    return isinstance(node, InstyleNode)


def menu_draw(self, context):
    layout = self.layout
    for cls in NODE_CLASSES:
        op = layout.operator("node.add_node", text=cls.bl_label)
        op.type = cls.bl_idname
        op.use_transform = True


class NODE_MT_instyle(bpy.types.Menu):
    bl_idname = "NODE_MT_instyle"
    bl_label = "instyle"

    @classmethod
    def poll(cls, context):
        return context.space_data.tree_type == "CompositorNodeTree"

    draw = menu_draw


def add_menu_entry(self, context):
    if context.space_data.tree_type == "CompositorNodeTree":
        self.layout.menu(NODE_MT_instyle.bl_idname)
