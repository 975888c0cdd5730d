#!/usr/bin/env bash
# The test command: set up (idempotent), then run the engine tests in .venv, the Blender tests in
# .venv-blender (real bpy 5.0.1, the extension installed from the built zip, a real engine process) and the GIMP
# tests from .venv (real GIMP 3 headless in a Debian 13 root that build/gimp_root.sh makes on their first run,
# the plug-in built from gimp/, a real engine process on the host).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
build/setup.sh
export INSTYLE_ENGINE_PYTHON="$ROOT/.venv/bin/python"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/engine tests/addon_unit "$@"
.venv-blender/bin/python -m pytest -q -p no:cacheprovider tests/blender "$@"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/gimp "$@"
# Smoke test of the benchmarks: every suite's quick run, a short Blender render and the report from them
# (out/bench-quick/docs/benchmarks.md); any error fails the tests.
build/benchmarks.sh --quick --results out/bench-quick --docs out/bench-quick/docs
