"""Person (and other COCO) instance masks from torchvision's Mask R-CNN ResNet50-FPN v2.

The weights (``MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1``: COCO val2017 box AP 47.4, mask AP 41.8) need
a download; torchvision's own downloader is not used: the file comes from the model store (sha256-checked)
and is read with ``weights_only=True`` into the architecture built without any weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.models.detection import MaskRCNN, MaskRCNN_ResNet50_FPN_V2_Weights, maskrcnn_resnet50_fpn_v2

from ..modelstore import ModelStore
from ..wire.coco import COCO_CLASSES

MODEL, FILE = "maskrcnn_v2", "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"

# torchvision numbers COCO categories 1..90 with gaps ("N/A"); -1 marks the gaps and the background.
_TO_COCO80 = torch.tensor([COCO_CLASSES.index(name) if name in COCO_CLASSES else -1
                           for name in MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1.meta["categories"]])


@dataclass(frozen=True)
class Instances:
    """N detected objects, best first.

    boxes (N, 4) float32 x1, y1, x2, y2 in image pixels; scores (N,) float32 in 0..1; class_ids (N,) int64,
    0-based indices into :data:`~instyle.wire.coco.COCO_CLASSES` (0 = person); masks (N, H, W) float32
    soft masks in 0..1 at the image's size.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    masks: np.ndarray


def build_maskrcnn() -> MaskRCNN:
    """The architecture with no weights at all (91 torchvision COCO categories)."""
    return maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)


def load_maskrcnn(store: ModelStore, device: str | torch.device = "cpu") -> MaskRCNN:
    """Mask R-CNN v2 in eval mode with the COCO weights from `store`."""
    net = build_maskrcnn()
    net.load_state_dict(torch.load(store.path(MODEL, FILE), map_location="cpu", weights_only=True))
    return net.to(device).eval().requires_grad_(False)


@torch.inference_mode()
def segment(net: MaskRCNN, rgb: np.ndarray, min_score: float = 0.5) -> Instances:
    """Instances in one image.

    rgb: float32 HxWx3 RGB in 0..1 (the network resizes internally: shorter side 800, longer at most 1333).
    Keeps detections scoring at least `min_score` whose class is one of the 80 COCO classes.
    """
    device = next(net.parameters()).device
    image = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1).to(device)
    found = net([image])[0]
    class_ids = _TO_COCO80[found["labels"].cpu()]
    keep = (found["scores"].cpu() >= min_score) & (class_ids >= 0)
    return Instances(boxes=found["boxes"].cpu()[keep].numpy(), scores=found["scores"].cpu()[keep].numpy(),
                     class_ids=class_ids[keep].numpy(), masks=found["masks"].cpu()[keep, 0].numpy())
