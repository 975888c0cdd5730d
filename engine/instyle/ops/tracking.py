"""Identity association between frames."""

from __future__ import annotations

import numpy as np


def match_nearest_centres(previous: dict[int, tuple[float, float]], centres: np.ndarray, max_distance: float,
                          next_id: int) -> tuple[list[int], int]:
    """IST's tracker: each box centre takes the id of the nearest unclaimed previous centre.

    previous: id -> (x, y) centre from the last frame. centres: float Nx2 (x, y) in pixels.
    Pairs are claimed greedily from the closest; a centre farther than `max_distance` pixels from
    every free previous centre gets a new id. Returns (ids in the order of `centres`, next free id).
    """
    ids = [0] * len(centres)
    if previous and len(centres):
        old_ids = list(previous)
        old = np.array([previous[i] for i in old_ids], np.float64)
        dist = np.linalg.norm(centres[:, None, :] - old[None, :, :], axis=2)
        for flat in np.argsort(dist, axis=None):
            r, c = divmod(int(flat), len(old_ids))
            if dist[r, c] > max_distance:
                break
            if ids[r] == 0 and old_ids[c] not in ids:
                ids[r] = old_ids[c]
    for r in range(len(ids)):
        if ids[r] == 0:
            ids[r] = next_id
            next_id += 1
    return ids, next_id
