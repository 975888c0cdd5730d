"""The state the engine keeps per shot (`ShotState`), least recently used first, counted in bytes."""

from __future__ import annotations

from collections import OrderedDict

from .frame_state import ShotState
from .memory import held_bytes

MAX_SHOTS = 64


class ShotCache:
    """Shot key -> ShotState; `sizes` holds each state's bytes as last measured (`measure`)."""

    def __init__(self):
        self.shots: OrderedDict[str, ShotState] = OrderedDict()
        self.sizes: dict[str, int] = {}

    def get(self, key: str) -> ShotState:
        """The shot's state (a new one for a shot not held), now the most recently used; beyond MAX_SHOTS
        shots, the least recently used goes."""
        shot = self.shots.pop(key, None) or ShotState()
        self.shots[key] = shot
        while len(self.shots) > MAX_SHOTS:
            self._evict()
        return shot

    def measure(self, key: str) -> None:
        """Count the bytes the shot's state holds now (after a request changed it)."""
        if key in self.shots:
            self.sizes[key] = held_bytes(self.shots[key])

    @property
    def nbytes(self) -> int:
        return sum(self.sizes.values())

    def trim(self, limit: int) -> int:
        """Drop the least recently used states until the measured ones hold at most `limit` bytes, keeping the
        most recently used; returns the bytes dropped."""
        dropped = 0
        while len(self.shots) > 1 and self.nbytes > limit:
            dropped += self._evict()
        return dropped

    def clear(self) -> int:
        """Drop every state; returns the bytes they held."""
        dropped = self.nbytes
        self.shots.clear()
        self.sizes.clear()
        return dropped

    def _evict(self) -> int:
        key, _ = self.shots.popitem(last=False)
        return self.sizes.pop(key, 0)
