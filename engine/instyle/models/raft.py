"""Dense optical flow from torchvision's RAFT-small (``Raft_Small_Weights.C_T_V2``).

The weights (FlyingChairs + FlyingThings3D; Sintel train clean EPE 1.99, final 3.28) need a download; the
file comes from the model store (sha256-checked) and is read with ``weights_only=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.optical_flow import RAFT, raft_small

from ..modelstore import ModelStore

MODEL, FILE = "raft_small", "raft_small_C_T_V2-01064c6d.pth"
MIN_SIDE = 128  # the correlation pyramid needs at least 2x2 cells at its coarsest level (1/64 scale)


def load_raft_small(store: ModelStore, device: str | torch.device = "cpu") -> RAFT:
    """RAFT-small in eval mode with the C_T_V2 weights from `store`."""
    net = raft_small(weights=None)
    net.load_state_dict(torch.load(store.path(MODEL, FILE), map_location="cpu", weights_only=True))
    return net.to(device).eval().requires_grad_(False)


@torch.inference_mode()
def estimate_flow(net: RAFT, first: Tensor, second: Tensor, updates: int = 12) -> Tensor:
    """Flow from `first` to `second`.

    first, second: (B, 3, H, W) RGB in 0..1, same shape, H and W at least 128 (padded internally to a
    multiple of 8 by edge replication). `updates` is RAFT's number of recurrent refinements.
    Returns (B, 2, H, W) float32: (dx, dy) in pixels taking each pixel of `first` to `second`.
    """
    if first.shape != second.shape or first.ndim != 4 or first.shape[1] != 3:
        raise ValueError(f"RAFT needs two (B, 3, H, W) images of one shape, got {tuple(first.shape)} and "
                         f"{tuple(second.shape)}")
    h, w = first.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"RAFT needs images at least {MIN_SIDE} px on each side, got {w}x{h}; upscale them")
    pad = (0, -w % 8, 0, -h % 8)
    a, b = (F.pad(x * 2.0 - 1.0, pad, mode="replicate") for x in (first, second))
    return net(a.contiguous(), b.contiguous(), num_flow_updates=updates)[-1][..., :h, :w]
