"""The four compositor nodes. Each holds its stage's parameters as properties built from the stage's spec
(`node_params`), turns them into one stage of an engine pipeline and shows the engine's cached results through its
inner tree. The node body shows its main settings; the sidebar (N panel, Node tab) shows them all."""

from __future__ import annotations

import uuid

import bpy
from bpy.props import CollectionProperty, IntProperty, StringProperty

from . import inner_tree, node_params, paths, style_previews
from .added_people import AddedPersonItem
from .inner_tree import PASS_DOC, Socket
from .track_styles import TrackSeenItem, TrackStyleItem


class InstyleNode:
    """Shared behaviour; subclasses set STAGE, INPUTS, OUTPUTS and MAIN (the settings the node body shows; the
    sidebar shows every one)."""

    STAGE = ""
    INPUTS: tuple[str, ...] = ("Image",)
    OUTPUTS: tuple[Socket, ...] = ()
    MAIN: tuple[str, ...] = ()
    bl_width_default = 200.0

    cache_id: StringProperty(name="Cache ID", description="Folder of this node's cached frames", default="")
    status: StringProperty(name="Status", default="", description="What instyle last did on this node: the frame "
                                                                  "it computed, or the error that stopped it")

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
        """The node's stage parameters as a request carries them (see `node_params`)."""
        return node_params.values(self)

    def draw_buttons(self, context, layout):
        """The node body: the main settings, the status and Bake."""
        self.draw_main(layout)
        self.draw_status(layout)

    def draw_main(self, layout):
        for name in self.MAIN:
            layout.prop(self, name)

    def draw_buttons_ext(self, context, layout):
        """The sidebar: every setting, the status and Bake."""
        self.draw_settings(context, layout)
        self.draw_status(layout)

    def draw_settings(self, context, layout):
        for name in node_params.declared(self.STAGE):
            layout.prop(self, name)

    def draw_status(self, layout):
        if self.status:
            layout.label(text=self.status, icon="ERROR" if self.status.startswith("Error") else "INFO")
        bake = layout.operator("instyle.bake", icon="RENDER_ANIMATION")
        bake.node, bake.tree = self.name, self.id_data.name


class InstanceMaskNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Find people or chosen objects in the footage: one soft mask per instance"""

    bl_idname = "InstyleInstanceMaskNode"
    bl_label = "Instance Mask"
    STAGE = "instance_mask"
    OUTPUTS = (Socket("Image", "color", "pass", PASS_DOC),
               Socket("Mask", "float", "mask", "All instances' masks together, 0 to 1"),
               Socket("Index", "float", "index", "Each pixel's instance number (1, 2, ...; 0 for none)"))
    MAIN = ("classes", "quality")


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
    MAIN = ("method",)

    analysis: CollectionProperty(type=TrackSeenItem, name="Analysis",
                                 description="The track ids the last Analyze found, and the frames each is seen in")
    analysis_index: IntProperty(name="Active Analysed Track", default=0,
                                description="The row of the analysis list that is selected")
    analysis_key: StringProperty(name="Analysis Key", default="",
                                 description="Signature of the footage and settings the analysis was made with")
    added_people: CollectionProperty(type=AddedPersonItem, name="Added People",
                                     description="People the models missed, added from Masks drawn on one frame")
    next_added_id: IntProperty(name="Next Added Id", default=1001, min=1001,
                               description="The track id the next added person gets")
    cut_regions: CollectionProperty(type=AddedPersonItem, name="Cut Regions",
                                    description="Regions cut out of an id's mask, from Masks drawn on one frame")
    cut_id: IntProperty(name="Id", default=1, min=1, description="The track id Cut takes the Mask's region from")
    mask_to_add: StringProperty(name="Mask to Add", description="The Mask outlining a missed person on the current "
                                                                "frame")

    def draw_main(self, layout):
        super().draw_main(layout)
        layout.operator("instyle.analyze", icon="VIEWZOOM").node = self.name

    def draw_buttons_ext(self, context, layout):
        from . import added_people, analyze  # both build chains, which need this module

        super().draw_buttons_ext(context, layout)
        added_people.draw(self, layout)
        analyze.draw(self, context, layout)


class NeuralStyleNode(InstyleNode, bpy.types.CompositorNodeCustomGroup):
    """Stylize each tracked instance in its own style (or the whole frame without a mask upstream)"""

    bl_idname = "InstyleNeuralStyleNode"
    bl_label = "Neural Style"
    bl_width_default = 240.0
    STAGE = "neural_style"
    OUTPUTS = (Socket("Stylized", "color", "image", "The result: the styled people (or regions) over the footage, "
                      "pasted without a blend; MRF Blend blends them in"),
               Socket("Image", "color", "pass", "The footage, unchanged: link it into MRF Blend's Image input"),
               Socket("Mask", "float", "mask", "Where a style was applied, 0 to 1"))

    track_styles: CollectionProperty(type=TrackStyleItem, name="Track Styles",
                                     description="Per-track styles: a row per track id, with a fixed style, a mix "
                                                 "or a painting; ids without a row take the palette's style")
    track_styles_index: IntProperty(name="Active Track Style", default=0,
                                    description="The row of the track style table that is selected")

    def palette_names(self) -> list[str]:
        """The palette's styles; the node's style when it is empty."""
        return node_params.split_names(self.palette) or [self.style]

    def draw_main(self, layout):
        layout.prop(self, "method")
        self.draw_styles(layout, ("style",))
        layout.prop(self, "assign")

    def draw_styles(self, layout, fixed: tuple[str, ...]) -> None:
        """The node's own style: the `fixed` style enums (from their preview grids when there are previews) under
        the Fast method, else the painting."""
        if self.method != "fast":
            layout.template_ID(self, "style_image", open="image.open")
        elif style_previews.previews():
            row = layout.row()
            for name in fixed:
                column = row.column()
                column.template_icon_view(self, name, show_labels=True, scale=5.0, scale_popup=4.0)
                column.prop(self, name, text="")
        else:
            for name in fixed:
                layout.prop(self, name)

    def draw_settings(self, context, layout):
        layout.prop(self, "method")
        self.draw_styles(layout, ("style", "mix_style"))
        if self.method == "fast" and self.mix_style != "none":
            layout.prop(self, "mix", slider=True)
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
    OUTPUTS = (Socket("Image", "color", "mix", "The result: the styled people blended into the untouched footage"),
               Socket("Alpha", "float", "alpha", "How much of the styled image each pixel takes, 0 to 1 (1 everywhere "
                      "with a Background Blur: the whole frame changes)"))
    MAIN = ("mode", "band", "background_blur")


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
