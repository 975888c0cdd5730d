#!/usr/bin/env bash
# The benchmarks, in one run, and docs/benchmarks.md from their results:
#   build/benchmarks.sh [--quick] [--device cpu|cuda] [--results DIR] [--docs DIR] [SUITE...]
# Runs every bench suite (or those named) with --json into DIR (default out/benchmarks/), renders the demo
# clip through Blender into DIR/demo/ (its timings.json: end to end with the add-on), renders the same footage
# at each production size (out/footage/) through Blender alone and through instyle into DIR/e2e/WxH/{blender_alone,
# instyle}/, records the commit and the load average before and after in DIR/run.json, then writes
# DOCS/benchmarks.md and DOCS/bench/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RESULTS="$ROOT/out/benchmarks"
DOCS="$ROOT/docs"
DEVICE=cpu
QUICK=()
SUITES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=(--quick); shift ;;
        --device) DEVICE="$2"; shift 2 ;;
        --results) RESULTS="$2"; shift 2 ;;
        --docs) DOCS="$2"; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        -*) echo "benchmarks.sh: unknown option $1 (use --quick, --device, --results, --docs)" >&2; exit 2 ;;
        *) SUITES+=("$1"); shift ;;
    esac
done
build/setup.sh
[ ${#SUITES[@]} -gt 0 ] || read -r -a SUITES <<< "$(.venv/bin/python -c 'from instyle.bench import SUITES; print(*SUITES)')"
mkdir -p "$RESULTS"
# the last run's results, so a failed suite cannot leave an old file
rm -rf "$RESULTS"/*.json "$RESULTS/demo" "$RESULTS/e2e"
loadavg() { cut -d' ' -f1-3 /proc/loadavg | sed 's/ /, /g'; }
before="$(loadavg)"
for suite in "${SUITES[@]}"; do
    echo "== bench $suite"
    .venv/bin/instyle-engine bench "$suite" --device "$DEVICE" "${QUICK[@]}" --json "$RESULTS/$suite.json"
done
echo "== Blender render of the same clip"
build/demo.sh --frames "$([ ${#QUICK[@]} -gt 0 ] && echo 6 || echo 48)" --out "$RESULTS/demo"
# production resolution: WxH:frames (the first frame, which starts the engine, is left out of the figures)
if [ ${#QUICK[@]} -gt 0 ]; then E2E=(768x576:4 1920x1080:4); else E2E=(768x576:48 1920x1080:24 3840x2160:8); fi
for run in "${E2E[@]}"; do
    size="${run%:*}" frames="${run#*:}"
    echo "== $size, $frames frames: Blender alone, then instyle end to end"
    clip="$(.venv/bin/python -m instyle.bench.footage "$size" "$frames")"
    build/demo.sh --input "$clip" --frames "$frames" --out "$RESULTS/e2e/$size/blender_alone" --blender-alone
    build/demo.sh --input "$clip" --frames "$frames" --out "$RESULTS/e2e/$size/instyle"
done
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- engine addon build 2>/dev/null || commit="$commit (with uncommitted changes)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 | tr -d '"\\')"
printf '{"cpu": "%s", "commit": "%s", "date": "%s", "loadavg_before": [%s], "loadavg_after": [%s]}\n' \
    "$cpu" "$commit" "$(date -u +%Y-%m-%dT%H:%MZ)" "$before" "$(loadavg)" > "$RESULTS/run.json"
.venv/bin/instyle-engine bench-report "$RESULTS" --docs "$DOCS"
