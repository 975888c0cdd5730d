"""The demo's Blender side (run by build/demo.sh with the Blender venv's Python).

Installs the built extension, builds the graph footage -> Instance Mask -> Instance Tracker -> Neural Style ->
MRF Blend -> output in the compositor (or, with --sequencer, as a Compositor modifier on a Video Sequencer strip of
the footage; with --blender-alone, footage -> output only, the floor instyle is measured against), saves it as
OUT/instyle_demo.blend and renders the frames to OUT/######.png, then writes OUT/timings.json: total milliseconds
per frame; per-part medians over the frames but the first (which starts the engine); each frame's engine stage
times (summed over its requests) and whole-frame passes for key-frame statistics; bytes the engine wrote to the
cache per frame; peak resident memory (MiB) of Blender and of the engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import bpy


def peak_resident_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory (VmHWM) of process `pid` in MiB, or None where /proc does not tell."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kib is None else round(kib / 1024, 1)


def folder_bytes(folder: Path) -> int:
    """Total size in bytes of the files under `folder` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zip", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--engine-python", required=True)
    parser.add_argument("--sequencer", action="store_true", help="run the chain on a Video Sequencer strip")
    parser.add_argument("--blender-alone", action="store_true", help="footage -> output only, without instyle")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=str(args.zip), repo="user_default", enable_on_install=True)
    addon = sys.modules["bl_ext.user_default.instyle"]
    prefs = bpy.context.preferences.addons["bl_ext.user_default.instyle"].preferences
    prefs.engine_python = args.engine_python

    scene = bpy.context.scene
    if args.sequencer:
        addon.sequencer.strip_graph(scene, str(args.input), args.frames)
    else:
        addon.graph_setup.footage_graph(scene, str(args.input), args.frames, chain=not args.blender_alone)
    scene.render.filepath = str(out / "######")
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "instyle_demo.blend"))

    marks: dict[int, float] = {}
    bpy.app.handlers.render_pre.insert(0, lambda s, *_: marks.__setitem__(s.frame_current, time.perf_counter()))
    done: dict[int, float] = {}
    bpy.app.handlers.render_write.append(lambda s, *_: done.__setitem__(s.frame_current, time.perf_counter()))
    cache = addon.paths.cache_root()
    cache_before = folder_bytes(cache)
    started = time.perf_counter()
    bpy.ops.render.render(animation=True)
    wall_s = time.perf_counter() - started
    engine_pid = addon.engine_link.engine_pid()

    hooks = addon.render_hooks
    if hooks.failures:
        print("\n".join(hooks.failures), file=sys.stderr)
        return 1
    frames = sorted(done)
    per_frame = {f: (done[f] - marks[f]) * 1000 for f in frames if f in marks}
    steady = frames[1:] or frames  # the parts' medians leave out the first frame, which starts the engine
    stages: dict[str, list[float]] = {}
    for f in steady:
        for reply in hooks.last_replies.get(f, []):
            for name, ms in reply["timings_ms"].items():
                stages.setdefault(name, []).append(ms)
    addon_ms = [hooks.handler_ms[f] - sum(v for r in hooks.last_replies.get(f, []) for k, v in
                                          r["timings_ms"].items()) for f in steady if f in hooks.handler_ms]
    composite = [per_frame[f] - hooks.handler_ms[f] for f in steady if f in hooks.handler_ms] \
        or [per_frame[f] for f in steady if f in per_frame]  # Blender alone: the whole frame is Blender's
    report = {
        "input": str(args.input), "frames": len(frames), "size": [scene.render.resolution_x, scene.render.resolution_y],
        "graph": "blender_alone" if args.blender_alone else "instyle",
        "engine_device": addon.engine_link.client().welcome["device"] if engine_pid else None,
        "wall_s": round(wall_s, 2),
        "cache_bytes_per_frame": round((folder_bytes(cache) - cache_before) / max(len(frames), 1)),
        "peak_resident_mb": {"blender": peak_resident_mb(),
                             "engine": peak_resident_mb(engine_pid) if engine_pid else None},
        "ms_per_frame": {"total_median": round(statistics.median(per_frame.values()), 1),
                         "total_mean": round(statistics.fmean(per_frame.values()), 1),
                         "engine_stages_median": {k: round(statistics.median(v), 1) for k, v in stages.items()},
                         "addon_overhead_median": round(statistics.median(addon_ms), 1) if addon_ms else None,
                         "blender_composite_and_write_median": round(statistics.median(composite), 1)},
        "per_frame_total_ms": {str(f): round(v, 1) for f, v in per_frame.items()},
        "instances_per_frame": {str(f): sum(len(r["instances"]) for r in hooks.last_replies.get(f, []))
                                for f in frames},
        "per_frame_stages_ms": {str(f): {k: round(sum(r["timings_ms"].get(k, 0.0) for r in replies), 1)
                                         for k in dict.fromkeys(k for r in replies for k in r["timings_ms"])}
                                for f in frames for replies in [hooks.last_replies.get(f, [])]},
        "per_frame_key_passes": {str(f): sum(r["report"].get("neural_style", {}).get("key_passes", 0)
                                             for r in hooks.last_replies.get(f, [])) for f in frames},
    }
    (out / "timings.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report["ms_per_frame"], indent=2))
    return 0


if __name__ == "__main__":
    code = main()
    if "bl_ext.user_default.instyle" in sys.modules:
        sys.modules["bl_ext.user_default.instyle"].engine_link.shutdown()
    sys.exit(code)
