"""Person alpha for detected people, from the model store's two matting networks.

- `frame_matte`: Robust Video Matting on the whole frame, its recurrent state carried from frame to frame
  (one `RobustVideoMatte` per shot, reset at a cut).
- `CropMatte`: the MediaPipe selfie network (256x256 input) on crops around each person, so that every
  upright person, however small, is matted about 200 px tall. Crops are packed into shared 256x256 inputs:
  upright people two to an input (128x256 each), a wider box alone in an input.

`frame_matte` gives alpha for the whole frame, `CropMatte` one alpha per person, zero away from their box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..ops.masks import box_region
from .matte import RobustVideoMatte
from .tfjs_graph import TfjsGraph

SIDE = 256  # the selfie network's input
_MARGIN = 0.12  # context around each box in its crop, as a fraction of its size on each side


@dataclass(frozen=True)
class Slot:
    """Where one person's crop goes: frame rectangle (centre x, centre y, width, height) -> input `canvas`
    at pixel offset (x, y) with size (w, h); the crop and slot have the same aspect ratio."""

    cx: float
    cy: float
    width: float
    height: float
    canvas: int
    x: int
    y: int
    w: int
    h: int

    def to_slot(self) -> np.ndarray:
        """2x3 affine map from frame pixels to canvas pixels."""
        s = self.w / self.width
        return np.array([[s, 0.0, self.x + self.w / 2 - s * self.cx],
                         [0.0, s, self.y + self.h / 2 - s * self.cy]], np.float64)


def layout(boxes: np.ndarray) -> tuple[list[Slot], int]:
    """Slots for Nx4 boxes (x1, y1, x2, y2 frame pixels) and the number of 256x256 inputs they fill.

    A box at most 3/4 as wide as tall gets a 1:2 crop (its height plus margins, or twice its width plus
    margins if that is more) in half an input (128x256), two to an input; a wider box gets a square crop
    filling an input. (The network fails on people much smaller than 128 px, so small people are scaled up,
    never packed tighter.)
    """
    slots, canvases, free_half = [], 0, None  # free_half: an input whose right half is still empty
    for x1, y1, x2, y2 in boxes.astype(np.float64):
        w, h = (x2 - x1) * (1 + 2 * _MARGIN), (y2 - y1) * (1 + 2 * _MARGIN)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if x2 - x1 > 0.75 * (y2 - y1):
            side = max(w, h)
            slots.append(Slot(cx, cy, side, side, canvases, 0, 0, SIDE, SIDE))
            canvases += 1
            continue
        width = max(w, h / 2)
        if free_half is None:
            slots.append(Slot(cx, cy, width, 2 * width, canvases, 0, 0, SIDE // 2, SIDE))
            free_half, canvases = canvases, canvases + 1
        else:
            slots.append(Slot(cx, cy, width, 2 * width, free_half, SIDE // 2, 0, SIDE // 2, SIDE))
            free_half = None
    return slots, canvases


class CropMatte:
    """The selfie network run on person crops; `graph` is the store's ``selfie/selfie.json``."""

    def __init__(self, graph: TfjsGraph):
        self.graph = graph
        self.input, self.output = graph.input_names[0], graph.output_names[0]

    @torch.inference_mode()
    def __call__(self, frame: np.ndarray, boxes: np.ndarray, margin: float = 0.1) -> np.ndarray:
        """float32 NxHxW alpha in [0, 1] for the person in each of Nx4 `boxes` of an HxWx3 uint8 RGB `frame`,
        zero outside the box grown by `margin` of its size on each side."""
        h, w = frame.shape[:2]
        out = np.zeros((len(boxes), h, w), np.float32)
        if len(boxes) == 0:
            return out
        slots, count = layout(boxes)
        canvases = np.zeros((count, SIDE, SIDE, 3), np.uint8)
        for s in slots:
            m = s.to_slot()
            m[:, 2] -= (s.x, s.y)
            canvases[s.canvas, s.y:s.y + s.h, s.x:s.x + s.w] = cv2.warpAffine(
                frame, m, (s.w, s.h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        x = torch.from_numpy(canvases).to(self.graph.device, torch.float32) / 255.0
        alpha = self.graph.run({self.input: x}, [self.output])[self.output][..., 0].float().cpu().numpy()
        for k, (s, box) in enumerate(zip(slots, boxes)):
            x0, y0, x1, y1 = box_region(box, (h, w), margin)
            if x1 <= x0 or y1 <= y0:
                continue
            # frame pixel (x0 + i, y0 + j) -> pixel of this slot's own alpha
            m = s.to_slot()
            m[:, 2] += m[:, :2] @ (x0, y0) - (s.x, s.y)
            out[k, y0:y1, x0:x1] = cv2.warpAffine(alpha[s.canvas, s.y:s.y + s.h, s.x:s.x + s.w], m,
                                                  (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return np.clip(out, 0.0, 1.0, out=out)


def frame_matte(rvm: RobustVideoMatte, frame: np.ndarray, long_side: int = 384) -> np.ndarray:
    """RVM alpha of an HxWx3 uint8 RGB frame, float32 HxW in [0, 1]; the network runs with the frame's
    longest side at `long_side` and its guided filter brings the alpha back to full size."""
    h, w = frame.shape[:2]
    x = torch.from_numpy(frame).to(rvm.device).permute(2, 0, 1)[None].float() / 255.0
    with torch.inference_mode():
        return rvm(x, downsample_ratio=min(1.0, long_side / max(h, w)))[0, 0].float().cpu().numpy()
