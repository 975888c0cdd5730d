"""Which frame of the footage Blender shows at a scene frame (no bpy: plain numbers and paths)."""

from __future__ import annotations

import math
import re
from itertools import combinations
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


def strip_index(frame: int, start: float, length: int, reverse: bool, strobe: float) -> int:
    """0-based index into the content of a movie or image strip (its animation start offset not yet added) that
    Blender's sequencer shows at scene `frame`, at playback rate 1 without retiming: counted from `start`
    (backwards from the last content frame, `start + length - 1`, when `reverse`), clamped to [0, length - 1],
    held for `strobe` frames when above 1, rounded half up."""
    index = start + length - 1 - frame if reverse else frame - start
    index = min(max(index, 0.0), length - 1.0)
    if strobe > 1.0:
        index -= math.fmod(index, strobe)
    return math.floor(index + 0.5)


def first_overlap(ranges: list[tuple[int, int]]) -> tuple[int, int, int] | None:
    """The first two half-open frame ranges `[start, end)` that share a frame, as (i, j, first shared frame) with
    i < j indexes into `ranges`; None when no two share one."""
    for (i, (a0, a1)), (j, (b0, b1)) in combinations(enumerate(ranges), 2):
        if max(a0, b0) < min(a1, b1):
            return i, j, max(a0, b0)
    return None


def file_number(file: str) -> int:
    """The frame number of a file of an image sequence (its name's last run of digits)."""
    return int(_number_run(file)[1])


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
