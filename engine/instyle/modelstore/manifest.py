"""The weights manifest (`weights/manifest.json`): every model's source, files, checksums and license."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

REPO_MANIFEST = Path(__file__).resolve().parents[3] / "weights" / "manifest.json"


@dataclass(frozen=True)
class FileEntry:
    name: str
    sha256: str
    size: int
    member: str = ""
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
        files = tuple(FileEntry(f["name"], f["sha256"], f["size"], f.get("member", ""), f.get("converter", ""),
                                tuple(f.get("inputs", ()))) for f in m["files"])
        models[m["name"]] = ModelEntry(m["name"], m["stage"], m["task"], m["license"], m.get("restricted", False),
                                       m["source"], files, m.get("input", {}), m.get("metrics", {}))
    return models
