"""AdaIN arbitrary style transfer (Huang & Belongie 2017) with the PyTorch port's released weights.

The weights (naoto0804/pytorch-AdaIN release v0.0.0, MIT) need a download: ``vgg_normalised.pth``, the
normalised VGG19 encoder whose first 1x1 convolution takes RGB in 0..1, and ``decoder.pth``. Both are
``nn.Sequential`` state_dicts, so the layer order below (reflection pads, ReLUs, pools and upsamplings
included) fixes the key names ``"<index>.weight"``; :func:`load_adain` loads them strictly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..modelstore import ModelStore

MODEL, ENCODER_FILE, DECODER_FILE = "adain", "vgg_normalised.pth", "decoder.pth"

# Encoder: after the 1x1 input conv, VGG19 blocks of 3x3 convs; "M" is a 2x2 max-pool (ceil mode).
_ENCODER = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
# Decoder: 3x3 convs with ReLU (the last without), "U" a 2x nearest upsampling.
_DECODER = (256, "U", 256, 256, 256, 128, "U", 128, 64, "U", 64, 3)
ENCODER_OUTPUTS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def vgg_normalised() -> nn.Sequential:
    """The whole released encoder (to relu5_4), layer for layer as the state_dict expects."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    c_in = 3
    for item in _ENCODER:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(c_in, item, 3), nn.ReLU()]
            c_in = item
    return nn.Sequential(*layers)


def decoder() -> nn.Sequential:
    """The released decoder: relu4_1 features (B, 512, h, w) -> RGB image (B, 3, 8h, 8w)."""
    layers: list[nn.Module] = []
    c_in = 512
    for item in _DECODER:
        if item == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(c_in, item, 3), nn.ReLU()]
            c_in = item
    return nn.Sequential(*layers[:-1])


class AdaINEncoder(nn.Module):
    """The encoder up to relu4_1 (the layers AdaIN uses), returning named outputs."""

    # Index just past each named ReLU in :func:`vgg_normalised`'s layer list.
    _ENDS = {"relu1_1": 4, "relu2_1": 11, "relu3_1": 18, "relu4_1": 31}

    def __init__(self, full: nn.Sequential) -> None:
        super().__init__()
        self.layers = full[: self._ENDS["relu4_1"]]

    def forward(self, rgb: Tensor, layers: tuple[str, ...] = ENCODER_OUTPUTS) -> dict[str, Tensor]:
        """rgb: (B, 3, H, W) RGB in 0..1. Returns {name: (B, C, ceil(H / 2**k), ceil(W / 2**k))} for the
        asked names among relu1_1 (C 64, k 0), relu2_1 (128, 1), relu3_1 (256, 2), relu4_1 (512, 3)."""
        unknown = set(layers) - set(ENCODER_OUTPUTS)
        if unknown:
            raise KeyError(f"unknown AdaIN encoder layers {sorted(unknown)}; expected some of {ENCODER_OUTPUTS}")
        out, start, x = {}, 0, rgb
        for name in ENCODER_OUTPUTS:
            end = self._ENDS[name]
            x = self.layers[start:end](x)
            start = end
            if name in layers:
                out[name] = x
                if len(out) == len(layers):
                    break
        return out


def calc_mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-sample, per-channel mean and std of (B, C, H, W) features, each (B, C, 1, 1).

    The std uses the unbiased variance plus `eps` (as the reference code), so H * W must be > 1.
    """
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1)
    return flat.mean(dim=2).view(b, c, 1, 1), (flat.var(dim=2) + eps).sqrt().view(b, c, 1, 1)


def adaptive_instance_normalization(content: Tensor, style: Tensor) -> Tensor:
    """Content features (B, C, H, W) re-scaled to the channel mean and std of style features (B, C, h, w)."""
    if content.shape[:2] != style.shape[:2]:
        raise ValueError(f"content features {tuple(content.shape)} and style features {tuple(style.shape)} "
                         "differ in batch or channels")
    style_mean, style_std = calc_mean_std(style)
    content_mean, content_std = calc_mean_std(content)
    return (content - content_mean) / content_std * style_std + style_mean


class AdaIN(nn.Module):
    """Encoder + decoder: one forward pass stylizes content images with style images."""

    def __init__(self, full_encoder: nn.Sequential) -> None:
        super().__init__()
        self.encoder = AdaINEncoder(full_encoder)
        self.decoder = decoder()

    def forward(self, content: Tensor, style: Tensor, alpha: float = 1.0) -> Tensor:
        """Stylize `content` (B, 3, H, W) with `style` (B, 3, h, w), both RGB in 0..1, any sizes >= 8.

        alpha in [0, 1] mixes the AdaIN features with the content's own (0: the content re-decoded).
        Returns (B, 3, 8 * ceil(H / 8), 8 * ceil(W / 8)) RGB, roughly 0..1 and not clamped.
        """
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        content_feat = self.encoder(content, ("relu4_1",))["relu4_1"]
        style_feat = self.encoder(style, ("relu4_1",))["relu4_1"]
        feat = adaptive_instance_normalization(content_feat, style_feat)
        return self.decoder(alpha * feat + (1.0 - alpha) * content_feat)


def load_adain(store: ModelStore, device: str | torch.device = "cpu") -> AdaIN:
    """AdaIN in eval mode with the released encoder and decoder from `store` (sha256-checked)."""
    full = vgg_normalised()
    full.load_state_dict(torch.load(store.path(MODEL, ENCODER_FILE), map_location="cpu", weights_only=True))
    net = AdaIN(full)
    net.decoder.load_state_dict(torch.load(store.path(MODEL, DECODER_FILE), map_location="cpu", weights_only=True))
    return net.to(device).eval().requires_grad_(False)
