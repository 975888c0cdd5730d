"""The four stages' specs: names, docs, typed parameters (kinds, defaults, ranges, choices), outputs and what each
requires. The engine's stages run them; the add-on builds its nodes' properties from them (see its
`node_params`); the handshake describes them to any client."""

from __future__ import annotations

from .coco import COCO_CLASSES
from .fixed_styles import STYLE_NAMES
from .params import Choice, Param, StageSpec

CLASS_CHOICES = tuple(Choice(name, name.title(), f"Instances of the COCO class {name!r}") for name in COCO_CLASSES)
STYLE_CHOICES = tuple(Choice(name, f"Style {name[5:]}", f"Fixed style {int(name[5:])} of the 26-style network")
                      for name in STYLE_NAMES)

INSTANCE_MASK = StageSpec(
    name="instance_mask",
    doc="Find people or chosen objects; one soft mask per instance.",
    params=(
        Param("model", "enum", "centernet+rvm", "The models that find and matte the instances", choices=(
            Choice("centernet+rvm", "CenterNet + RVM", "Offline models: object boxes, person mattes, GrabCut for "
                   "other classes"),
            Choice("maskrcnn", "Mask R-CNN", "torchvision Mask R-CNN v2; its weights are a separate download "
                   "(instyle-engine weights fetch maskrcnn_v2)"))),
        Param("quality", "enum", "faster", "How thoroughly the footage is searched", choices=(
            Choice("faster", "Faster", "The detector on every second frame, mattes on person crops"),
            Choice("better", "Better", "The detector on every frame, also on tiles (finds more small people), and "
                   "a whole-frame video matte"))),
        Param("classes", "enum_list", ("person",), "COCO classes to mask (person, car, dog, ...)",
              choices=CLASS_CHOICES),
        Param("score_threshold", "float", 0.35, "Detections scoring at least this start and continue instances",
              0.0, 1.0),
        Param("weak_threshold", "float", 0.1, "Detections scoring from this up to the score threshold only continue "
              "people the Instance Tracker already follows (none without a tracker, or at the score threshold or "
              "above)", 0.0, 1.0),
        Param("max_instances", "int", 16, "Keep at most this many instances, highest scores first", 1, 64),
        Param("grow", "int", 0, "Grow (>0) or shrink (<0) each mask by this many pixels", -32, 32),
        Param("feather", "float", 0.0, "Soften mask edges: Gaussian sigma in pixels", 0.0, 32.0),
        Param("smoothing", "float", 0.0, "Weight of each instance's mask from the previous frame of the shot (0: off)",
              0.0, 0.9, label="Temporal Smoothing"),
    ),
    outputs=("mask", "index"),
)

INSTANCE_TRACKER = StageSpec(
    name="instance_tracker",
    doc="Keep each instance's identity across the frames of a shot.",
    params=(
        Param("method", "enum", "kalman", "How boxes are matched from frame to frame", choices=(
            Choice("kalman", "Kalman", "Optimal assignment on box overlap, predicted motion and colour; people "
                   "hidden for a while get their identity back"),
            Choice("centre", "Nearest Centre", "Each box takes the id of the nearest box centre in the previous "
                   "frame (IST)"))),
        Param("max_distance", "float", 0.1, "Nearest Centre: largest move between frames that still continues a "
              "track, as a fraction of the frame diagonal", 0.0, 1.0),
        Param("confirm_frames", "int", 2, "Kalman: frames in a row a newcomer is seen before getting an id (and a "
              "style)", 1, 30),
        Param("max_lost", "int", 30, "Kalman: frames a person who is out of sight keeps their id for their return; "
              "gaps this long in an analysed shot are filled", 0, 10000, label="Keep Lost"),
        Param("hold", "int", 12, "Kalman: frames a followed person the detector misses is still masked where they "
              "are expected, while the person matte sees them there (0: never)", 0, 1000),
        Param("shot_start", "int", -1, "Footage frame (from 0) the shot begins at: identities are worked out in "
              "order from there and recorded, so frames rendered in any order or on any machine get the same ids "
              "(-1: in the order frames arrive, afresh after any jump)", -1, 10**7 - 1),
        Param("merge", "str", "", "Track ids that are one person, as OLD=NEW pairs: 3=1, 7=2"),
        Param("exclude", "str", "", "Track ids to leave unstyled: 5, 9"),
        Param("selection", "str", "", "Track ids whose masks make the Selection output: 1, 4"),
        Param("hold_ranges", "str", "", "Ids to hold through footage frames (from 0, as Shot Start) where they are "
              "missed, as ID: FIRST-LAST pairs, placed between their nearest sightings and masked by the person "
              "matte: 7: 10-40, 3: 5-9"),
        Param("cut", "str", "", "Regions cut out of an id's mask: outlines drawn on one frame, moved with the id's "
              "box, as JSON like Added with the id to cut from"),
        Param("added", "str", "", "People the models missed: outlines drawn on one frame, carried through the shot, "
              "as JSON: [{\"id\": 1001, \"frame\": 12, \"polygons\": [[[10, 20], [60, 20], [60, 200]]]}]"),
    ),
    outputs=("mask", "tracks", "selection", "ids"),
    requires=("instance_mask",),
)

NEURAL_STYLE = StageSpec(
    name="neural_style",
    doc="Stylize each instance (by track id or class) in its own style, or foreground and background in two, "
        "or the whole frame when no mask stage precedes.",
    params=(
        Param("method", "enum", "fast", "How style images are rendered (fixed styles always use the 26-style "
              "network)", choices=(
                  Choice("fast", "Fast", "The 26 fixed styles (mixable); style images in the tables render with "
                         "the Arbitrary network"),
                  Choice("arbitrary", "Arbitrary", "Any style image, offline network"),
                  Choice("adain", "AdaIN", "Any style image, AdaIN (downloaded weights)"),
                  Choice("optimise", "Optimise", "Gatys optimisation with a masked style loss (slow, best "
                         "quality)"))),
        Param("style", "enum", "style03", "The fixed style used where no other applies", choices=STYLE_CHOICES),
        Param("mix_style", "enum", "none", "A second fixed style mixed into Style",
              choices=(Choice("none", "None", "No second style"), *STYLE_CHOICES)),
        Param("mix", "float", 0.5, "Share of Mix Style in the mix", 0.0, 1.0),
        Param("style_image", "str", "", "The style image (a painting's file) of the Arbitrary, AdaIN and Optimise "
              "methods, used where no other style applies"),
        Param("assign", "enum", "track", "Which style each instance gets", choices=(
            Choice("single", "Single", "The node's style for all"),
            Choice("track", "Per Track", "The palette cycled by track id, then the track style table"),
            Choice("class", "Per Class", "The class styles; the node's style for classes without one"),
            Choice("foreground", "Foreground", "The node's style on every instance, the background style on the "
                   "rest of the frame"))),
        Param("palette", "enum_list", ("style03", "style13", "style19", "style24"),
              "Fixed styles cycled through by track id", choices=STYLE_CHOICES),
        Param("track_styles", "str", "", "Per-track styles, ID=STYLE pairs separated by ';', STYLE a fixed style, a "
              "mix such as style03+style07, or a style image's absolute path: 1=style05; 4=/art/klimt.jpg"),
        Param("class_styles", "str", "", "Per-class styles, CLASS=STYLE pairs separated by ';', CLASS a COCO class: "
              "person=style03; car=style19"),
        Param("background_style", "str", "", "Foreground assignment: style of everything outside the instances; "
              "empty leaves the background untouched"),
        Param("region", "enum", "auto", "What the network stylizes", choices=(
            Choice("auto", "Auto", "Whichever costs less"),
            Choice("crops", "Crops", "Each instance's box with context, batched"),
            Choice("frame", "Frame", "The whole frame, once per style"))),
        Param("strength", "float", 1.0, "How much of the style shows: 0 keeps the original, 1 is fully stylized", 0.0, 1.0),
        Param("colour", "enum", "none", "Whose colours the result has", choices=(
            Choice("none", "Style's Colours", "Keep the style's colours"),
            Choice("luminance", "Luminance", "Transfer lightness only, keeping the footage's colours"),
            Choice("histogram", "Histogram", "Match the style's colours to the footage's"))),
        Param("style_scale", "float", 1.0, "Size of brush strokes and patterns (2: twice as large)", 0.25, 4.0),
        Param("resolution", "int", 0, "Longest side of the frame the network works at (0: the frame's own)", 0, 8192),
        Param("temporal", "float", 0.5, "Video: weight of the previous frame's stylization, warped by optical flow "
              "where the flow is reliable, against flicker (0: off)", 0.0, 0.9),
        Param("iterations", "int", 100, "Optimise: optimisation steps per frame", 1, 5000),
        Param("style_weight", "float", 1.0, "Optimise: weight of the style loss against the content loss",
              0.0, 1000.0),
        Param("features", "enum", "hed_vgg16", "Optimise: the VGG features of the losses", choices=(
            Choice("hed_vgg16", "HED VGG16", "Offline"),
            Choice("vgg19", "VGG19", "Downloaded weights"))),
    ),
    outputs=("image", "mask"),
)

MRF_BLEND = StageSpec(
    name="mrf_blend",
    doc="Blend the stylized image into the original inside a band along the mask edges, and between instances "
        "where they meet; pixels outside the band keep their exact source values.",
    params=(
        Param("mode", "enum", "mrf", "How the band is blended", choices=(
            Choice("mrf", "MRF", "Labels from a Markov random field: the seam goes where stylized and original "
                   "agree"),
            Choice("feather", "Feather", "A linear ramp across the band"),
            Choice("naive", "Naive Paste", "A hard cut at the mask edge, no band"),
            Choice("poisson", "Poisson", "Gradient-domain blending inside the band"))),
        Param("band", "float", 6.0, "Width in pixels of the blend band centred on the mask edge", 0.0, 256.0),
        Param("unary", "float", 1.0, "MRF: how firmly band pixels keep the side of the edge they lie on, against "
              "the cost of the contrast the blend creates (0: contrast only)", 0.0, 100.0),
        Param("background_blur", "float", 0.0, "Portrait blur: radius in pixels of a lens blur of everything outside "
              "the masks, the people staying sharp (0: off; needs Instance Mask)", 0.0, 200.0),
    ),
    outputs=("image", "alpha", "stylized_for_mix"),
)

SPECS: dict[str, StageSpec] = {s.name: s for s in (INSTANCE_MASK, INSTANCE_TRACKER, NEURAL_STYLE, MRF_BLEND)}
"""Every stage by name, in the order they may run."""
