"""The four compositor nodes. Each turns its properties into one stage of an engine pipeline and shows the
engine's cached results through its inner tree."""

from __future__ import annotations

import uuid
from typing import Callable

import bpy
from bpy.props import CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import inner_tree, paths, style_previews, style_table
from .inner_tree import PASS_DOC, Socket
from .style_table import STYLE_NAMES
from .added_people import AddedPersonItem, outlines_param
from .track_styles import TrackSeenItem, TrackStyleItem


def _no_icon(name: str) -> int:
    return 0


def _style_items(icon_of: Callable[[str], int], first: tuple[tuple, ...] = ()) -> list[tuple]:
    """Enum items: `first`, then the fixed styles with the icons `icon_of(name)` (0: none); numbered by position,
    so that saved files read the same with or without icons."""
    styles = [(name, f"Style {name[5:]}", f"Fixed style {int(name[5:])} of the 26-style network", icon_of(name))
              for name in STYLE_NAMES]
    return [(*item, number) for number, item in enumerate([*first, *styles])]


def _style_enum(icon_of: Callable[[str], int] = _no_icon):
    return EnumProperty(name="Style", items=_style_items(icon_of), default="style03",
                        description="the fixed style used where no other applies")


def _mix_style_enum(icon_of: Callable[[str], int] = _no_icon):
    return EnumProperty(name="Mix Style", items=_style_items(icon_of, (("none", "None", "No second style", "X"),)),
                        default="none", description="a second fixed style mixed into `style`")


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
        self.draw_props(layout)
        if self.status:
            layout.label(text=self.status, icon="ERROR" if self.status.startswith("Error") else "INFO")
        bake = layout.operator("instyle.bake", icon="RENDER_ANIMATION")
        bake.node, bake.tree = self.name, self.id_data.name

    def draw_props(self, layout):
        for name in self.PROPS:
            layout.prop(self, name)


class InstanceMaskNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Find people or chosen objects in the footage: one soft mask per instance"""

    bl_idname = "InstyleInstanceMaskNode"
    bl_label = "Instance Mask"
    STAGE = "instance_mask"
    OUTPUTS = (Socket("Image", "color", "pass", PASS_DOC),
               Socket("Mask", "float", "mask", "All instances' masks together, 0 to 1"),
               Socket("Index", "float", "index", "Each pixel's instance number (1, 2, ...; 0 for none)"))
    PROPS = ("model", "quality", "classes", "score_threshold", "weak_threshold", "max_instances", "grow", "feather",
             "smoothing")

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
    quality: EnumProperty(name="Quality", default="faster", items=QUALITY_ITEMS)
    classes: StringProperty(name="Classes", default="person",
                            description="COCO classes to mask, separated by commas (person, car, dog, ...)")
    score_threshold: FloatProperty(name="Score Threshold", default=0.35, min=0.0, max=1.0,
                                   description="Detections scoring at least this start and continue people")
    weak_threshold: FloatProperty(name="Weak Threshold", default=0.1, min=0.0, max=1.0,
                                  description="Detections scoring from this up to the score threshold only continue "
                                              "people the Instance Tracker already follows")
    max_instances: IntProperty(name="Max Instances", default=16, min=1, max=64)
    grow: IntProperty(name="Grow", default=0, min=-32, max=32, description="Grow (>0) or shrink (<0) masks, pixels")
    feather: FloatProperty(name="Feather", default=0.0, min=0.0, max=32.0, description="Soften mask edges, pixels")
    smoothing: FloatProperty(name="Temporal Smoothing", default=0.0, min=0.0, max=0.9,
                             description="Weight of each instance's mask from the previous frame of the shot")

    def stage_params(self) -> dict:
        return {"model": self.model, "quality": self.quality, "classes": _split(self.classes) or ["person"],
                "score_threshold": self.score_threshold, "weak_threshold": self.weak_threshold,
                "max_instances": self.max_instances, "grow": self.grow,
                "feather": self.feather, "smoothing": self.smoothing}


class InstanceTrackerNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Keep each instance's identity, and so its style, across the frames of the shot"""

    bl_idname = "InstyleInstanceTrackerNode"
    bl_label = "Instance Tracker"
    STAGE = "instance_tracker"
    OUTPUTS = (Socket("Image", "color", "pass", PASS_DOC),
               Socket("Mask", "float", "mask", "The masks of the tracked people (excluded ids left out), 0 to 1"),
               Socket("Tracks", "float", "tracks", "Each pixel's track id (0 for none): the id stays with the person"),
               Socket("Selection", "float", "selection", "The masks of the ids listed in Selection"),
               Socket("Ids", "color", "ids", "Each person in their own colour with their id written above them: "
                      "view it to find the ids to exclude, merge or restyle"))
    PROPS = ("method", "max_distance", "confirm_frames", "max_lost", "hold", "shot_start", "merge", "exclude",
             "selection", "hold_ranges")

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
                          description="Kalman: frames a person who is out of sight keeps their id for their return; "
                                      "gaps this long in an analysed shot are filled")
    hold: IntProperty(name="Hold", default=12, min=0, max=1000,
                      description="Kalman: frames a followed person the detector misses is still masked where they "
                                  "are expected, while the person matte sees them there (0: never)")
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
    hold_ranges: StringProperty(name="Hold Ranges", default="",
                                description="Ids to hold through footage frames (from 0, as Shot Start) where they "
                                            "are missed: 7: 10-40, 3: 5-9")
    analysis: CollectionProperty(type=TrackSeenItem, name="Analysis",
                                 description="The track ids the last Analyze found, and the frames each is seen in")
    analysis_index: IntProperty(name="Active Analysed Track", default=0)
    analysis_key: StringProperty(name="Analysis Key", default="",
                                 description="Signature of the footage and settings the analysis was made with")
    added_people: CollectionProperty(type=AddedPersonItem, name="Added People",
                                     description="People the models missed, added from Masks drawn on one frame")
    next_added_id: IntProperty(name="Next Added Id", default=1001, min=1001)
    cut_regions: CollectionProperty(type=AddedPersonItem, name="Cut Regions",
                                    description="Regions cut out of an id's mask, from Masks drawn on one frame")
    cut_id: IntProperty(name="Id", default=1, min=1, description="The track id Cut takes the Mask's region from")
    mask_to_add: StringProperty(name="Mask to Add", description="The Mask outlining a missed person on the current "
                                                                "frame")

    def stage_params(self) -> dict:
        return {**{name: getattr(self, name) for name in self.PROPS}, "added": outlines_param(self.added_people),
                "cut": outlines_param(self.cut_regions)}

    def draw_buttons(self, context, layout):
        from . import added_people, analyze  # both build chains, which need this module

        super().draw_buttons(context, layout)
        added_people.draw(self, layout)
        analyze.draw(self, context, layout)


class NeuralStyleNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Stylize each tracked instance in its own style (or the whole frame without a mask upstream)"""

    bl_idname = "InstyleNeuralStyleNode"
    bl_label = "Neural Style"
    STAGE = "neural_style"
    OUTPUTS = (Socket("Stylized", "color", "image", "The result: the styled people (or regions) over the footage, "
                      "pasted without a blend; MRF Blend blends them in"),
               Socket("Image", "color", "pass", "The footage, unchanged: link it into MRF Blend's Image input"),
               Socket("Mask", "float", "mask", "Where a style was applied, 0 to 1"))
    PROPS = ("method", "style", "mix_style", "mix", "style_image", "assign", "palette", "track_styles",
             "class_styles", "background_style", "region", "strength", "colour", "style_scale", "resolution",
             "temporal", "iterations", "style_weight", "features")
    METHOD_ITEMS = [
        ("fast", "Fast", "The 26 fixed styles (mixable)"),
        ("arbitrary", "Arbitrary", "Any style image, offline network"),
        ("adain", "AdaIN", "Any style image, AdaIN (downloaded weights)"),
        ("optimise", "Optimise", "Gatys optimisation with a masked style loss (slow, best quality)"),
    ]
    ASSIGN_ITEMS = [
        ("single", "Single", "The node's style for all"),
        ("track", "Per Track", "The palette cycled by track id, then the track style table"),
        ("class", "Per Class", "Class styles"),
        ("foreground", "Foreground", "The node's style on every instance, the background style on the rest of "
         "the frame"),
    ]
    REGION_ITEMS = [
        ("auto", "Auto", "Whichever costs less"),
        ("crops", "Crops", "Stylize each instance's box with context, batched"),
        ("frame", "Frame", "Stylize the whole frame once per style"),
    ]
    COLOUR_ITEMS = [
        ("none", "Style's Colours", "Keep the style's colours"),
        ("luminance", "Luminance", "Transfer lightness only"),
        ("histogram", "Histogram", "Match the style's colours to the footage's"),
    ]
    FEATURES_ITEMS = [
        ("hed_vgg16", "HED VGG16", "Offline"),
        ("vgg19", "VGG19", "Downloaded"),
    ]

    method: EnumProperty(name="Method", items=METHOD_ITEMS, default="fast",
                         description="fast: the 26 fixed styles (mixable); arbitrary: any style image, offline "
                                     "network; adain: any style image, AdaIN (downloaded weights); optimise: Gatys "
                                     "optimisation with a masked style loss (slow, best quality)")
    style: _style_enum()
    mix_style: _mix_style_enum()
    mix: FloatProperty(name="Mix", default=0.5, min=0.0, max=1.0, description="share of `mix_style` in the mix")
    style_image: StringProperty(name="Style Image", default="", subtype="FILE_PATH",
                                options={"PATH_SUPPORTS_BLEND_RELATIVE"},
                                description="absolute path of the style image for the arbitrary, adain and optimise "
                                            "methods (used where no other style applies)")
    assign: EnumProperty(name="Assign", items=ASSIGN_ITEMS, default="track",
                         description="which style each instance gets: single (the node's style for all), track (the "
                                     "palette cycled by track id, then `track_styles`), class (`class_styles`), "
                                     "foreground (the node's style on every instance, `background_style` on the rest "
                                     "of the frame)")
    palette: StringProperty(name="Palette", default="style03, style13, style19, style24",
                            description="fixed styles cycled through by track id")
    track_styles: CollectionProperty(type=TrackStyleItem, name="Track Styles",
                                     description="per-track styles, ID=STYLE pairs separated by ';' (STYLE a fixed "
                                                 "style, a mix such as style03+style07, or a style image path): "
                                                 "'1=style05; 4=/art/klimt.jpg'")
    track_styles_index: IntProperty(name="Active Track Style", default=0)
    class_styles: StringProperty(name="Class Styles", default="",
                                 description="per-class styles, CLASS=STYLE pairs: 'person=style03; car=style19'")
    background_style: StringProperty(name="Background Style", default="",
                                     description="foreground assignment: style of everything outside the instances; "
                                                 "empty leaves the background untouched")
    region: EnumProperty(name="Region", items=REGION_ITEMS, default="auto",
                         description="crops: stylize each instance's box with context, batched; frame: stylize the "
                                     "whole frame once per style; auto: whichever costs less")
    strength: FloatProperty(name="Strength", default=1.0, min=0.0, max=1.0,
                            description="0 keeps the original, 1 is fully stylized")
    colour: EnumProperty(name="Colour", items=COLOUR_ITEMS, default="none",
                         description="keep the footage's colours: luminance (transfer lightness only) or histogram "
                                     "(match the style's colours to the footage's)")
    style_scale: FloatProperty(name="Style Scale", default=1.0, min=0.25, max=4.0,
                               description="size of brush strokes and patterns (2: twice as large)")
    resolution: IntProperty(name="Resolution", default=0, min=0, max=8192,
                            description="longest side of the frame the network works at (0: the frame's own)")
    temporal: FloatProperty(name="Temporal", default=0.5, min=0.0, max=0.9,
                            description="video: weight of the previous frame's stylization, warped by optical flow "
                                        "where the flow is reliable, against flicker (0: off)")
    iterations: IntProperty(name="Iterations", default=100, min=1, max=5000,
                            description="optimise: optimisation steps per frame")
    style_weight: FloatProperty(name="Style Weight", default=1.0, min=0.0, max=1000.0,
                                description="optimise: weight of the style loss against the content loss")
    features: EnumProperty(name="Features", items=FEATURES_ITEMS, default="hed_vgg16",
                           description="optimise: the VGG features of the losses: hed_vgg16 (offline) or vgg19 "
                                       "(downloaded)")

    @classmethod
    def show_style_icons(cls, icon_of: Callable[[str], int]) -> None:
        """Give `style` and `mix_style` items with the icons `icon_of(name)`; takes effect when the class is
        registered next."""
        cls.__annotations__.update(style=_style_enum(icon_of), mix_style=_mix_style_enum(icon_of))

    def palette_names(self) -> list[str]:
        return _split(self.palette) or [self.style]

    def stage_params(self) -> dict:
        where = self.name
        return {"method": self.method, "style": self.style, "mix_style": self.mix_style, "mix": self.mix,
                "style_image": style_table.absolute(self.style_image, bpy.path.abspath, f"{where}: Style Image"),
                "assign": self.assign, "palette": self.palette_names(),
                "track_styles": style_table.serialise(((r.track_id, r.style) for r in self.track_styles),
                                                      bpy.path.abspath, f"{where}: Track Styles"),
                "class_styles": style_table.absolute_map(self.class_styles, bpy.path.abspath,
                                                         f"{where}: Class Styles"),
                "background_style": style_table.absolute(self.background_style, bpy.path.abspath,
                                                         f"{where}: Background Style"),
                "region": self.region, "strength": self.strength, "colour": self.colour,
                "style_scale": self.style_scale, "resolution": self.resolution, "temporal": self.temporal,
                "iterations": self.iterations, "style_weight": self.style_weight, "features": self.features}

    def draw_props(self, layout):
        layout.prop(self, "method")
        if self.method == "fast":
            if style_previews.previews():
                row = layout.row()
                for name in ("style", "mix_style"):
                    column = row.column()
                    column.template_icon_view(self, name, show_labels=True, scale=5.0, scale_popup=4.0)
                    column.prop(self, name, text="")
            else:
                layout.prop(self, "style")
                layout.prop(self, "mix_style")
            if self.mix_style != "none":
                layout.prop(self, "mix", slider=True)
        else:
            layout.prop(self, "style_image")
        layout.prop(self, "assign")
        if self.assign == "track":
            layout.prop(self, "palette")
            row = layout.row()
            row.template_list("INSTYLE_UL_track_styles", self.cache_id, self, "track_styles", self,
                              "track_styles_index", rows=3)
            buttons = row.column(align=True)
            buttons.operator("instyle.track_style_add", icon="ADD", text="").node = self.name
            buttons.operator("instyle.track_style_remove", icon="REMOVE", text="").node = self.name
        elif self.assign == "class":
            layout.prop(self, "class_styles")
        elif self.assign == "foreground":
            layout.prop(self, "background_style")
        for name in ("region", "strength", "colour", "style_scale", "resolution", "temporal"):
            layout.prop(self, name)
        if self.method == "optimise":
            for name in ("iterations", "style_weight", "features"):
                layout.prop(self, name)


class MRFBlendNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Blend the stylized image into the untouched footage along the mask edges"""

    bl_idname = "InstyleMRFBlendNode"
    bl_label = "MRF Blend"
    STAGE = "mrf_blend"
    INPUTS = ("Image",)
    OUTPUTS = (Socket("Image", "color", "mix", "The result: the styled people blended into the untouched footage"),
               Socket("Alpha", "float", "alpha", "How much of the styled image each pixel takes, 0 to 1"))
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
    layout.operator("instyle.add_chain", icon="NODETREE")
    layout.separator()
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
