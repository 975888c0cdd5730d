"""The engine's models, loaded on first use through the model store and shared by every client."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import torch

from ..modelstore import ModelStore
from .fast_style import load_fast_style

MEMO_ENTRIES = 64  # what `ModelZoo.memo` keeps


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
        self._memo: OrderedDict[tuple, object] = OrderedDict()
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
            self._memo.clear()
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

    def nanodet(self):
        """NanoDet on the whole frame (see NanoDetDetector): a second opinion on CenterNet's weak person boxes."""
        from .nanodet import NanoDetDetector

        def build():
            self.store.path("nanodet", "nanodet.bin")
            return NanoDetDetector(self.store.path("nanodet", "nanodet.json").parent, self.device)
        return self._get("nanodet", build)

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
        """The 26-style network: torch's FastStyleNet (batches, any device), or on a CPU the published ONNX
        file's weights in a leaner graph under onnxruntime (OnnxFastStyle, one image per call, faster there)."""
        from .fast_style_onnx import OnnxFastStyle

        if self.device.type == "cpu":
            return self._get("multistyle26/onnx", lambda: OnnxFastStyle(
                self.store.path("multistyle26", "multistyle26.onnx"), torch.get_num_threads()))
        return self._get("multistyle26", lambda: load_fast_style(self.store.path("multistyle26", "multistyle26.pt"),
                                                                 self.device))

    def arbitrary_style(self):
        """Magenta's arbitrary style networks under onnxruntime (instyle.models.arbitrary_style)."""
        from .arbitrary_style import MODEL, PREDICT_FILE, TRANSFORM_FILE, ArbitraryStyle

        def build():
            self.store.path(MODEL, PREDICT_FILE)
            return ArbitraryStyle(self.store.path(MODEL, TRANSFORM_FILE).parent, torch.get_num_threads())
        return self._get(MODEL, build)

    def adain(self):
        """AdaIN's encoder and decoder (a separate download: instyle-engine weights fetch adain)."""
        from .adain import MODEL, load_adain

        return self._get(MODEL, lambda: load_adain(self.store, self.device))

    def vgg_features(self, name: str):
        """features(rgb) -> {layer: (B, C, h, w)} of an RGB [0, 1] batch (B, 3, H, W) through `name`'s VGG body
        ("hed_vgg16" offline, or "vgg19" downloaded), normalised as those weights expect."""
        from .vgg_features import caffe_bgr, imagenet_rgb, load_hed_vgg16, load_vgg19

        load, normalise = {"hed_vgg16": (load_hed_vgg16, caffe_bgr), "vgg19": (load_vgg19, imagenet_rgb)}[name]
        net = self._get(name, lambda: load(self.store, self.device))
        return lambda rgb, layers=None: net(normalise(rgb), layers)

    def memo(self, key: tuple, build):
        """What `build()` returns, kept under `key` (the last MEMO_ENTRIES kept): encoded styles, style images,
        key-frame statistics."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = build()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return value

    def memoized(self, key: tuple) -> bool:
        """Whether `memo` keeps something under `key` (it is not touched: its age stays)."""
        with self._lock:
            return key in self._memo
