"""Typed stage parameters: declared once (`stage_specs`), described in the handshake, validated on every request,
and turned into node properties by the add-on (label, tooltip, default, range, enum items)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import InstyleError


class ParamError(InstyleError, ValueError):
    """A request named an unknown parameter or gave it an unusable value (code "bad_param"). A message that begins
    "stage.param" (as `Param.coerce` words it) names the stage and parameter at fault."""

    HINT = "correct the node's setting"

    def __init__(self, message: str, hint: str | None = None):
        where = re.match(r"([a-z_]+)\.([a-z_]+)\b", message)
        super().__init__("bad_param", message, hint, *(where.groups() if where else ()))


@dataclass(frozen=True)
class Choice:
    """One value of an enum or enum_list parameter: `value` as sent, `label` as shown, `doc` what it does."""

    value: str
    label: str
    doc: str


@dataclass(frozen=True)
class Param:
    """One parameter: `kind` is "int", "float", "bool", "enum", "enum_list" or "str"; `doc` is its tooltip (a
    capitalised phrase); `label` is its name as shown (default: the name in title case)."""

    name: str
    kind: str
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Choice, ...] = ()
    label: str = ""

    @property
    def title(self) -> str:
        """The name as shown: `label`, else `name` in title case ("score_threshold": "Score Threshold")."""
        return self.label or self.name.replace("_", " ").title()

    @property
    def values(self) -> tuple[str, ...]:
        """The values of `choices`, in order."""
        return tuple(c.value for c in self.choices)

    def describe(self) -> dict:
        out = {"type": self.kind, "label": self.title,
               "default": list(self.default) if isinstance(self.default, tuple) else self.default, "doc": self.doc}
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        if self.choices:
            out["choices"] = list(self.values)
            out["choice_labels"] = [c.label for c in self.choices]
            out["choice_docs"] = [c.doc for c in self.choices]
        return out

    def coerce(self, stage: str, value: Any) -> Any:
        where = f"{stage}.{self.name}"
        if self.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (self.kind == "int" and not isinstance(value, int)):
                raise ParamError(f"{where} must be a{'n' if self.kind == 'int' else ''} {self.kind}, got {value!r}")
            if value != value or (self.minimum is not None and value < self.minimum) or (
                    self.maximum is not None and value > self.maximum):
                raise ParamError(f"{where} = {value!r} is outside [{self.minimum}, {self.maximum}]")
            return float(value) if self.kind == "float" else value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ParamError(f"{where} must be true or false, got {value!r}")
            return value
        if self.kind == "str":
            if not isinstance(value, str) or len(value) > 4096:
                raise ParamError(f"{where} must be a string of at most 4096 characters")
            return value
        if self.kind == "enum":
            if value not in self.values:
                raise ParamError(f"{where} = {value!r} is not one of: {', '.join(self.values)}")
            return value
        if self.kind == "enum_list":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise ParamError(f"{where} must be a non-empty list of names")
            unknown = [v for v in value if v not in self.values]
            if unknown:
                raise ParamError(f"{where}: {', '.join(map(repr, unknown))} not among: {', '.join(self.values)}")
            return tuple(dict.fromkeys(value))
        raise AssertionError(self.kind)


@dataclass(frozen=True)
class StageSpec:
    """A stage's name, what must run before it, its parameters and the outputs it can write."""

    name: str
    doc: str
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    requires: tuple[str, ...] = ()
    by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})

    def describe(self) -> dict:
        return {"doc": self.doc, "requires": list(self.requires), "outputs": list(self.outputs),
                "params": {p.name: p.describe() for p in self.params}}

    def resolve(self, given: Any) -> dict:
        """Defaults overlaid with the validated `given` values."""
        if not isinstance(given, dict):
            raise ParamError(f"{self.name}: params must be an object")
        unknown = sorted(set(given) - set(self.by_name))
        if unknown:
            raise ParamError(f"{self.name} has no parameter {', '.join(map(repr, unknown))}; "
                             f"it takes: {', '.join(self.by_name)}")
        return {p.name: p.coerce(self.name, given[p.name]) if p.name in given else p.default for p in self.params}
