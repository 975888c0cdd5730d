"""The local model store: files laid out as `<root>/<model>/<file>`, verified by sha256 before use."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from ..wire.errors import InstyleError
from .manifest import ModelEntry, load_manifest


class WeightsError(InstyleError):
    """A model file that is missing or does not match its checksum; `hint` says how to repair it."""


def default_root() -> Path:
    """`$INSTYLE_WEIGHTS_DIR`, else `~/.cache/instyle/weights`."""
    return Path(os.environ.get("INSTYLE_WEIGHTS_DIR", Path.home() / ".cache" / "instyle" / "weights"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ModelStore:
    """Hands out verified paths to model files; each file is hashed once per process."""

    def __init__(self, root: Path | None = None, manifest: dict[str, ModelEntry] | None = None):
        self.root = Path(root or default_root())
        self.models = manifest if manifest is not None else load_manifest()
        self._verified: set[Path] = set()
        self._lock = threading.Lock()

    def entry(self, model: str) -> ModelEntry:
        if model not in self.models:
            raise WeightsError("model_unknown", f"no model named {model!r} in the weights manifest",
                               f"known models: {', '.join(self.models)}")
        return self.models[model]

    def path(self, model: str, file: str) -> Path:
        """Path of `file` of `model`, checked against the manifest's size and sha256."""
        self.entry(model).file(file)  # a model or file the manifest lacks is an error here, not a missing file
        path = self.root / model / file
        with self._lock:
            if path in self._verified:
                return path
            problem = self.check(model, file)
            if problem:
                raise WeightsError(f"model_{problem}", f"model file {path} is {problem}", self.repair_hint(model, file))
            self._verified.add(path)
        return path

    def repair_hint(self, model: str, file: str) -> str:
        """How a user makes `file` of `model` present and intact."""
        entry = self.entry(model)
        if entry.offline:
            return f"run `instyle-engine weights fetch {model}` (or build/setup.sh) to repair it"
        f = entry.file(file)
        return (f"run `instyle-engine weights fetch {model}` (needs internet), or download {f.url} by hand "
                f"and put it at {self.root / model / file}")

    def check(self, model: str, file: str, hashed: bool = True) -> str:
        """"" if the file is present and intact, else "missing" or "corrupt".

        `hashed=False` compares only the size (no reading): cheap enough for every handshake and listing;
        the sha256 is checked anyway before a file is used (`path`).
        """
        entry = self.entry(model).file(file)
        path = self.root / model / file
        if not path.is_file():
            return "missing"
        if entry.size is not None and path.stat().st_size != entry.size or hashed and sha256_of(path) != entry.sha256:
            return "corrupt"
        return ""

    def status(self, model: str, hashed: bool = True) -> str:
        """"present", "missing" or "corrupt" for the whole model (see `check` for `hashed`)."""
        problems = {self.check(model, f.name, hashed) for f in self.entry(model).files} - {""}
        return "corrupt" if "corrupt" in problems else "missing" if problems else "present"

    def summary(self) -> list[dict]:
        """Every model's name, license, restricted flag, whether it is offline, and its size-checked status."""
        return [{"name": m.name, "license": m.license, "restricted": m.restricted, "offline": m.offline,
                 "status": self.status(m.name, hashed=False)} for m in self.models.values()]
