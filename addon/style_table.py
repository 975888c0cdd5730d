"""The Neural Style node's style texts as the engine reads them (no bpy: plain strings).

A style text is a fixed style (`style07`), a mix (`style03+style07`) or a style image path; maps from track
ids or classes to styles are `KEY=STYLE` entries separated by `;` (the engine's `stylize.styles` parses them).
"""

from __future__ import annotations

import os
from typing import Callable, Iterable


class StyleTextError(ValueError):
    """A style text the add-on cannot send as written; the message names the entry and the fix."""


def absolute(text: str, abspath: Callable[[str], str], where: str) -> str:
    """`text` stripped, with a `//`-relative path (relative to the .blend file) made absolute and normalised
    by `abspath` (Blender's); fixed styles, mixes and absolute paths pass unchanged."""
    text = text.strip()
    if text.startswith("//"):
        resolved = abspath(text)
        if not os.path.isabs(resolved):
            raise StyleTextError(f"{where}: {text} is relative to the .blend file, which is not saved yet; save "
                                 "the file first or choose the image by its absolute path")
        return os.path.normpath(resolved)
    return os.path.normpath(text) if os.path.isabs(text) else text


def serialise(rows: Iterable[tuple[int, str]], abspath: Callable[[str], str], where: str) -> str:
    """(track id, style text) rows as `ID=STYLE; ...`, rows with an empty style left out (those ids keep the
    palette's style); a later row for the same id wins, as in the engine."""
    entries = {}
    for track_id, style in rows:
        style = absolute(style, abspath, f"{where}, track {track_id}")
        if not style:
            continue
        if ";" in style or "=" in style:
            raise StyleTextError(f"{where}, track {track_id}: {style!r} contains ';' or '=', which separate the "
                                 "entries; rename the style image")
        entries.pop(track_id, None)
        entries[track_id] = style
    return "; ".join(f"{k}={v}" for k, v in entries.items())


def absolute_map(text: str, abspath: Callable[[str], str], where: str) -> str:
    """A `KEY=STYLE; ...` text with each STYLE made absolute (see `absolute`); malformed entries pass unchanged
    for the engine to report."""
    entries = []
    for entry in (e.strip() for e in text.split(";")):
        key, sep, style = entry.partition("=")
        if entry:
            entries.append(f"{key.strip()}={absolute(style, abspath, f'{where}, {key.strip()}')}" if sep else entry)
    return "; ".join(entries)


def palette_style(track_id: int, palette: list[str]) -> str:
    """The style the default rule gives a track: the palette cycled by track id (id 1 takes the first)."""
    return palette[(track_id - 1) % len(palette)]
