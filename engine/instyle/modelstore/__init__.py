"""Model files: the manifest in `weights/`, the verified local store, and fetching from registries."""

from .manifest import ModelEntry, load_manifest
from .store import ModelStore, WeightsError

__all__ = ["ModelEntry", "load_manifest", "ModelStore", "WeightsError"]
