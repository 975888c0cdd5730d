"""TensorFlow ops of tfjs graph models, implemented with torch.

Every tensor is in TensorFlow layout (NHWC for images). Convolutions and pools run on
``x.permute(0, 3, 1, 2)``: a permuted view of a contiguous NHWC tensor is a channels-last NCHW
tensor, which torch takes without a copy, and the result is permuted back the same way.

A builder turns one graph node into a callable, once, when the execution plan is made:
``BUILDERS[op](node, consts)`` where ``consts[i]`` is the value of data input ``i`` when it is a
constant (else ``None``), so weights are re-laid out and parameters parsed only once. The
callable takes the node's data inputs in order and returns a tensor, or a tuple for the ops in
``MULTI_OUTPUT``.

Small integer tensors (shapes, sizes, indices) stay on the CPU; a CPU tensor meeting a tensor
on another device is moved there (see ``_co_locate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Callable

import torch
import torch.nn.functional as F

Fn = Callable[..., Any]


class UnsupportedOpError(NotImplementedError):
    """The graph uses a TensorFlow op (or op variant) this interpreter does not implement."""


class _Dead:
    """Value of a tensor on the untaken side of a ``Switch`` (TensorFlow's "dead" tensor)."""

    def __repr__(self) -> str:
        return "DEAD"


DEAD = _Dead()


@dataclass
class Node:
    """One node of the graph: data inputs are ``(node name, output index)``."""

    name: str
    op: str
    inputs: list[tuple[str, int]] = field(default_factory=list)
    control: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    def unsupported(self, what: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"node {self.name!r} ({self.op}): {what} is not supported")


MULTI_OUTPUT = {"Split", "SplitV", "TopKV2", "Switch", "Merge"}

_DTYPES = {
    "DT_FLOAT": torch.float32,
    "DT_INT32": torch.int32,
    "DT_INT64": torch.int64,
    "DT_BOOL": torch.bool,
}


def torch_dtype(node: Node, tf_dtype: str) -> torch.dtype:
    if tf_dtype not in _DTYPES:
        raise node.unsupported(f"dtype {tf_dtype}")
    return _DTYPES[tf_dtype]


def _ints(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


def _arg(const: torch.Tensor | None, convert: Callable[[torch.Tensor], Any]) -> Callable:
    """Getter for a parameter input: converted once when constant, else on every call."""
    if const is None:
        return convert
    value = convert(const)
    return lambda _: value


def _co_locate(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Move CPU tensors to the device of the others (needed by cat/stack, not by 0-dim operands)."""
    devices = {t.device for t in tensors if t.device.type != "cpu"}
    if not devices:
        return list(tensors)
    (device,) = devices
    return [t.to(device) for t in tensors]


def _cpu_scalar(t: torch.Tensor) -> bool:
    """0-dim CPU tensors combine with tensors on any device without a copy."""
    return t.dim() == 0 and t.device.type == "cpu"


# ---------------------------------------------------------------- element-wise


_BINARY: dict[str, Fn] = {
    "Add": torch.add,
    "AddV2": torch.add,
    "BiasAdd": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "RealDiv": torch.div,
    "FloorDiv": partial(torch.div, rounding_mode="floor"),
    "FloorMod": torch.remainder,
    "Minimum": torch.minimum,
    "Maximum": torch.maximum,
    "Equal": torch.eq,
}

_UNARY: dict[str, Fn] = {
    "Identity": lambda x: x,
    "Relu": torch.relu,
    "Relu6": lambda x: x.clamp(0.0, 6.0),
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "Square": torch.square,
}


def _binary(fn: Fn) -> Callable[[Node, list], Fn]:
    def build(node: Node, consts: list) -> Fn:
        def run(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            if a.device != b.device and not (_cpu_scalar(a) or _cpu_scalar(b)):
                a, b = _co_locate(a, b)
            return fn(a, b)

        return run

    return build


def _unary(fn: Fn) -> Callable[[Node, list], Fn]:
    return lambda node, consts: fn


def _leaky_relu(node: Node, consts: list) -> Fn:
    return partial(F.leaky_relu, negative_slope=node.attrs.get("alpha", 0.2))


def _add_n(node: Node, consts: list) -> Fn:
    return lambda *xs: torch.stack(_co_locate(*xs)).sum(0)


def _cast(node: Node, consts: list) -> Fn:
    dtype = torch_dtype(node, node.attrs["DstT"])
    return lambda x: x.to(dtype)


# ---------------------------------------------------------------- convolution


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one spatial dimension."""
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _spatial_pads(node: Node, hw: tuple[int, int], k: tuple[int, int], s, d) -> list[int]:
    """Pads ``[top, bottom, left, right]`` for the node's ``padding`` attribute."""
    mode = node.attrs.get("padding", "VALID")
    if mode == "VALID":
        return [0, 0, 0, 0]
    if mode == "SAME":
        return [*_same_pads(hw[0], k[0], s[0], d[0]), *_same_pads(hw[1], k[1], s[1], d[1])]
    if mode == "EXPLICIT":
        return list(node.attrs["explicit_paddings"][2:6])
    raise node.unsupported(f"padding {mode}")


def _hw(node: Node, name: str) -> tuple[int, int]:
    """Spatial part of an NHWC 4-vector attribute (strides, dilations, ksize)."""
    n, h, w, c = node.attrs.get(name, [1, 1, 1, 1])
    if n != 1 or c != 1:
        raise node.unsupported(f"{name} over batch or channels")
    return h, w


def _check_nhwc(node: Node) -> None:
    if node.attrs.get("data_format", "NHWC") != "NHWC":
        raise node.unsupported(f"data_format {node.attrs['data_format']}")


def _conv_weight(w: torch.Tensor) -> torch.Tensor:
    """TF filter (kh, kw, in, out) -> torch (out, in, kh, kw), channels-last."""
    return w.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)


def _depthwise_weight(w: torch.Tensor) -> torch.Tensor:
    """TF filter (kh, kw, C, M) -> torch grouped (C*M, 1, kh, kw); output channel c*M + m."""
    kh, kw, c, m = w.shape
    return w.reshape(kh, kw, c * m).permute(2, 0, 1).unsqueeze(1).contiguous()


_FUSED_ACTIVATIONS: dict[str, Fn] = {
    "Relu": torch.relu_,
    "Relu6": lambda y: y.clamp_(0.0, 6.0),
    "Elu": F.elu_,
    "Sigmoid": torch.sigmoid_,
}


def _fused_activation(node: Node) -> tuple[bool, Fn | None]:
    """Parse ``fused_ops`` into (has bias, in-place activation or None)."""
    ops = list(node.attrs.get("fused_ops", []))
    has_bias = ops[:1] == ["BiasAdd"]
    rest = ops[1:] if has_bias else ops
    if not rest:
        return has_bias, None
    if len(rest) == 1 and rest[0] == "LeakyRelu":
        return has_bias, partial(F.leaky_relu_, negative_slope=node.attrs.get("leakyrelu_alpha", 0.2))
    if len(rest) == 1 and rest[0] in _FUSED_ACTIVATIONS:
        return has_bias, _FUSED_ACTIVATIONS[rest[0]]
    raise node.unsupported(f"fused ops {ops}")


def _conv(depthwise: bool) -> Callable[[Node, list], Fn]:
    """Conv2D / DepthwiseConv2dNative, plain or fused (bias + activation)."""

    def build(node: Node, consts: list) -> Fn:
        _check_nhwc(node)
        stride, dilation = _hw(node, "strides"), _hw(node, "dilations")
        weight = _arg(consts[1], _depthwise_weight if depthwise else _conv_weight)
        has_bias, activation = _fused_activation(node)

        def run(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
            wt = weight(w)
            t, bo, left, r = _spatial_pads(node, x.shape[1:3], wt.shape[2:], stride, dilation)
            xn = x.permute(0, 3, 1, 2)
            if t != bo or left != r:
                xn, t, left = F.pad(xn, (left, r, t, bo)), 0, 0
            groups = xn.shape[1] // wt.shape[1]
            y = F.conv2d(xn, wt, b if has_bias else None, stride, (t, left), dilation, groups)
            if activation is not None:
                y = activation(y)
            return y.permute(0, 2, 3, 1)

        return run

    return build


def _conv_transpose(node: Node, consts: list) -> Fn:
    """Conv2DBackpropInput(output size, filter (kh, kw, out, in), x): transposed convolution."""
    _check_nhwc(node)
    stride, dilation = _hw(node, "strides"), _hw(node, "dilations")
    size = _arg(consts[0], _ints)
    weight = _arg(consts[1], lambda w: w.permute(3, 2, 0, 1).contiguous())

    def run(sizes: torch.Tensor, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        _, out_h, out_w, _ = size(sizes)
        wt = weight(w)
        y = F.conv_transpose2d(x.permute(0, 3, 1, 2), wt, stride=stride, dilation=dilation)
        top, _, left, _ = _spatial_pads(node, (out_h, out_w), wt.shape[2:], stride, dilation)
        missing_h = max(top + out_h - y.shape[2], 0)
        missing_w = max(left + out_w - y.shape[3], 0)
        if missing_h or missing_w:
            y = F.pad(y, (0, missing_w, 0, missing_h))
        return y[:, :, top : top + out_h, left : left + out_w].permute(0, 2, 3, 1)

    return run


def _mat_mul(node: Node, consts: list) -> Fn:
    ta, tb = node.attrs.get("transpose_a", False), node.attrs.get("transpose_b", False)

    def run(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a.mT if ta else a, b.mT if tb else b)

    return run


# ---------------------------------------------------------------- pooling and resizing


def _pool(kind: str) -> Callable[[Node, list], Fn]:
    """MaxPool / AvgPool; "SAME" averages count only the pixels inside the image, as in TF."""

    def build(node: Node, consts: list) -> Fn:
        _check_nhwc(node)
        k, s = _hw(node, "ksize"), _hw(node, "strides")

        def run(x: torch.Tensor) -> torch.Tensor:
            pads = _spatial_pads(node, x.shape[1:3], k, s, (1, 1))
            xn = x.permute(0, 3, 1, 2)
            torch_pads = (pads[2], pads[3], pads[0], pads[1])
            if kind == "max":
                if any(pads):
                    xn = F.pad(xn, torch_pads, value=-math.inf)
                y = F.max_pool2d(xn, k, s)
            elif not any(pads):
                y = F.avg_pool2d(xn, k, s)
            else:
                ones = xn.new_ones(1, 1, *xn.shape[2:])
                y = F.avg_pool2d(F.pad(xn, torch_pads), k, s)
                y = y / F.avg_pool2d(F.pad(ones, torch_pads), k, s)
            return y.permute(0, 2, 3, 1)

        return run

    return build


def _mean(node: Node, consts: list) -> Fn:
    axes = _arg(consts[1], _ints)
    keep = node.attrs.get("keep_dims", False)

    def run(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        dims = axes(a)
        return x.mean(dim=dims, keepdim=keep) if dims else x

    return run


@lru_cache(maxsize=64)
def _legacy_axis(n_in: int, n_out: int, device: torch.device):
    """Source rows of TF1 bilinear resizing (no half-pixel centres): ``src = dst * in / out``."""
    src = torch.arange(n_out, dtype=torch.float32, device=device) * (n_in / n_out)
    lo = src.floor().long()
    return lo, (lo + 1).clamp(max=n_in - 1), src - lo


def _resize_legacy(x: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    lo, hi, frac = _legacy_axis(x.shape[1], out_h, x.device)
    x = torch.lerp(x.index_select(1, lo), x.index_select(1, hi), frac.view(1, -1, 1, 1))
    lo, hi, frac = _legacy_axis(x.shape[2], out_w, x.device)
    return torch.lerp(x.index_select(2, lo), x.index_select(2, hi), frac.view(1, 1, -1, 1))


def _resize_bilinear(node: Node, consts: list) -> Fn:
    align = node.attrs.get("align_corners", False)
    legacy = not align and not node.attrs.get("half_pixel_centers", False)
    size = _arg(consts[1], _ints)

    def run(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        out_h, out_w = size(s)
        if legacy:
            return _resize_legacy(x, out_h, out_w)
        y = F.interpolate(x.permute(0, 3, 1, 2), (out_h, out_w), mode="bilinear", align_corners=align)
        return y.permute(0, 2, 3, 1)

    return run


# ---------------------------------------------------------------- shapes and indexing


def _shape(node: Node, consts: list) -> Fn:
    return lambda x: torch.tensor(x.shape, dtype=torch.int32)


def _reshape(node: Node, consts: list) -> Fn:
    shape = _arg(consts[1], _ints)
    return lambda x, s: x.reshape(shape(s))


def _squeeze(node: Node, consts: list) -> Fn:
    dims = tuple(node.attrs.get("squeeze_dims", []))
    return (lambda x: x.squeeze(dims)) if dims else (lambda x: x.squeeze())


def _expand_dims(node: Node, consts: list) -> Fn:
    dim = _arg(consts[1], lambda t: int(t))
    return lambda x, d: x.unsqueeze(dim(d))


def _transpose(node: Node, consts: list) -> Fn:
    perm = _arg(consts[1], _ints)
    return lambda x, p: x.permute(perm(p))


def _broadcast_to(node: Node, consts: list) -> Fn:
    shape = _arg(consts[1], _ints)
    return lambda x, s: x.expand(shape(s))


def _pack(node: Node, consts: list) -> Fn:
    axis = node.attrs.get("axis", 0)
    return lambda *xs: torch.stack(_co_locate(*xs), axis)


def _concat(node: Node, consts: list) -> Fn:
    axis = _arg(consts[-1], lambda t: int(t))
    return lambda *xs: torch.cat(_co_locate(*xs[:-1]), axis(xs[-1]))


def _split(node: Node, consts: list) -> Fn:
    """Split(axis, x) into ``num_split`` equal parts."""
    n = node.attrs["num_split"]
    axis = _arg(consts[0], lambda t: int(t))

    def run(a: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dim = axis(a)
        return torch.split(x, x.shape[dim] // n, dim)

    return run


def _split_v(node: Node, consts: list) -> Fn:
    """SplitV(x, sizes, axis); one size may be -1 (the rest)."""
    sizes, axis = _arg(consts[1], _ints), _arg(consts[2], lambda t: int(t))

    def run(x: torch.Tensor, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dim, parts = axis(a), list(sizes(s))
        if -1 in parts:
            parts[parts.index(-1)] = x.shape[dim] - (sum(parts) + 1)
        return torch.split(x, parts, dim)

    return run


def _slice(node: Node, consts: list) -> Fn:
    begin, size = _arg(consts[1], _ints), _arg(consts[2], _ints)

    def run(x: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return x[tuple(slice(i, None if n == -1 else i + n) for i, n in zip(begin(b), size(s)))]

    return run


def _strided_slice(node: Node, consts: list) -> Fn:
    """StridedSlice with all five masks, mapped onto torch basic indexing."""
    masks = {m: node.attrs.get(f"{m}_mask", 0) for m in ("begin", "end", "ellipsis", "new_axis", "shrink_axis")}

    def index(begin: list[int], end: list[int], strides: list[int]) -> tuple:
        if any(s < 0 for s in strides):
            raise node.unsupported("negative strides")
        items: list = []
        for i, (b, e, s) in enumerate(zip(begin, end, strides)):
            if masks["ellipsis"] >> i & 1:
                items.append(Ellipsis)
            elif masks["new_axis"] >> i & 1:
                items.append(None)
            elif masks["shrink_axis"] >> i & 1:
                items.append(b)
            else:
                items.append(slice(None if masks["begin"] >> i & 1 else b, None if masks["end"] >> i & 1 else e, s))
        return tuple(items)

    if all(c is not None for c in consts[1:]):
        fixed = index(*(_ints(c) for c in consts[1:]))
        return lambda x, b, e, s: x[fixed]
    return lambda x, b, e, s: x[index(_ints(b), _ints(e), _ints(s))]


def _torch_pads(paddings: list[int]) -> tuple[int, ...]:
    """TF paddings [[before, after]] per dim, flattened -> F.pad order (last dim first)."""
    pairs = [paddings[i : i + 2] for i in range(0, len(paddings), 2)]
    return tuple(v for pair in reversed(pairs) for v in pair)


def _pad(node: Node, consts: list) -> Fn:
    """Pad / PadV2 (constant value)."""
    pads = _arg(consts[1], lambda t: _torch_pads(_ints(t)))
    if node.op == "Pad":
        return lambda x, p: F.pad(x, pads(p))
    value = _arg(consts[2], lambda t: t.item())
    return lambda x, p, v: F.pad(x, pads(p), value=value(v))


def _space_to_batch(node: Node, consts: list) -> Fn:
    """SpaceToBatchND on NHWC with a 2-d block (the dilated-convolution idiom)."""
    block, pads = _arg(consts[1], _ints), _arg(consts[2], _ints)

    def run(x: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        bh, bw = block(b)
        top, bottom, left, right = pads(p)
        x = F.pad(x, (0, 0, left, right, top, bottom))
        n, h, w, c = x.shape
        x = x.reshape(n, h // bh, bh, w // bw, bw, c).permute(2, 4, 0, 1, 3, 5)
        return x.reshape(bh * bw * n, h // bh, w // bw, c)

    return run


def _batch_to_space(node: Node, consts: list) -> Fn:
    """BatchToSpaceND on NHWC with a 2-d block, inverse of ``_space_to_batch``."""
    block, crops = _arg(consts[1], _ints), _arg(consts[2], _ints)

    def run(x: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        bh, bw = block(b)
        top, bottom, left, right = crops(c)
        nb, h, w, ch = x.shape
        x = x.reshape(bh, bw, nb // (bh * bw), h, w, ch).permute(2, 3, 0, 4, 1, 5)
        x = x.reshape(nb // (bh * bw), h * bh, w * bw, ch)
        return x[:, top : h * bh - bottom, left : w * bw - right]

    return run


def _gather(node: Node, consts: list) -> Fn:
    """GatherV2(params, indices, axis) with batch_dims 0."""
    if node.attrs.get("batch_dims", 0):
        raise node.unsupported("batch_dims != 0")
    axis = _arg(consts[2], lambda t: int(t))

    def run(params: torch.Tensor, indices: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        dim = axis(a) % params.dim()
        picked = params.index_select(dim, indices.reshape(-1).long().to(params.device))
        return picked.reshape(*params.shape[:dim], *indices.shape, *params.shape[dim + 1 :])

    return run


def _sparse_to_dense(node: Node, consts: list) -> Fn:
    """SparseToDense(indices, output_shape, values, default): a dense tensor of `output_shape` holding `default`
    except `values` (one each, or one for all) at `indices` (N, or N x rank)."""

    def run(indices: torch.Tensor, shape: torch.Tensor, values: torch.Tensor, default: torch.Tensor) -> torch.Tensor:
        size = _ints(shape)
        out = torch.full(size, default.item(), dtype=values.dtype, device=values.device)
        index = indices.long().reshape(-1, len(size)).t().to(out.device)
        out[tuple(index)] = values.reshape(-1).to(out.device)
        return out

    return run


def _top_k(node: Node, consts: list) -> Fn:
    k = _arg(consts[1], lambda t: int(t))

    def run(x: torch.Tensor, kk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values, indices = torch.topk(x, k(kk), dim=-1, sorted=True)
        return values, indices.int()

    return run


# ---------------------------------------------------------------- control flow


def _switch(node: Node, consts: list) -> Fn:
    """Switch(data, pred) -> (data if not pred, data if pred); the other output is DEAD."""

    def run(data: Any, pred: torch.Tensor) -> tuple[Any, Any]:
        return (DEAD, data) if bool(pred) else (data, DEAD)

    return run


def _merge(node: Node, consts: list) -> Fn:
    """Merge(*inputs) -> (the live input, its index); DEAD only when every input is."""

    def run(*xs: Any) -> tuple[Any, Any]:
        for i, x in enumerate(xs):
            if x is not DEAD:
                return x, torch.tensor(i, dtype=torch.int32)
        return DEAD, DEAD

    return run


def _no_op(node: Node, consts: list) -> Fn:
    return lambda: None


BUILDERS: dict[str, Callable[[Node, list], Fn]] = {
    **{op: _binary(fn) for op, fn in _BINARY.items()},
    **{op: _unary(fn) for op, fn in _UNARY.items()},
    "LeakyRelu": _leaky_relu,
    "AddN": _add_n,
    "Cast": _cast,
    "Conv2D": _conv(depthwise=False),
    "_FusedConv2D": _conv(depthwise=False),
    "DepthwiseConv2dNative": _conv(depthwise=True),
    "FusedDepthwiseConv2dNative": _conv(depthwise=True),
    "Conv2DBackpropInput": _conv_transpose,
    "MatMul": _mat_mul,
    "MaxPool": _pool("max"),
    "AvgPool": _pool("avg"),
    "Mean": _mean,
    "ResizeBilinear": _resize_bilinear,
    "Shape": _shape,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "ExpandDims": _expand_dims,
    "Transpose": _transpose,
    "BroadcastTo": _broadcast_to,
    "Pack": _pack,
    "ConcatV2": _concat,
    "Split": _split,
    "SplitV": _split_v,
    "Slice": _slice,
    "StridedSlice": _strided_slice,
    "Pad": _pad,
    "PadV2": _pad,
    "SpaceToBatchND": _space_to_batch,
    "BatchToSpaceND": _batch_to_space,
    "GatherV2": _gather,
    "SparseToDense": _sparse_to_dense,
    "TopKV2": _top_k,
    "Switch": _switch,
    "Merge": _merge,
    "NoOp": _no_op,
}
