#!/usr/bin/env bash
# The main job: set up, then render footage through real Blender, the instyle nodes and the engine.
#   build/demo.sh [--input VIDEO_OR_FIRST_IMAGE] [--frames N] [--out DIR] [--sequencer | --blender-alone]
# Writes DIR/000001.png... (the footage's size), DIR/timings.json, DIR/preview.png and DIR/instyle_demo.blend.
# --sequencer runs the chain as a Compositor modifier on a Video Sequencer strip (a movie) instead of the compositor;
# --blender-alone renders the footage straight to the output, without instyle (no preview): the benchmarks' floor.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INPUT=/usr/share/doc/opencv-doc/examples/data/vtest.avi
FRAMES=48
OUT="$ROOT/out/demo"
GRAPH=()
while [ $# -gt 0 ]; do
    case "$1" in
        --input) INPUT="$2"; shift 2 ;;
        --frames) FRAMES="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --sequencer|--blender-alone) GRAPH=("$1"); shift ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "demo.sh: unknown option $1 (use --input, --frames, --out, --sequencer, --blender-alone)" >&2
           exit 2 ;;
    esac
done
"$ROOT/build/setup.sh"
[ -f "$INPUT" ] || { echo "demo.sh: input not found: $INPUT" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export BLENDER_USER_RESOURCES="$OUT/.blender-user" XDG_CACHE_HOME="$OUT/.blender-user/cache"
"$ROOT/.venv-blender/bin/python" "$ROOT/build/demo_render.py" --zip "$(ls "$ROOT"/dist/instyle-*.zip)" \
    --input "$INPUT" --frames "$FRAMES" --out "$OUT" --engine-python "$ROOT/.venv/bin/python" "${GRAPH[@]}"
[ "${GRAPH[*]}" = --blender-alone ] ||
    "$ROOT/.venv/bin/python" "$ROOT/build/demo_preview.py" --input "$INPUT" --out "$OUT"
echo "demo: frames, timings.json and preview.png are in $OUT"
