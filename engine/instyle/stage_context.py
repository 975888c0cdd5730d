"""What a stage may use besides the frame it works on (`StageContext`): importable by stages and by anything that
runs them (the service, the benchmarks, tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .frame_state import FrameState, ShotState
from .media import FrameSource, SourceError, footage_identity, is_still
from .models.zoo import ModelZoo
from .scheduler import Cancelled
from .wire.requests import FileSource, Source


class StageContext:
    """What a stage may use besides the frame: models, the shot's state, the frame as uint8; the request's
    source, every stage's parameters (`pipeline`), the folder the running stage writes to (`write_dir`), and the
    stages by name (`stages`, `stages.STAGES` as the service gives it), through which a stage runs another one on
    other frames (`replay`) without importing it.

    `reads` maps each footage frame the request's result is made from (its own, the previous one for temporal
    stabilisation, key frames for crop statistics) to its `media.footage_identity` as it was read; the frames
    written are tagged with them (`wire.footage_tags`). `key_passes` counts the whole-frame passes taken for
    key-frame statistics (`stylize.key_statistics`) in this request."""

    def __init__(self, zoo: ModelZoo, shot: ShotState, frame_uint8: np.ndarray, index: int,
                 is_cancelled=lambda: False, source: Source | None = None, frames: FrameSource | None = None,
                 pipeline: dict | None = None, on_step=lambda stage, step, steps: None, stages: dict | None = None):
        self.models, self.shot, self.frame_uint8, self.index = zoo, shot, frame_uint8, index
        self.is_cancelled, self.on_step = is_cancelled, on_step
        self.stage = ""
        self.source, self.frames, self.pipeline, self.stages = source, frames, pipeline or {}, stages or {}
        self.reads: dict[int, tuple] = {}
        self.key_passes = 0
        self.write_dir: Path | None = None

    @property
    def footage(self) -> str | None:
        """The video or image sequence this request reads (see `media`), whose other frames the engine can
        decode; None for pixels sent by the client or a still image."""
        path = self.source.path if isinstance(self.source, FileSource) else None
        return None if self.frames is None or not path or is_still(path) else path

    def footage_identity(self, index: int) -> tuple:
        """`media.footage_identity` of frame `index` of the footage, recorded in `reads` (the request's result is
        made from that frame) when first asked: call it before reading the frame."""
        if index not in self.reads:
            self.reads[index] = footage_identity(self.footage, index)
        return self.reads[index]

    def for_frame(self, index: int, shot: ShotState) -> StageContext:
        """A context for frame `index` of the same footage (see `footage`) in `shot`, a shot state of the caller's."""
        frame = self.frames.frame(self.footage, index)
        return StageContext(self.models, shot, frame, index, self.is_cancelled, self.source, self.frames,
                            self.pipeline, stages=self.stages)

    def replay(self, stage: str, index: int, shot: ShotState) -> tuple[np.ndarray, FrameState]:
        """Run `stage` with this request's parameters for it on footage frame `index` in `shot` (a shot state of the
        caller's): the frame (uint8 HxWx3 RGB) and its state after the stage."""
        other = self.for_frame(index, shot)
        state = FrameState(rgb=other.frame_uint8.astype(np.float32) / 255.0, index=index)
        self.stages[stage].run(state, self.pipeline[stage], other)
        return other.frame_uint8, state

    def footage_frame(self, index: int) -> np.ndarray | None:
        """Frame `index` of the footage (uint8 HxWx3 RGB): this request's own pixels for its frame, else decoded;
        None for a frame the engine cannot read (past the footage's ends, or no footage to read)."""
        if index == self.index:
            return self.frame_uint8
        if self.footage is None:
            return None
        try:
            return self.frames.frame(self.footage, index)
        except SourceError:
            return None

    def previous_frame(self) -> np.ndarray | None:
        """The footage frame before this one (uint8 HxWx3 RGB): the pixels of the shot's last request when it was
        the frame before (and its file is as it was then), else decoded from the footage; None when neither is at
        hand."""
        if self.index < 1:
            return None
        remembered = self.shot.last_frame if self.shot.last_index == self.index - 1 else None
        if self.footage is None:
            return remembered
        identity = footage_identity(self.footage, self.index - 1)
        if remembered is None or self.shot.last_read != identity:
            try:
                remembered = self.frames.frame(self.footage, self.index - 1)
            except SourceError:  # an image sequence's first frame
                return None
        self.reads.setdefault(self.index - 1, identity)
        return remembered

    def check_cancelled(self) -> None:
        """Iterative stages call this between iterations; raises Cancelled when the request was cancelled."""
        if self.is_cancelled():
            raise Cancelled()

    def report_step(self, step: int, steps: int) -> None:
        """Iterative stages report progress within the frame: `step` of `steps` done."""
        self.on_step(self.stage, step, steps)
