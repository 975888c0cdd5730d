"""How a bake job is split over a cluster (pure functions on the typed request): what the Analyze pass runs, in
order, before anything fans out, and the chunks of neighbouring frames the workers take."""

from __future__ import annotations

import math
from dataclasses import replace

from ..wire.corrections import TRACKER
from ..wire.requests import JobItem, StageCall


def analyze_calls(pipeline: tuple[StageCall, ...]) -> tuple[StageCall, ...]:
    """What the Analyze pass runs on each of a job's frames, in footage order, before they fan out: the pipeline up
    to and including the Instance Tracker, writing and returning nothing but the shot's track store. Empty when
    there is nothing to record: no tracker, a tracker that tracks in arrival order (`shot_start` -1) or one with
    no folder to write its store to."""
    names = [call.name for call in pipeline]
    if TRACKER not in names:
        return ()
    end = names.index(TRACKER) + 1
    tracker = pipeline[end - 1]
    if tracker.params["shot_start"] < 0 or tracker.write is None:
        return ()
    return tuple(replace(call, write_outputs=(), returns=()) for call in pipeline[:end])


def in_footage_order(items: tuple[JobItem, ...]) -> list[JobItem]:
    """`items` sorted by (footage path, footage frame) of their sources."""
    return sorted(items, key=lambda item: (getattr(item.source, "path", ""), item.source.frame))


def chunks(items: tuple[JobItem, ...], workers: int, chunk_frames: int = 0) -> list[tuple[JobItem, ...]]:
    """`items` in footage order, cut into runs of `chunk_frames` neighbours (0: ceil(len(items) / workers), one run
    per worker), the last run shorter. A worker computes a run's frames in order, so they share temporal state
    (optical flow, key frames) as in a local bake, and only a run's first frame replays the shot from its start
    (`instance_tracker.prepare`): longer runs replay less, shorter ones balance the load and lose less to a lost
    worker. `workers` >= 1, `chunk_frames` >= 0."""
    if workers < 1 or chunk_frames < 0:
        raise ValueError(f"chunks: workers = {workers} must be >= 1 and chunk_frames = {chunk_frames} >= 0")
    ordered = in_footage_order(items)
    size = chunk_frames or max(1, math.ceil(len(ordered) / workers))
    return [tuple(ordered[k:k + size]) for k in range(0, len(ordered), size)]


def handovers(chunks: list[tuple[JobItem, ...]]) -> dict[JobItem, JobItem]:
    """{the last item of a chunk: the first item of the next} wherever the latter's footage frame directly
    follows the former's in the same footage. Once Analyze has computed the former, the Instance Mask stage's
    memory of the shot is what the latter's worker needs to go on from, instead of replaying the shot from its
    start (`instance_mask.checkpoint`)."""
    return {before[-1]: after[0] for before, after in zip(chunks, chunks[1:])
            if getattr(before[-1].source, "path", None) == getattr(after[0].source, "path", None)
            and before[-1].source.frame + 1 == after[0].source.frame}
