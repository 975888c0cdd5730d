#!/usr/bin/env bash
# The benchmarks, in one run, and docs/benchmarks.md from their results:
#   build/benchmarks.sh [--quick] [--device cpu|cuda] [--results DIR] [--docs DIR] [SUITE...]
# Runs every bench suite (or those named) with --json into DIR (default out/benchmarks/), renders the demo
# clip through Blender into DIR/demo/ (its timings.json: end to end with the add-on), records the commit and
# the load average before and after in DIR/run.json, then writes DOCS/benchmarks.md and DOCS/bench/.
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
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        -*) echo "benchmarks.sh: unknown option $1 (use --quick, --device, --results, --docs)" >&2; exit 2 ;;
        *) SUITES+=("$1"); shift ;;
    esac
done
build/setup.sh
[ ${#SUITES[@]} -gt 0 ] || read -r -a SUITES <<< "$(.venv/bin/python -c 'from instyle.bench import SUITES; print(*SUITES)')"
mkdir -p "$RESULTS"
rm -rf "$RESULTS"/*.json "$RESULTS/demo"  # the last run's results, so a failed suite cannot leave an old file
loadavg() { cut -d' ' -f1-3 /proc/loadavg | sed 's/ /, /g'; }
before="$(loadavg)"
for suite in "${SUITES[@]}"; do
    echo "== bench $suite"
    .venv/bin/instyle-engine bench "$suite" --device "$DEVICE" "${QUICK[@]}" --json "$RESULTS/$suite.json"
done
echo "== Blender render of the same clip"
build/demo.sh --frames "$([ ${#QUICK[@]} -gt 0 ] && echo 6 || echo 48)" --out "$RESULTS/demo"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- engine addon build 2>/dev/null || commit="$commit (with uncommitted changes)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 | tr -d '"\\')"
printf '{"cpu": "%s", "commit": "%s", "date": "%s", "loadavg_before": [%s], "loadavg_after": [%s]}\n' \
    "$cpu" "$commit" "$(date -u +%Y-%m-%dT%H:%MZ)" "$before" "$(loadavg)" > "$RESULTS/run.json"
.venv/bin/instyle-engine bench-report "$RESULTS" --docs "$DOCS"
