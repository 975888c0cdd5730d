"""Each node's properties for its stage's parameters, built at registration from the stage's spec (the shipped
`wire.stage_specs`, the engine's own): the name, tooltip, default, range and enum items come from there, and
`values` turns the properties back into the request's parameters.

A parameter the node holds in another form than its spec's kind is listed in FORMS, here and only here:

- a list of names (Instance Mask's classes, Neural Style's palette) is text, the names separated by commas;
- Neural Style's style and mix_style are enums whose items show the fixed styles' preview icons;
- Neural Style's style image is an Image datablock with a picker, sent as its file's absolute path (`style_images`);
- Neural Style's track styles are a table of rows (`track_styles`), each a style text or an Image;
- Neural Style's class and background styles are text, as in the spec, with `//` paths sent absolute;
- the Instance Tracker's shot start also takes SCENE_START (-2): the footage frame at the scene's start, which the
  chain resolves before sending (`chain.Chain`);
- the Instance Tracker's added people and cut regions are lists of outlines read from Masks (`added_people`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import style_images, style_table
from .added_people import outlines_param
from .wire.fixed_styles import STYLE_NAMES
from .wire.params import Param
from .wire.stage_specs import SPECS

SCENE_START = -2
IconOf = Callable[[str], int]  # a fixed style's name -> its preview's icon id (0: none)


@dataclass(frozen=True)
class Form:
    """How a node holds a parameter: `declare(param, icon_of)` gives its property, named as the parameter (None:
    the node class declares one of its own, `holder`, such as a table of rows); `send(node, param)` gives the
    value a request carries."""

    declare: Callable[[Param, IconOf], Any] | None
    send: Callable[[Any, Param], Any]
    holder: str = ""


def spec_property(param: Param, icon_of: IconOf | None = None, **changes):
    """The property for `param` as its spec has it: kind, name, tooltip, default, range and enum items (each
    numbered by its position, as saved files store it); `changes` override the keywords."""
    number = int if param.kind == "int" else float
    keywords = {"name": param.title, "description": param.doc, "default": param.default}
    if param.minimum is not None:
        keywords["min"] = number(param.minimum)
    if param.maximum is not None:
        keywords["max"] = number(param.maximum)
    if param.kind == "enum":
        keywords["items"] = [(c.value, c.label, c.doc, "NONE", k) for k, c in enumerate(param.choices)]
    keywords.update(changes)
    kinds = {"int": IntProperty, "float": FloatProperty, "bool": BoolProperty, "str": StringProperty,
             "enum": EnumProperty}
    return kinds[param.kind](**keywords)


def _plain(node, param: Param):
    return getattr(node, param.name)


def _names_text(param: Param, icon_of: IconOf):
    return StringProperty(name=param.title, default=", ".join(param.default),
                          description=f"{param.doc}, separated by commas")


def split_names(text: str) -> list[str]:
    """'person, dog,' -> ['person', 'dog']: the names of a comma-separated list, without blanks."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _style_enum(param: Param, icon_of: IconOf):
    """The fixed styles with their preview icons (choices that are no fixed style, such as "none", show an X)."""
    items = [(c.value, c.label, c.doc, icon_of(c.value) if c.value in STYLE_NAMES else "X", k)
             for k, c in enumerate(param.choices)]
    return spec_property(param, items=items)


def _image_picker(param: Param, icon_of: IconOf):
    return PointerProperty(type=bpy.types.Image, name=param.title, description=param.doc,
                           poll=lambda node, image: style_images.is_painting(image))


def _shot_start(param: Param, icon_of: IconOf):
    return spec_property(param, min=SCENE_START, default=SCENE_START,
                         description=f"{param.doc} ({SCENE_START}: the footage frame at the scene's start)")


def _style_image(node, param: Param) -> str:
    return style_images.image_file(node.style_image, f"{node.name}: {param.title}")


def _track_styles(node, param: Param) -> str:
    where = f"{node.name}: {param.title}"
    rows = ((row.track_id, style_images.image_file(row.image, f"{where}, track {row.track_id}") if row.image
             else row.style) for row in node.track_styles)
    return style_table.serialise(rows, bpy.path.abspath, where)


def _absolute_map(node, param: Param) -> str:
    return style_table.absolute_map(getattr(node, param.name), bpy.path.abspath, f"{node.name}: {param.title}")


def _absolute(node, param: Param) -> str:
    return style_table.absolute(getattr(node, param.name), bpy.path.abspath, f"{node.name}: {param.title}")


PLAIN = Form(spec_property, _plain)
FORMS: dict[tuple[str, str], Form] = {
    ("instance_mask", "classes"): Form(_names_text, lambda node, _: split_names(node.classes)),
    ("instance_tracker", "shot_start"): Form(_shot_start, _plain),
    ("instance_tracker", "added"): Form(None, lambda node, _: outlines_param(node.added_people), "added_people"),
    ("instance_tracker", "cut"): Form(None, lambda node, _: outlines_param(node.cut_regions), "cut_regions"),
    ("neural_style", "style"): Form(_style_enum, _plain),
    ("neural_style", "mix_style"): Form(_style_enum, _plain),
    ("neural_style", "style_image"): Form(_image_picker, _style_image),
    ("neural_style", "palette"): Form(_names_text, lambda node, _: node.palette_names()),
    ("neural_style", "track_styles"): Form(None, _track_styles, "track_styles"),
    ("neural_style", "class_styles"): Form(spec_property, _absolute_map),
    ("neural_style", "background_style"): Form(spec_property, _absolute),
}


def form(stage: str, param: Param) -> Form:
    """How nodes of `stage` hold `param`: its entry in FORMS, else as the spec has it."""
    return FORMS.get((stage, param.name), PLAIN)


def holder(stage: str, name: str) -> str:
    """The node property holding parameter `name` of `stage` (what the artist knows it by); `name` itself for a
    parameter the spec lacks."""
    param = SPECS[stage].by_name.get(name)
    return (param is not None and form(stage, param).holder) or name


def declare(cls, icon_of: IconOf) -> None:
    """Give node class `cls` (with its STAGE) a property for each parameter of its stage, in the spec's order,
    after those its body declares; takes effect when `cls` is registered next."""
    own = dict(cls.__dict__.get("__annotations__", {}))
    for param in SPECS[cls.STAGE].params:
        made = form(cls.STAGE, param).declare
        if made is not None:
            own[param.name] = made(param, icon_of)
    cls.__annotations__ = own


def declared(stage: str) -> tuple[str, ...]:
    """The names of the properties `declare` gives nodes of `stage`, in the spec's order."""
    return tuple(p.name for p in SPECS[stage].params if form(stage, p).declare is not None)


def values(node) -> dict:
    """The parameters of `node`'s stage as a request carries them, in the spec's order (see FORMS)."""
    return {p.name: form(node.STAGE, p).send(node, p) for p in SPECS[node.STAGE].params}
