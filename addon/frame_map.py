"""Which frame of the footage Blender shows at a scene frame (no bpy: plain numbers and paths)."""

from __future__ import annotations

import re
from pathlib import Path


def movie_clip_index(frame: int, clip_start: int, clip_offset: int) -> int:
    """0-based movie frame a Movie Clip node shows at scene `frame`."""
    return frame - clip_start + clip_offset


def image_node_number(frame: int, start: int, duration: int, offset: int, cyclic: bool) -> int:
    """1-based file/frame number an Image node (MOVIE or SEQUENCE) shows at scene `frame`."""
    n = frame - start + 1
    if cyclic and duration > 0:
        n %= duration
        if n == 0:
            n = duration
    n = min(max(n, 0), duration)
    return n + offset


def sequence_file(first_file: str, number: int) -> str:
    """The file of an image sequence holding `number`, from any file of it (its last digit run is the number)."""
    stem, digits, rest = _number_run(first_file)
    return stem + f"{number:0{len(digits)}d}" + rest


def sequence_pattern(first_file: str) -> str:
    """The path the engine reads an image sequence by, from any file of it: the frame number as a run of '#'
    as wide as the file's own (the engine pads numbers with zeros to that width, as Blender does)."""
    stem, digits, rest = _number_run(first_file)
    return stem + "#" * len(digits) + rest


def _number_run(file: str) -> tuple[str, str, str]:
    """`file` split around the last run of digits in its name's stem."""
    path = Path(file)
    match = list(re.finditer(r"\d+", path.stem))
    if not match:
        raise ValueError(f"{path.name} has no frame number in its name, so it cannot be an image sequence")
    m = match[-1]
    folder = str(path)[:len(str(path)) - len(path.name)]
    return folder + path.stem[:m.start()], m.group(), path.stem[m.end():] + path.suffix
