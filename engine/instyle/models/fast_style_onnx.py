"""The 26-style network under onnxruntime, for CPUs: ``multistyle26.onnx``'s weights in a leaner graph.

The published graph spells each conditional instance norm as nine elementwise and reduction operators; here it
is one ``InstanceNormalization`` whose scale and bias are the style-weighted rows. Its last layer, a 9x9
convolution from 4 to 3 channels at full resolution, wastes most of onnxruntime's 8-channel blocked kernels;
here it runs on the 2x2 space-to-depth image as a 5x5 convolution from 16 to 12 channels at half resolution,
the same sums. The graph is built in memory from the published file's initializers; nothing is written.

Two more graphs from the same builder serve crops: one also returns every norm's statistics (run on a small copy
of the whole frame), the other normalises with given statistics instead of its input's own (run on the crops),
so that a crop is stylized as the frame it is cut from would be, whatever its bounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from .fast_style import LAYERS, NORM_EPS, NUM_STYLES, STRIDE, Statistics

_CONTRACT = (("contract.0", 1), ("contract.1", 2), ("contract.2", 2))
_RESIDUALS = 6
_LAST = "expand.2"
NORMS = ("own", "own+statistics", "given")


class OnnxFastStyle:
    """The 26-style network under onnxruntime (:func:`lean_graph` of the published file). One image per call;
    `nbytes` is the published file's size."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        import onnx
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # three sessions share the cores
        published = onnx.load(str(path))
        self.sessions = {norm: ort.InferenceSession(lean_graph(published, norm).SerializeToString(), options,
                                                    providers=["CPUExecutionProvider"]) for norm in NORMS}
        self.nbytes = Path(path).stat().st_size

    def __call__(self, image: np.ndarray, style: Tensor, statistics: list[Statistics] | None = None) -> np.ndarray:
        """image: float32 HxWx3 RGB in 0..1 (H, W >= 5); style: (26,) weights; statistics: per layer of
        :data:`LAYERS`, the (mean, var) (each (C,)) to normalise with instead of the image's own, from
        :meth:`layer_statistics`. Returns float32 HxWx3 in 0..1."""
        h, w = image.shape[:2]
        feed = self._feed(image, style)
        if statistics is None:
            out = self.sessions["own"].run(["stylized"], feed)[0]
        else:
            for name, (mean, var) in zip(LAYERS, statistics):
                feed[f"{name}.mean"], feed[f"{name}.var"] = mean, var
            out = self.sessions["given"].run(["stylized"], feed)[0]
        return out[0, :, :h, :w].transpose(1, 2, 0)

    def layer_statistics(self, image: np.ndarray, style: Tensor) -> list[Statistics]:
        """Each norm's (mean, var) over `image` (float32 HxWx3 in 0..1), float32 (C,) each, in LAYERS order."""
        names = [f"{name}.{s}" for name in LAYERS for s in ("mean", "var")]
        values = self.sessions["own+statistics"].run(names, self._feed(image, style))
        return [(values[k], values[k + 1]) for k in range(0, len(values), 2)]

    @staticmethod
    def _feed(image: np.ndarray, style: Tensor) -> dict[str, np.ndarray]:
        h, w = image.shape[:2]
        chw = np.ascontiguousarray(image.transpose(2, 0, 1))
        if h % STRIDE or w % STRIDE:
            chw = np.pad(chw, ((0, 0), (0, -h % STRIDE), (0, -w % STRIDE)), mode="reflect")
        return {"image": chw[None], "style_weights": style.numpy().astype(np.float32)}


def lean_graph(published, norm: str = "own"):
    """An onnx ModelProto computing what `published` (multistyle26.onnx, a ModelProto) computes, within float
    rounding, for images (1, 3, H, W) with H and W multiples of 4 and style weights (26,).

    `norm` "own+statistics" adds outputs "<layer>.mean" and "<layer>.var" (C,) for each layer of LAYERS;
    "given" takes them as inputs and normalises with them instead."""
    from onnx import TensorProto, checker, helper, numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in published.graph.initializer}
    nodes, initializers = [], []

    def constant(name: str, value) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    style = node("Unsqueeze", ["style_weights", constant("axis0", np.array([0], np.int64))], "style_row")

    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None]),
              helper.make_tensor_value_info("style_weights", TensorProto.FLOAT, [NUM_STYLES])]
    outputs = [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, 3, None, None])]

    def normalised(x: str, name: str) -> str:
        scale, bias = (node("Squeeze", [node("MatMul", [style, constant(f"{name}.norm.{p}", weights[f"{name}.norm.{p}"])],
                                             f"{name}.{p}_row"), "axis0"], f"{name}.{p}") for p in ("gamma", "beta"))
        channels = [weights[f"{name}.norm.gamma"].shape[1]]
        stats = [f"{name}.mean", f"{name}.var"]
        if norm == "given":
            inputs.extend(helper.make_tensor_value_info(s, TensorProto.FLOAT, channels) for s in stats)
            return node("BatchNormalization", [x, scale, bias, *stats], f"{name}.normed", epsilon=NORM_EPS)
        if norm == "own+statistics":
            mean = node("ReduceMean", [x], f"{name}.mean4", axes=[2, 3])
            centred = node("Sub", [x, mean], f"{name}.centred")
            node("Squeeze", [mean, constant(f"{name}.axes", np.array([0, 2, 3], np.int64))], stats[0])
            node("ReduceMean", [node("Mul", [centred, centred], f"{name}.squares")], stats[1], axes=[0, 2, 3],
                 keepdims=0)
            outputs.extend(helper.make_tensor_value_info(s, TensorProto.FLOAT, channels) for s in stats)
        return node("InstanceNormalization", [x, scale, bias], f"{name}.normed", epsilon=NORM_EPS)

    def padded(x: str, name: str, pad: int) -> str:
        return node("Pad", [x, constant(f"{name}.pads", np.array([0, 0, pad, pad] * 2, np.int64))], f"{name}.padded",
                    mode="reflect")

    def layer(x: str, name: str, stride: int = 1, relu: bool = True) -> str:
        kernel = weights[f"{name}.w"]
        conv = node("Conv", [padded(x, name, kernel.shape[-1] // 2), constant(f"{name}.w", kernel)], f"{name}.conv",
                    kernel_shape=list(kernel.shape[-2:]), strides=[stride, stride])
        return node("Relu", [normalised(conv, name)], f"{name}.out") if relu else normalised(conv, name)

    x = "image"
    for name, stride in _CONTRACT:
        x = layer(x, name, stride)
    for k in range(_RESIDUALS):
        x = node("Add", [x, layer(layer(x, f"res.{k}.0"), f"res.{k}.1", relu=False)], f"res.{k}.sum")
    scales = constant("upsample", np.array([1, 1, 2, 2], np.float32))
    for name in ("expand.0", "expand.1"):
        x = layer(node("Resize", [x, "", scales], f"{name}.up", mode="nearest"), name)
    kernel = weights[f"{_LAST}.w"]
    half = node("SpaceToDepth", [padded(x, _LAST, kernel.shape[-1] // 2)], f"{_LAST}.half", blocksize=2)
    conv = node("Conv", [half, constant(f"{_LAST}.w", space_to_depth_kernel(kernel))], f"{_LAST}.halfconv",
                kernel_shape=[5, 5])
    x = node("DepthToSpace", [conv], f"{_LAST}.conv", blocksize=2, mode="DCR")
    node("Sigmoid", [normalised(x, _LAST)], "stylized")
    graph = helper.make_graph(nodes, "multistyle26_lean", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    checker.check_model(model)
    return model


def space_to_depth_kernel(kernel: np.ndarray) -> np.ndarray:
    """A 9x9 kernel (out, in, 9, 9) as the 5x5 kernel (4 out, 4 in, 5, 5) that gives the same valid convolution
    on 2x2 space-to-depth images, channels ordered as ONNX's SpaceToDepth and DCR DepthToSpace order them
    ((row phase * 2 + column phase) * channels + channel)."""
    c_out, c_in, size, _ = kernel.shape
    out = np.zeros((2, 2, c_out, 2, 2, c_in, 5, 5), np.float32)
    for a in range(2):
        for b in range(2):
            for p in range(2):
                for q in range(2):
                    for u in range(5):
                        for v in range(5):
                            dy, dx = 2 * u + p - a, 2 * v + q - b
                            if 0 <= dy < size and 0 <= dx < size:
                                out[a, b, :, p, q, :, u, v] = kernel[:, :, dy, dx]
    return out.reshape(4 * c_out, 4 * c_in, 5, 5)
