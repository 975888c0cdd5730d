"""The plug-in's procedures without GIMP: their arguments, declared by the engine's stage specs
(`wire.stage_specs`: label, tooltip, default, range, choices), and the pipeline each runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wire.params import Param
from wire.stage_specs import SPECS


def nick(value: str) -> str:
    """A choice's value as a GIMP choice nick (lower-case letters, digits and '-'): "centernet+rvm" ->
    "centernet-rvm"."""
    return re.sub(r"[^a-z0-9-]+", "-", value.lower())


@dataclass(frozen=True)
class Argument:
    """Stage parameter `param` of `stage` as a procedure argument; `default` where the procedure's differs."""

    stage: str
    param: Param
    default: object = None

    @property
    def name(self) -> str:
        """The argument's name in the PDB: the parameter's, hyphenated ("style_image" -> "style-image")."""
        return self.param.name.replace("_", "-")

    @property
    def initial(self) -> object:
        """The default as GIMP holds it: enum values as nicks, enum lists as comma-separated text."""
        value = self.param.default if self.default is None else self.default
        if self.param.kind == "enum":
            return nick(value)
        if self.param.kind == "enum_list":
            return ", ".join(value)
        return value

    def value(self, given: object) -> object:
        """The parameter's value for the engine from the argument's value in GIMP."""
        if self.param.kind == "enum":
            return next((v for v in self.param.values if nick(v) == given), given)
        if self.param.kind == "enum_list":
            return [v for v in (part.strip() for part in (given or "").split(",")) if v]
        if self.param.kind == "str":
            return given or ""  # GIMP gives None for an empty string
        return given


def _arguments(stage: str, names: str, **defaults) -> tuple[Argument, ...]:
    spec = SPECS[stage]
    return tuple(Argument(stage, spec.by_name[n], defaults.get(n)) for n in names.split())


MASK_ARGUMENTS = _arguments("instance_mask", "classes quality model score_threshold max_instances grow feather")


@dataclass(frozen=True)
class Procedure:
    """A procedure under Filters > instyle: PDB `name`, menu `label`, `blurb` and `doc`; its `arguments`; the
    `stages` it runs with `fixed` parameters besides the arguments, and the outputs each stage `returns`; the
    name of the `layer` it adds ("" where it adds channels)."""

    name: str
    label: str
    blurb: str
    doc: str
    arguments: tuple[Argument, ...]
    stages: tuple[str, ...]
    returns: dict[str, tuple[str, ...]]
    fixed: dict[str, dict] = field(default_factory=dict)
    layer: str = ""

    def argument_for(self, stage: str, param: str) -> Argument | None:
        """The argument that sets `param` of `stage`, if the procedure has one."""
        return next((a for a in self.arguments if a.stage == stage and a.param.name == param), None)

    def pipeline(self, values: dict[str, object]) -> list[dict]:
        """The engine pipeline for the arguments' `values` (by argument name; those left out keep their default)."""
        params = {stage: dict(self.fixed.get(stage, {})) for stage in self.stages}
        for a in self.arguments:
            params[a.stage][a.param.name] = a.value(values.get(a.name, a.initial))
        return [{"stage": stage, "params": params[stage],
                 **({"return": list(self.returns[stage])} if stage in self.returns else {})} for stage in self.stages]


INSTANCE_MASKS = Procedure(
    "instyle-instance-masks", "Instance _Masks...", "One channel per person (or chosen object), named by instance",
    "Finds the people (or the COCO classes chosen) in the active layer and adds one channel per instance, named "
    "by class and number ('person 2'), the numbers those of Stylize People's per-track styles.",
    MASK_ARGUMENTS, ("instance_mask", "instance_tracker"), {"instance_tracker": ("mask", "tracks")})

STYLIZE_PEOPLE = Procedure(
    "instyle-stylize-people", "_Stylize People...", "A style per person, per class, or foreground and background",
    "Stylizes the people (or chosen objects) of the active layer, each in its own style, and blends the seams; "
    "the result is a new layer above the source, whose pixels outside the masks' blend band are the source's. "
    "A style image is a file (Style Image) or a layer of any open image (Style Layer); Background Blur adds a "
    "portrait blur (Styfie).",
    MASK_ARGUMENTS + _arguments("instance_tracker", "exclude") + _arguments("neural_style", "assign style method style_image palette track_styles class_styles "
                                "background_style mix_style mix strength colour style_scale resolution iterations "
                                "style_weight features")
    + _arguments("mrf_blend", "mode band unary background_blur"),
    ("instance_mask", "instance_tracker", "neural_style", "mrf_blend"), {"mrf_blend": ("image",)},
    {"neural_style": {"temporal": 0.0}}, "instyle: stylized")

PORTRAIT_BLUR = Procedure(
    "instyle-portrait-blur", "_Portrait Blur...", "The background blurred as by a lens, the people sharp",
    "Blurs everything but the people (or chosen objects) of the active layer with a lens (depth-of-field) blur "
    "and blends the edge; the result is a new layer above the source, the people's pixels the source's.",
    MASK_ARGUMENTS + _arguments("mrf_blend", "background_blur mode band unary", background_blur=12.0),
    ("instance_mask", "mrf_blend"), {"mrf_blend": ("image",)}, layer="instyle: portrait blur")

PROCEDURES: dict[str, Procedure] = {p.name: p for p in (INSTANCE_MASKS, STYLIZE_PEOPLE, PORTRAIT_BLUR)}
