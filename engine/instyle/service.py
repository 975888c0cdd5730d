"""Runs `run` requests (decode the source, run the pipeline's stages, write and return their outputs) and
`corrections` requests (which of the Instance Tracker's corrections reach each of a list of frames). The requests
come typed (`wire.requests`); what stages may use is their `stage_context`; pixels travel by `pixel_transport`;
failures are `InstyleError`s, answered by `failures`."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import torch

from . import __version__, cache_format
from .cache_errors import cache_error
from .frame_state import FrameState, ShotState
from .memory import default_budget, resident_bytes, return_freed_memory
from .media import FrameSource, footage_identity, is_sequence, is_still
from .modelstore import ModelStore
from .models.zoo import ModelZoo
from .pixel_transport import Outputs, attached, source_frame, source_pixels
from .shot_cache import ShotCache
from .stage_context import StageContext
from .stages import STAGES, instance_tracker
from .wire import PROTOCOL_VERSION, InstyleError
from .wire.atomic_files import sweep_temporary, write_atomic
from .wire.cache_files import frame_file
from .wire.corrections import TRACKER, corrections_key, tagged, write_tag
from .wire.footage_tags import write_tag as write_footage_tag
from .wire.requests import CorrectionsRequest, EchoRequest, FileSource, RunRequest, Source, StageCall
from .wire.runtime import process_alive

SWEEP_INTERVAL_S = 60.0  # how often a cache folder being written is swept of temporary files killed writers left
WRITERS = 2  # threads writing cache frames while the next stages run




class Service:
    """The engine's state shared by all clients; `run` is serialised on one lock (one device).

    After each request, per-shot state is dropped, least recently used first, while the engine's resident memory
    exceeds `memory_budget` bytes (default: `memory.default_budget`)."""

    def __init__(self, device: torch.device, store: ModelStore | None = None, memory_budget: int | None = None):
        self.device = device
        self.zoo = ModelZoo(store or ModelStore(), device)
        self.frames = FrameSource()
        self.shots = ShotCache()
        self.memory_budget = memory_budget or default_budget()
        self.lock = threading.Lock()
        self.writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="instyle-exr")
        self.swept: dict[Path, float] = {}  # cache folder -> when it was last swept (time.monotonic())

    def describe(self) -> dict:
        """The handshake body: versions, device, every stage with its typed parameters, and every model with
        its license, restricted flag and (size-checked) status."""
        return {"type": "welcome", "protocol": PROTOCOL_VERSION, "engine_version": __version__,
                "device": str(self.device), "stages": {name: m.SPEC.describe() for name, m in STAGES.items()},
                "models": self.zoo.store.summary()}

    def free_memory(self) -> dict:
        """Unload every model and drop all per-shot state (models load again when next needed; a shot's next
        frame starts its state afresh); `released_bytes` counts both."""
        with self.lock:
            released = self.zoo.unload_all() + self.shots.clear()
        return_freed_memory()
        return {"released_bytes": released}

    def execute(self, request: RunRequest | CorrectionsRequest, payloads: list, is_cancelled=lambda: False,
                on_step=lambda stage, step, steps: None) -> tuple[dict, list]:
        """Serve a request the scheduler runs: a `corrections` request, else a `run` (as each frame of a job is)."""
        if isinstance(request, CorrectionsRequest):
            return self.corrections(request, is_cancelled), []
        return self.run(request, payloads, is_cancelled, on_step)

    def run(self, request: RunRequest, payloads: list, is_cancelled=lambda: False,
            on_step=lambda stage, step, steps: None) -> tuple[dict, list]:
        """Handle one `run` request; raises InstyleError for anything the client must fix.
        Iterative stages call `on_step(stage, step, steps)` as they go. Frames written from the Instance Tracker
        on are tagged with the corrections that reach them once they are complete (`wire.corrections`)."""
        calls, frame_number, shot_key = request.pipeline, request.frame_number, request.shot
        with self.lock, attached(request.shm) as segment:
            t0 = time.perf_counter()
            read = _footage_read(request.source)
            frame, index = self._decode(request.source, payloads, segment)
            timings = {"decode": (time.perf_counter() - t0) * 1000}
            shot = self._shot(shot_key)
            state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index)
            ctx = StageContext(self.zoo, shot, frame, index, is_cancelled, request.source, self.frames,
                               {c.name: c.params for c in calls}, on_step, STAGES)
            ctx.reads.update(read)
            out, writing = Outputs(segment, request.shm, request.source), []
            try:
                for call in calls:  # stages that must see the request before any stage runs (see `prepare`)
                    prepare = getattr(STAGES[call.name], "prepare", None)
                    if prepare is not None:
                        ctx.write_dir, ctx.stage, t = call.write, call.name, time.perf_counter()
                        report = _located(prepare, call.name, call.params, ctx)
                        state.report.setdefault(call.name, {}).update(report)
                        timings[f"{call.name}.prepare"] = (time.perf_counter() - t) * 1000
                for call in calls:
                    ctx.check_cancelled()
                    ctx.write_dir, ctx.stage = call.write, call.name
                    t = time.perf_counter()
                    try:
                        outputs = _located(STAGES[call.name].run, call.name, state, call.params, ctx)
                    except OSError as exc:
                        if call.write is None or not exc.filename or not Path(exc.filename).is_relative_to(call.write):
                            raise
                        raise cache_error(exc, call.write, call.name) from None  # its own files
                    timings[call.name] = (time.perf_counter() - t) * 1000
                    t = time.perf_counter()
                    if call.write:
                        writing += self._write(call, outputs, frame_number)
                    for name in call.returns:
                        out.add(f"{call.name}.{name}", np.asarray(outputs[name], dtype=np.float32))
                    timings[f"{call.name}.output"] = (time.perf_counter() - t) * 1000
            finally:
                shot.last_index, shot.last_frame, shot.last_read = index, frame, ctx.reads.get(index)
                t = time.perf_counter()
                wait(writing)
                timings["writes"] = (time.perf_counter() - t) * 1000
                self.shots.measure(shot_key)
                self._keep_budget()
            written = [f.result() for f in writing] + self._tag(calls, state, frame_number)
            written += _tag_footage(calls, ctx, frame_number)
        reply = {"type": "result", "id": request.id, "arrays": out.specs, "written": written,
                 "timings_ms": {k: round(v, 3) for k, v in timings.items()},
                 "instances": [i.describe() for i in state.instances or []], "report": state.report,
                 "size": [state.size[1], state.size[0]]}
        return reply, out.payloads

    def corrections(self, request: CorrectionsRequest, is_cancelled=lambda: False) -> dict:
        """Handle a `corrections` request: for each item (a footage frame, as a job's items name it), the digest of
        the Instance Tracker's corrections that reach it, as a `run` of it in the request's shot would tag it
        (`instance_tracker.corrections_digest`); no stage runs on the frames themselves."""
        calls = request.pipeline
        tracker = next((c for c in calls if c.name == TRACKER), None)
        if tracker is None:
            raise InstyleError("bad_request", "a corrections request needs an instance_tracker stage in its pipeline",
                               "send the pipeline up to the Instance Tracker whose corrections changed")
        pipeline, applied = {c.name: c.params for c in calls}, []
        with self.lock:
            shot = self._shot(request.shot)
            for item in request.items:
                frame, index = self._decode(item.source, [])
                ctx = StageContext(self.zoo, shot, frame, index, is_cancelled, item.source, self.frames, pipeline,
                                   stages=STAGES)
                ctx.write_dir, ctx.stage = tracker.write, tracker.name
                ctx.check_cancelled()
                applied.append(instance_tracker.corrections_digest(tracker.params, ctx))
        return {"type": "result", "id": request.id, "applied": applied}

    def echo(self, request: EchoRequest, payloads: list) -> tuple[dict, list]:
        """Send the source pixels straight back (transport check and benchmark): no stage runs."""
        with attached(request.shm) as segment:
            data = source_pixels(request.source, payloads, segment)
            out = Outputs(segment, request.shm, request.source)
            out.add("echo.image", data)
            return {"type": "result", "id": request.id, "arrays": out.specs}, out.payloads

    def _decode(self, source: Source, payloads: list, segment=None) -> tuple[np.ndarray, int]:
        """The source's frame (uint8 HxWx3 RGB) and its footage frame index."""
        if isinstance(source, FileSource):
            return self.frames.frame(source.path, source.frame), source.frame
        return source_frame(source, payloads, segment), source.frame

    def _shot(self, key: str) -> ShotState:
        return self.shots.get(key)

    def _keep_budget(self) -> None:
        """Drop least recently used shot states (never the one just used) while the resident memory exceeds the
        budget."""
        if resident_bytes() <= self.memory_budget:
            return
        return_freed_memory()
        over = resident_bytes() - self.memory_budget
        if over > 0 and self.shots.trim(self.shots.nbytes - over):
            return_freed_memory()

    @staticmethod
    def _tag(calls: list[StageCall], state: FrameState, frame_number: int) -> list[str]:
        """Tag the frame written by each stage from the Instance Tracker on with the corrections that reach it
        (`wire.corrections`); the paths of the tags."""
        if state.corrections is None:
            return []
        key = corrections_key(next(c.params for c in calls if c.name == TRACKER))
        return [str(write_tag(call.write, frame_number, key, state.corrections))
                for call, on in zip(calls, tagged([c.name for c in calls])) if on and call.write]

    def _write(self, call: StageCall, outputs: dict, frame_number: int) -> list[Future]:
        """Start writing the stage's outputs (copies, as later stages may change them); each future gives the
        written path. Each output folder is swept of temporary files that killed writers left (at most every
        SWEEP_INTERVAL_S)."""
        now = time.monotonic()
        for folder in (call.write / name for name in call.write_outputs):
            if now - self.swept.get(folder, -SWEEP_INTERVAL_S) >= SWEEP_INTERVAL_S:
                sweep_temporary(folder, process_alive)
                self.swept[folder] = now
        self.swept = {f: t for f, t in self.swept.items() if now - t < SWEEP_INTERVAL_S}
        return [self.writers.submit(_write_frame, call, name, frame_number,
                                    {n: np.array(outputs[n], dtype=np.float32) for n in cache_format.needs(name)})
                for name in call.write_outputs]


def _tag_footage(calls: list[StageCall], ctx: StageContext, frame_number: int) -> list[str]:
    """Tag the frame each stage wrote from an image sequence with the files it was made from (`ctx.reads`,
    `wire.footage_tags`); the paths of the tags."""
    if ctx.footage is None or not is_sequence(ctx.footage):
        return []
    files = [ctx.reads[index] for index in sorted(ctx.reads)]
    return [str(write_footage_tag(call.write, frame_number, files)) for call in calls if call.write]


def _footage_read(source: Source) -> dict[int, tuple]:
    """{frame: `media.footage_identity`} of the video or image sequence frame a file source names, taken before
    the frame is read (a file rewritten meanwhile then counts as changed); empty for pixels or a still."""
    if not isinstance(source, FileSource) or is_still(source.path):
        return {}
    return {source.frame: footage_identity(source.path, source.frame)}


def _write_frame(call: StageCall, output: str, frame_number: int, arrays: dict[str, np.ndarray]) -> str:
    """Write one output of a stage's frame into its cache folder, as `cache_format` stores it (see `cache_errors`
    for a failure)."""
    path = frame_file(call.write, output, frame_number)
    data = cache_format.encode(output, arrays)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        raise cache_error(exc, call.write, call.name) from None
    return str(path)


def _located(function, stage: str, *args):
    """`function(*args)`, run as pipeline stage `stage`: an InstyleError it raises is marked as the stage's, the GPU
    running out of memory becomes "out_of_memory", and any other exception (a bug) carries the stage's name to its
    "internal" error reply (see `failures`)."""
    try:
        return function(*args)
    except InstyleError as exc:
        raise exc.at_stage(stage)
    except torch.cuda.OutOfMemoryError:
        raise InstyleError("out_of_memory", "the GPU ran out of memory",
                           "lower the working resolution or the number of instances", stage) from None
    except Exception as exc:
        with contextlib.suppress(AttributeError):
            exc.instyle_stage = getattr(exc, "instyle_stage", stage)
        raise
