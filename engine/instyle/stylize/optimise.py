"""Gatys optimisation with the masked style loss of Localized Style Transfer (Castillo et al. 2017).

The image is optimised so that, inside the mask, its VGG features' Gram matrices match the style image's, while
its deeper features stay close to the content's everywhere and total variation keeps it smooth. Masking the
feature maps before the Gram matrices makes the style statistics those of the masked region alone, so the style
is fitted where it will be shown and the rest of the crop stays near the content.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
LAYERS = (*STYLE_LAYERS, CONTENT_LAYER)
CONTENT_WEIGHT, STYLE_SCALE, TV_WEIGHT = 1.0, 1e4, 1e-3
LEARNING_RATE = 0.02


def masked_gram(features: Tensor, mask: Tensor | None = None) -> Tensor:
    """Gram matrices of features masked before the product, normalised by the mask's area and the channels.

    features: (B, C, h, w); mask: (B, 1, h, w) in [0, 1], or None for the whole map.
    Returns (B, C, C): sum over pixels of (m f)(m f)^T / (C * sum m).
    """
    b, c = features.shape[:2]
    if mask is not None:
        features = features * mask
        area = mask.flatten(1).sum(1).clamp_min(1.0)
    else:
        area = torch.full((b,), float(features.shape[2] * features.shape[3]), device=features.device)
    flat = features.flatten(2)
    return flat @ flat.transpose(1, 2) / (c * area).view(b, 1, 1)


def total_variation(image: Tensor) -> Tensor:
    """Mean squared difference of horizontally and vertically neighbouring pixels of (B, 3, H, W); a scalar."""
    return ((image[..., 1:, :] - image[..., :-1, :]) ** 2).mean() + ((image[..., :, 1:] - image[..., :, :-1]) ** 2).mean()


def layer_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """A (B, 1, H, W) mask in [0, 1] averaged down to a feature map's (h, w)."""
    return F.adaptive_avg_pool2d(mask, size)


def style_grams(features: Callable[..., dict[str, Tensor]], style: Tensor) -> dict[str, Tensor]:
    """The style image's (1, 3, h, w), RGB in [0, 1], Gram matrices {layer: (1, C, C)} over STYLE_LAYERS."""
    with torch.no_grad():
        return {name: masked_gram(f) for name, f in features(style, STYLE_LAYERS).items()}


def optimise(content: Tensor, grams: dict[str, Tensor], mask: Tensor | None,
             features: Callable[..., dict[str, Tensor]], iterations: int, style_weight: float = 1.0,
             on_step: Callable[[int, int], None] = lambda i, n: None) -> Tensor:
    """Stylize `content` by optimising its pixels.

    content: (1, 3, H, W) RGB in [0, 1], the starting image and the content target. grams: the style's
    {layer: (1, C, C)} from :func:`style_grams`. mask: (1, 1, H, W) in [0, 1] where the style loss counts
    (None: everywhere). features(x) returns {layer: (1, C, h, w)} for STYLE_LAYERS and CONTENT_LAYER of an RGB
    [0, 1] image given the layer names to return. on_step(i, iterations) is called after each step (progress; it may raise to cancel).
    Returns (1, 3, H, W) RGB in [0, 1].
    """
    with torch.no_grad():
        target = features(content, (CONTENT_LAYER,))[CONTENT_LAYER]
    image = content.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=LEARNING_RATE)
    for step in range(iterations):
        optimiser.zero_grad(set_to_none=True)
        feats = features(image, LAYERS)
        loss = CONTENT_WEIGHT * F.mse_loss(feats[CONTENT_LAYER], target) + TV_WEIGHT * total_variation(image)
        style_loss = sum(
            F.mse_loss(masked_gram(feats[name], None if mask is None else layer_mask(mask, feats[name].shape[-2:])),
                       gram)
            for name, gram in grams.items())
        (loss + STYLE_SCALE * style_weight * style_loss).backward()
        optimiser.step()
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        on_step(step + 1, iterations)
    return image.detach()
