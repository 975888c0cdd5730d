"""How each stage output is stored in the cache: the EXR frames a Blender Image node reads (`media.encode_exr`).

- Colour (`COLOUR`: Neural Style's and MRF Blend's `image`, MRF Blend's `stylized_for_mix`) is display-referred
  sRGB in [0, 1]: written linear, as Blender expects of an EXR, in half floats (8-bit levels survive; within 1/255
  of the float32 result), R, G and B, PIZ-compressed (a mostly empty mix layer: RLE).
- Masks (`alpha`, `mask`, `selection`) are written in half floats, one channel, RLE-compressed; so is the id
  overlay (`ids`, flat colours; R, G and B).
- Ids (`index`, `tracks`) are integers: 32-bit floats (half floats hold integers exactly only up to 2048), one
  channel, RLE-compressed.
- A mix layer (`MIX_LAYERS`: MRF Blend's `stylized_for_mix`, mixed over the footage by `alpha`) is 0 wherever its
  factor is 0: the mix takes none of it there (Blender's Mix gives the footage's own pixels, bit for bit, at factor
  0), and the zeros compress to next to nothing; where a person is styled (a few percent of a frame) it is RLE-
  compressed, PIZ when it covers more than `MOSTLY_ZERO` of the frame.

The codecs were chosen with `bench cache` on 1080p frames of the default chain (2-core CPU, loaded by other
work): for a mask and for the mostly empty mix layer RLE costs what no compression costs (23 and 73 ms) and
stores 40 and 34 times fewer bytes (0.11 and 0.37 MB of 4.2 and 12.5); ZIP and PIZ save a few hundred kilobytes
more at up to twice the time. On natural colour PIZ stores 4.0 of 12.5 MB in twice the time of no compression
(136 against 67 ms), the lowest cost once the bytes are priced at a gigabit link to a shared cache; RLE saves 27%
in the same time, ZIP 55% in 13 times the time. With Neural Style's Stylized output linked, a 1080p frame of the
default chain then still takes under 8 MB.

Crops are not written as crops (an EXR data window smaller than the frame): Blender 5.0.1 reads such a file as an
image of the data window's size and the compositor centres it, ignoring where the window lies in the frame.
"""

from __future__ import annotations

import numpy as np

from .media import encode_exr, srgb_to_linear

COLOUR = frozenset({"image", "stylized_for_mix"})
IDS = frozenset({"index", "tracks"})
MIX_LAYERS = {"stylized_for_mix": "alpha"}
"""A mix layer -> the output that is its mix factor."""
MOSTLY_ZERO = 0.25
"""A mix layer kept on at most this share of the frame is RLE-compressed, PIZ otherwise (a whole-frame style)."""


def needs(output: str) -> tuple[str, ...]:
    """The stage outputs storing `output` takes: itself, and a mix layer's factor."""
    return (output, MIX_LAYERS[output]) if output in MIX_LAYERS else (output,)


def stored(output: str, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, str, bool]:
    """What is written for a stage's `output`, given its arrays as the stage returned them (those `needs` names):
    the array, the codec and whether in half floats."""
    array = np.asarray(arrays[output], dtype=np.float32)
    if output in MIX_LAYERS:
        keep = np.asarray(arrays[MIX_LAYERS[output]]) > 0
        layer = np.zeros_like(array)
        layer[keep] = srgb_to_linear(array[keep])
        return layer, "rle" if keep.mean() <= MOSTLY_ZERO else "piz", True
    if output in COLOUR:
        return srgb_to_linear(array), "piz", True
    return array, "rle", output not in IDS


def encode(output: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The EXR file's bytes for a stage's `output` (see `stored`)."""
    return encode_exr(*stored(output, arrays))
