"""Instance Tracker: each instance keeps an id from frame to frame (nearest box centre, as IST)."""

from __future__ import annotations

import numpy as np

from ..frame_state import FrameState
from ..ops.tracking import match_nearest_centres
from ..params import Param, StageSpec

SPEC = StageSpec(
    name="instance_tracker",
    doc="Keep each instance's identity across the frames of a shot.",
    params=(
        Param("max_distance", "float", 0.1, "largest centre movement between frames, as a fraction of the frame "
              "diagonal, that still continues a track", 0.0, 1.0),
    ),
    outputs=("mask", "tracks"),
    requires=("instance_mask",),
)


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Sets each instance's `track_id`; outputs the mask and a pass holding each pixel's track id (0: none)."""
    shot = ctx.shot
    if state.index != shot.last_index + 1:
        shot.track_centres, shot.next_track_id = {}, 1
    h, w = state.size
    centres = np.array([((i.box[0] + i.box[2]) / 2, (i.box[1] + i.box[3]) / 2) for i in state.instances],
                       np.float64).reshape(-1, 2)
    ids, shot.next_track_id = match_nearest_centres(shot.track_centres, centres,
                                                    params["max_distance"] * float(np.hypot(h, w)),
                                                    shot.next_track_id)
    shot.track_centres = {i: tuple(c) for i, c in zip(ids, centres)}
    tracks = np.zeros((h, w), np.float32)
    for instance, track_id in zip(state.instances, ids):
        instance.track_id = track_id
        tracks[instance.mask >= 0.5] = track_id
    return {"mask": state.mask, "tracks": tracks}
