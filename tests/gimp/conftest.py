"""Fixtures for the GIMP tests: the Debian 13 root with GIMP 3 (built by build/gimp_root.sh where missing), the
plug-in built by build/build_gimp_plugin.py and installed in a fresh GIMP profile, and a real engine on the host.
Run with the engine's venv (.venv), which also starts the engine."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ..conftest import ROOT
from ..engine.conftest import start_engine, stop_engine
from .gimp_root import GIMP_PLUGINS, ensure_root, run_batch, why_no_root

sys.path.insert(0, str(ROOT / "build"))
import build_gimp_plugin  # noqa: E402

PRELUDE = Path(__file__).with_name("batch_prelude.py")


@pytest.fixture(scope="session")
def plugin(tmp_path_factory) -> Path:
    """The built plug-in folder; its modules (and its copy of the wire package) importable by unit tests."""
    folder = build_gimp_plugin.build(tmp_path_factory.mktemp("gimp-plugin"))
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    for name in [n for n in sys.modules if n in ("procedures", "engine_link", "pixels", "settings") or n.split(".")[0] == "wire"]:
        del sys.modules[name]


@pytest.fixture(scope="session")
def gimp_root() -> Path:
    reason = why_no_root()
    if reason:
        pytest.skip(reason)
    return ensure_root()


@pytest.fixture(scope="session")
def host_engine(tmp_path_factory):
    engine = start_engine(tmp_path_factory.mktemp("gimp-engine"))
    yield engine
    stop_engine(engine)


@dataclass
class BatchRun:
    """One GIMP batch run: its console `output`, the `results` it recorded and the pixels it saved in `work`."""

    output: str
    results: dict
    work: Path

    def pixels(self, name: str) -> np.ndarray:
        h, w = self.results["sizes"][name]
        data = np.fromfile(self.work / f"{name}.raw", np.uint8)
        return data.reshape(h, w, -1).squeeze(-1) if data.size == h * w else data.reshape(h, w, 3)


@pytest.fixture
def gimp(gimp_root, plugin, tmp_path):
    """gimp(script, env, display=False): run `script` (Python, after batch_prelude.py) in `gimp-console-3.0 -i`
    with the plug-in installed (on a virtual X display with `display`); fails unless GIMP reports the batch
    command successful."""

    def run(script: str, env: dict[str, str], display: bool = False) -> BatchRun:
        installed = tmp_path / "home" / GIMP_PLUGINS / "instyle"
        if not installed.exists():
            build_gimp_plugin.build(installed.parent)
        batch = tmp_path / "batch.py"
        batch.write_text(f"WORK = {str(tmp_path)!r}\n" + PRELUDE.read_text() + "\n" + script + "\nrecord()\n")
        done = run_batch(gimp_root, tmp_path, batch, env, display)
        assert done.returncode == 0 and "batch command executed successfully" in done.stdout, done.stdout[-4000:]
        return BatchRun(done.stdout, json.loads((tmp_path / "results.json").read_text()), tmp_path)

    return run
