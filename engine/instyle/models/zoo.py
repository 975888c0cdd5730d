"""The engine's models, loaded on first use through the model store and shared by every client."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np
import torch

from ..modelstore import ModelStore
from .fast_style import load_fast_style, style_vector


def model_bytes(model) -> int:
    """Bytes of the tensors a model holds: a torch module's parameters and buffers, or its tfjs graph's."""
    if isinstance(model, torch.nn.Module):
        return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    return getattr(model, "graph", model).nbytes


class ModelZoo:
    """Lazily built models on one torch device, shared by all clients; the least recently used are unloaded
    when the loaded ones would exceed `budget_bytes`."""

    def __init__(self, store: ModelStore, device: torch.device, budget_bytes: int | None = None):
        self.store = store
        self.device = device
        self.budget_bytes = budget_bytes or int(os.environ.get("INSTYLE_MODEL_BUDGET_MB", "4096")) << 20
        self._models: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, name: str, build):
        with self._lock:
            if name in self._models:
                self._models.move_to_end(name)
                return self._models[name][0]
            model = build()
            size = model_bytes(model)
            while self._models and self.loaded_bytes() + size > self.budget_bytes:
                self._models.popitem(last=False)
            self._models[name] = (model, size)
            return model

    def loaded(self) -> dict[str, int]:
        return {name: size for name, (_, size) in self._models.items()}

    def loaded_bytes(self) -> int:
        return sum(size for _, size in self._models.values())

    def unload_all(self) -> int:
        """Drop every loaded model; returns the bytes released."""
        with self._lock:
            released = self.loaded_bytes()
            self._models.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return released

    def detector(self, tile_size: int | None = None):
        """CenterNet on the whole frame, plus overlapping `tile_size` tiles when given (see CenterNetDetector)."""
        from .detector import CenterNetDetector

        def build():
            self.store.path("centernet", "centernet.bin")
            return CenterNetDetector(self.store.path("centernet", "centernet.json").parent, self.device,
                                     tile_size=tile_size)
        return self._get("centernet" if tile_size is None else f"centernet/tiles{tile_size}", build)

    def crop_matte(self):
        """The selfie network on person crops (instyle.models.person_matte.CropMatte)."""
        from .person_matte import CropMatte
        from .tfjs_graph import TfjsGraph

        def build():
            self.store.path("selfie", "selfie.bin")
            return CropMatte(TfjsGraph(self.store.path("selfie", "selfie.json"), self.device))
        return self._get("selfie", build)

    def maskrcnn(self):
        """torchvision Mask R-CNN v2 with the store's COCO weights (a separate download)."""
        from .maskrcnn import load_maskrcnn

        return self._get("maskrcnn_v2", lambda: load_maskrcnn(self.store, self.device))

    def new_matte(self):
        """A person matte with its own recurrent state (one per shot)."""
        from .matte import RobustVideoMatte

        self.store.path("rvm", "rvm.bin")
        return RobustVideoMatte(self.store.path("rvm", "rvm.json").parent, self.device)

    def fast_style(self):
        return self._get("multistyle26", lambda: load_fast_style(self.store.path("multistyle26", "multistyle26.pt"),
                                                                 self.device))

    @torch.inference_mode()
    def stylize(self, rgb: np.ndarray, styles: list[str], resolution: int = 0) -> np.ndarray:
        """One image in several styles at once.

        rgb: float32 HxWx3 sRGB in [0, 1]. Returns float32 SxHxWx3 in [0, 1], one image per style name.
        `resolution` is the longest side the network runs at (0: the image's own).
        """
        h, w = rgb.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].to(self.device)
        scale = resolution / max(h, w) if resolution else 1.0
        if scale != 1.0:
            x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True,
                                                align_corners=False)
        vectors = torch.stack([style_vector(s) for s in styles]).to(self.device)
        y = self.fast_style()(x.expand(len(styles), -1, -1, -1), vectors)
        if scale != 1.0:
            y = torch.nn.functional.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        return y.clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
