"""What the stages of one pipeline run hand to each other for one frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NO_REQUEST = -2  # ShotState.last_index before the shot's first request (never a frame's index, nor one before)


@dataclass
class Instance:
    """One detected object: box (x1, y1, x2, y2) in pixels, soft mask float32 HxW in [0, 1].

    `weak`: the detector scored it under its threshold; only the Instance Tracker keeps such an instance, when
    it continues a person already followed (see `stages.instance_mask`).

    `stylized` (set by neural_style) is the frame in this instance's own style, float32 hxwx3 sRGB in [0, 1],
    over `stylized_region` (x0, y0, x1, y1); MRF Blend mixes it where instances in different styles meet.
    """

    box: tuple[float, float, float, float]
    class_name: str
    score: float
    mask: np.ndarray
    track_id: int = 0
    style: str = ""
    stylized: np.ndarray | None = None
    stylized_region: tuple[int, int, int, int] = (0, 0, 0, 0)
    weak: bool = False

    def describe(self) -> dict:
        return {"box": [round(v, 2) for v in self.box], "class": self.class_name, "score": round(self.score, 4),
                "track_id": self.track_id, "style": self.style, "area": int((self.mask >= 0.5).sum())}


@dataclass
class FrameState:
    """`rgb` is the source frame, float32 HxWx3 sRGB in [0, 1]; the rest is filled in by stages.

    `owner` (int32 HxW, set by neural_style with instances) is the index in `instances` of the instance whose
    style each pixel of `stylized` holds: the nearest one.

    `person_alpha` (set by instance_mask where it ran Robust Video Matting on the frame, else None) is that whole-frame
    person matte, float32 HxW in [0, 1], for the people the Instance Tracker holds where the detector missed them.

    `corrections` (set by instance_tracker) is the digest of the artist's corrections that reach this frame; the
    frames written from the tracker on are tagged with it (`wire.corrections`).
    """

    rgb: np.ndarray
    index: int
    instances: list[Instance] | None = None
    mask: np.ndarray | None = None
    person_alpha: np.ndarray | None = None
    stylized: np.ndarray | None = None
    owner: np.ndarray | None = None
    alpha: np.ndarray | None = None
    blended: np.ndarray | None = None
    corrections: str | None = None
    report: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]


@dataclass
class ShotState:
    """What persists between frames of one shot: the tracker's session, the Instance Mask stage's memory
    (matte recurrent state, carried boxes, smoothing), the last request's frame (uint8 HxWx3 RGB) and the
    `media.footage_identity` it was read at (None for pixels), Neural Style's renderings of it (for temporal
    stabilisation of the next) and the last key frame it decoded (`stylize.key_statistics`)."""

    last_index: int = NO_REQUEST
    last_frame: object = None
    last_read: tuple | None = None
    tracking: object = None  # the Instance Tracker's session (stages.instance_tracker.Session)
    mask_memory: object = None  # stages.instance_mask.ShotMemory
    style_memory: dict = field(default_factory=dict)  # neural_style: ((index, identity), key) -> [(region, image)]
    key_frame: tuple | None = None  # (footage identity, index, uint8 HxWx3 RGB)
