"""The Instance Tracker's id overlay: each tracked person in a colour of their own, labelled with their id, so
the artist can read which id to exclude, merge or restyle in a Viewer."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from .masks import support


def id_colour(track_id: int) -> tuple[float, float, float]:
    """RGB in [0, 1] for a track id (> 0): hues a golden-ratio turn apart, so neighbouring ids differ."""
    return colorsys.hsv_to_rgb((track_id * 0.618034) % 1.0, 0.75, 0.95)


def id_overlay(size: tuple[int, int], people: list[tuple[int, np.ndarray, tuple, bool]]) -> np.ndarray:
    """float32 HxWx3 in [0, 1] for a frame of `size` (height, width): black, each person's mask (float32 HxW in
    [0, 1], disjoint) filled with `id_colour` of their track id, and the id written in white at the top of their
    box (x1, y1, x2, y2 pixels), followed by " held" for a person the detector missed. `people`: (track id, mask,
    box, held) tuples."""
    h, w = size
    out = np.zeros((h, w, 3), np.float32)
    for track_id, mask, _, _ in people:  # painted over each mask's bounding rectangle only
        region = support(mask)
        if region is not None:
            x0, y0, x1, y1 = region
            out[y0:y1, x0:x1] += mask[y0:y1, x0:x1, None] * np.asarray(id_colour(track_id), np.float32)
    scale = max(h / 900.0, 0.35)
    thickness = max(round(2 * scale), 1)
    for track_id, _, box, held in people:
        text = f"{track_id} held" if held else str(track_id)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        x = int(np.clip((box[0] + box[2]) / 2 - tw / 2, 0, max(w - tw, 0)))
        y = int(np.clip(box[1] - 4, th + 2, h - 2))
        for colour, weight in (((0.0, 0.0, 0.0), thickness + 2), ((1.0, 1.0, 1.0), thickness)):
            cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, weight, cv2.LINE_AA)
    return np.clip(out, 0.0, 1.0, out=out)
