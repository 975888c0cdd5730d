"""Runs `run` requests (decode the source, run the pipeline's stages, write and return their outputs) and
`corrections` requests (which of the Instance Tracker's corrections reach each of a list of frames)."""

from __future__ import annotations

import contextlib
import re
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .cache_errors import cache_failure
from .frame_state import FrameState, ShotState
from .memory import default_budget, resident_bytes, return_freed_memory
from .media import FrameSource, SourceError, footage_identity, is_sequence, is_still, srgb_to_linear, write_exr
from .modelstore import ModelStore, WeightsError
from .models.zoo import ModelZoo
from .scheduler import Cancelled
from .shot_cache import ShotCache
from .stages import STAGES, instance_tracker
from .wire import PROTOCOL_VERSION, ProtocolError, check_array_spec
from .wire.atomic_files import sweep_temporary
from .wire.cache_files import frame_file
from .wire.corrections import TRACKER, corrections_key, tagged, write_tag
from .wire.footage_tags import write_tag as write_footage_tag
from .wire.params import ParamError
from .wire.runtime import process_alive
from .wire.shm import aligned, attach, check_region

MAX_STAGES = 8
MAX_JOB_FRAMES = 100_000
SWEEP_INTERVAL_S = 60.0  # how often a cache folder being written is swept of temporary files killed writers left
WRITERS = 2  # threads writing cache frames while the next stages run
IMAGE_OUTPUTS = {"image", "stylized_for_mix"}  # colour outputs, written as linear EXR like Blender expects


class RequestError(Exception):
    """A request the engine cannot carry out, with a `code` and a `hint` for the person who sent it; `stage` names
    the pipeline stage at fault, when one is."""

    def __init__(self, code: str, message: str, hint: str = "", stage: str = ""):
        super().__init__(message)
        self.code, self.hint, self.stage = code, hint, stage


@dataclass
class StageCall:
    name: str
    params: dict
    write: Path | None
    write_outputs: tuple[str, ...]
    returns: tuple[str, ...]


class StageContext:
    """What a stage may use besides the frame: models, the shot's state, the frame as uint8; the request's
    source, every stage's parameters (`pipeline`) and the folder the running stage writes to (`write_dir`).

    `reads` maps each footage frame the request's result is made from (its own, the previous one for temporal
    stabilisation, key frames for crop statistics) to its `media.footage_identity` as it was read; the frames
    written are tagged with them (`wire.footage_tags`)."""

    def __init__(self, zoo: ModelZoo, shot: ShotState, frame_uint8: np.ndarray, index: int,
                 is_cancelled=lambda: False, source: dict | None = None, frames: FrameSource | None = None,
                 pipeline: dict | None = None, on_step=lambda stage, step, steps: None):
        self.models, self.shot, self.frame_uint8, self.index = zoo, shot, frame_uint8, index
        self.is_cancelled, self.on_step = is_cancelled, on_step
        self.stage = ""
        self.source, self.frames, self.pipeline = source or {}, frames, pipeline or {}
        self.write_dir: Path | None = None
        self.reads: dict[int, tuple] = {}

    @property
    def footage(self) -> str | None:
        """The video or image sequence this request reads (see `media`), whose other frames the engine can
        decode; None for pixels sent by the client or a still image."""
        path = self.source.get("path") if self.source.get("kind") == "file" else None
        return None if self.frames is None or not path or is_still(path) else path

    def footage_identity(self, index: int) -> tuple:
        """`media.footage_identity` of frame `index` of the footage, recorded in `reads` (the request's result is
        made from that frame) when first asked: call it before reading the frame."""
        if index not in self.reads:
            self.reads[index] = footage_identity(self.footage, index)
        return self.reads[index]

    def for_frame(self, index: int, shot: ShotState) -> StageContext:
        """A context for frame `index` of the same footage (see `footage`) in `shot`, a shot state of the caller's."""
        try:
            frame = self.frames.frame(self.footage, index)
        except SourceError as exc:
            raise RequestError(exc.code, str(exc), exc.hint) from None
        return StageContext(self.models, shot, frame, index, self.is_cancelled, self.source, self.frames,
                            self.pipeline)

    def footage_frame(self, index: int) -> np.ndarray | None:
        """Frame `index` of the footage (uint8 HxWx3 RGB): this request's own pixels for its frame, else decoded;
        None for a frame the engine cannot read (past the footage's ends, or no footage to read)."""
        if index == self.index:
            return self.frame_uint8
        if self.footage is None:
            return None
        try:
            return self.frames.frame(self.footage, index)
        except SourceError:
            return None

    def previous_frame(self) -> np.ndarray | None:
        """The footage frame before this one (uint8 HxWx3 RGB): the pixels of the shot's last request when it was
        the frame before (and its file is as it was then), else decoded from the footage; None when neither is at
        hand."""
        if self.index < 1:
            return None
        remembered = self.shot.last_frame if self.shot.last_index == self.index - 1 else None
        if self.footage is None:
            return remembered
        identity = footage_identity(self.footage, self.index - 1)
        if remembered is None or self.shot.last_read != identity:
            try:
                remembered = self.frames.frame(self.footage, self.index - 1)
            except SourceError:  # an image sequence's first frame
                return None
        self.reads.setdefault(self.index - 1, identity)
        return remembered

    def check_cancelled(self) -> None:
        """Iterative stages call this between iterations; raises Cancelled when the request was cancelled."""
        if self.is_cancelled():
            raise Cancelled()

    def report_step(self, step: int, steps: int) -> None:
        """Iterative stages report progress within the frame: `step` of `steps` done."""
        self.on_step(self.stage, step, steps)


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

    def validate(self, header: dict) -> None:
        """Check a request's pipeline (and a job's frame list) before it is queued."""
        self._parse_pipeline(header["pipeline"])
        items = header.get("items")
        if items is not None:
            if not 1 <= len(items) <= MAX_JOB_FRAMES:
                raise RequestError("bad_request", f"a job has 1 to {MAX_JOB_FRAMES} frames, got {len(items)}")
            for item in items:
                if (not isinstance(item, dict) or not isinstance(item.get("source"), dict)
                        or type(item.get("frame_number")) is not int):
                    raise RequestError("bad_request", "each job item needs a 'source' object and an integer "
                                       "'frame_number'")

    def execute(self, header: dict, payloads: list, is_cancelled=lambda: False,
                on_step=lambda stage, step, steps: None) -> tuple[dict, list]:
        """Serve a request the scheduler runs: a `corrections` request, else a `run` (as each frame of a job is)."""
        if header.get("type") == "corrections":
            return self.corrections(header, is_cancelled), []
        return self.run(header, payloads, is_cancelled, on_step)

    def run(self, header: dict, payloads: list, is_cancelled=lambda: False,
            on_step=lambda stage, step, steps: None) -> tuple[dict, list]:
        """Handle one `run` request; raises RequestError (or ProtocolError) for anything the client must fix.
        Iterative stages call `on_step(stage, step, steps)` as they go. Frames written from the Instance Tracker
        on are tagged with the corrections that reach them once they are complete (`wire.corrections`)."""
        calls = self._parse_pipeline(header["pipeline"])
        frame_number = header.get("frame_number")
        if any(c.write for c in calls) and (type(frame_number) is not int or not 0 <= frame_number < 10**7):
            raise RequestError("bad_request", "writing outputs needs an integer frame_number between 0 and 9999999",
                               "send the scene frame the files are named after")
        shot_key = _shot_key(header)
        with self.lock, _segment(header) as segment:
            t0 = time.perf_counter()
            read = _footage_read(header["source"])
            frame, index = self._decode(header["source"], payloads, segment)
            timings = {"decode": (time.perf_counter() - t0) * 1000}
            shot = self._shot(shot_key)
            state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index)
            ctx = StageContext(self.zoo, shot, frame, index, is_cancelled, header["source"], self.frames,
                               {c.name: c.params for c in calls}, on_step)
            ctx.reads.update(read)
            out, writing = Outputs(segment, header), []
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
                        raise RequestError(*cache_failure(exc, call.write), call.name) from None  # its own files
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
        reply = {"type": "result", "id": header["id"], "arrays": out.specs, "written": written,
                 "timings_ms": {k: round(v, 3) for k, v in timings.items()},
                 "instances": [i.describe() for i in state.instances or []], "report": state.report,
                 "size": [state.size[1], state.size[0]]}
        return reply, out.payloads

    def corrections(self, header: dict, is_cancelled=lambda: False) -> dict:
        """Handle a `corrections` request: for each item (a footage frame, as a job's items name it), the digest of
        the Instance Tracker's corrections that reach it, as a `run` of it in the request's shot would tag it
        (`instance_tracker.corrections_digest`); no stage runs on the frames themselves."""
        calls = self._parse_pipeline(header["pipeline"])
        tracker = next((c for c in calls if c.name == TRACKER), None)
        if tracker is None:
            raise RequestError("bad_request", "a corrections request needs an instance_tracker stage in its pipeline",
                               "send the pipeline up to the Instance Tracker whose corrections changed")
        shot_key, pipeline, applied = _shot_key(header), {c.name: c.params for c in calls}, []
        with self.lock:
            shot = self._shot(shot_key)
            for item in header["items"]:
                frame, index = self._decode(item["source"], [])
                ctx = StageContext(self.zoo, shot, frame, index, is_cancelled, item["source"], self.frames, pipeline)
                ctx.write_dir, ctx.stage = tracker.write, tracker.name
                ctx.check_cancelled()
                applied.append(instance_tracker.corrections_digest(tracker.params, ctx))
        return {"type": "result", "id": header["id"], "applied": applied}

    def _parse_pipeline(self, pipeline: list) -> list[StageCall]:
        if not 1 <= len(pipeline) <= MAX_STAGES:
            raise RequestError("bad_request", f"a pipeline has 1 to {MAX_STAGES} stages, got {len(pipeline)}")
        calls, seen = [], []
        for entry in pipeline:
            if not isinstance(entry, dict) or not isinstance(entry.get("stage"), str):
                raise RequestError("bad_request", "each pipeline entry must be an object with a 'stage' name")
            name = entry["stage"]
            if name not in STAGES:
                raise RequestError("unknown_stage", f"unknown stage {name!r}",
                                   f"available stages: {', '.join(STAGES)}; update the add-on or the engine")
            spec = STAGES[name].SPEC
            order = list(STAGES)
            if seen and order.index(name) <= order.index(seen[-1]):
                raise RequestError("bad_request", f"stage {name} cannot follow {seen[-1]}",
                                   f"stages run in this order: {' -> '.join(order)}", name)
            missing = [r for r in spec.requires if r not in seen]
            if missing:
                raise RequestError("bad_request", f"stage {name} needs {', '.join(missing)} before it",
                                   "link the missing node upstream of it", name)
            try:
                params = spec.resolve(entry.get("params", {}))
            except ParamError as exc:
                raise RequestError("bad_param", str(exc), "see the engine's handshake for valid parameters",
                                   name) from None
            write = entry.get("write")
            if write is not None and (not isinstance(write, str) or not Path(write).is_absolute()):
                raise RequestError("bad_request", f"{name}: 'write' must be an absolute folder path")
            write_outputs = entry.get("write_outputs", list(spec.outputs))
            if not isinstance(write_outputs, list) or not set(write_outputs) <= set(spec.outputs):
                raise RequestError("bad_request", f"{name} can write only {', '.join(spec.outputs)}")
            returns = entry.get("return", [])
            if not isinstance(returns, list) or not set(returns) <= set(spec.outputs):
                raise RequestError("bad_request", f"{name} can return only {', '.join(spec.outputs)}")
            calls.append(StageCall(name, params, Path(write) if write else None, tuple(write_outputs), tuple(returns)))
            seen.append(name)
        return calls

    @staticmethod
    def _source_pixels(source: dict, payloads: list, segment) -> np.ndarray:
        """A copy of the pixels a `pixels` source names: in a payload, or in the request's shared memory."""
        array = source.get("array")
        if isinstance(array, dict) and "shm_offset" in array:
            if segment is None:
                raise RequestError("bad_request", "source.array names shm_offset but the request has no 'shm'")
            dtype, shape, offset, _ = check_region(array, segment.size, "source.array")
            data = np.empty(shape, dtype)
            segment.read_into(offset, memoryview(data).cast("B"))
            return data
        spec = check_array_spec(array, [memoryview(p).nbytes for p in payloads], "source.array")
        return np.frombuffer(payloads[spec.payload], dtype=spec.dtype).reshape(spec.shape)

    def echo(self, header: dict, payloads: list) -> tuple[dict, list]:
        """Send the source pixels straight back (transport check and benchmark): no stage runs."""
        with _segment(header) as segment:
            data = self._source_pixels(header["source"], payloads, segment)
            out = Outputs(segment, header)
            out.add("echo.image", data)
            return {"type": "result", "id": header["id"], "arrays": out.specs}, out.payloads

    def _decode(self, source: dict, payloads: list, segment=None) -> tuple[np.ndarray, int]:
        kind = source.get("kind")
        if kind == "file":
            path, index = source.get("path"), source.get("frame", 0)
            if not isinstance(path, str) or type(index) is not int:
                raise RequestError("bad_request", "a file source needs 'path' (string) and 'frame' (integer)")
            try:
                return self.frames.frame(path, index), index
            except SourceError as exc:
                raise RequestError(exc.code, str(exc), exc.hint) from None
        if kind == "pixels":
            data = self._source_pixels(source, payloads, segment)
            if data.ndim != 3 or data.shape[2] not in (3, 4) or data.dtype not in (np.uint8, np.float32):
                raise RequestError("bad_request", f"source pixels must be uint8 or float32 HxWx3 or HxWx4, got "
                                   f"{data.dtype}{list(data.shape)}")
            data = data[:, :, :3]
            if data.dtype == np.float32:
                if not np.isfinite(data).all():
                    raise RequestError("bad_pixels", "source pixels contain NaN or infinity",
                                       "clamp or fix the image before sending it")
                data = np.round(np.clip(data, 0, 1) * 255).astype(np.uint8)
            index = source.get("frame", 0)
            return np.ascontiguousarray(data), index if type(index) is int else 0
        raise RequestError("bad_request", f"source kind {kind!r} is not 'file' or 'pixels'")

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
                                    np.array(outputs[name], dtype=np.float32)) for name in call.write_outputs]


def _tag_footage(calls: list[StageCall], ctx: StageContext, frame_number: int) -> list[str]:
    """Tag the frame each stage wrote from an image sequence with the files it was made from (`ctx.reads`,
    `wire.footage_tags`); the paths of the tags."""
    if ctx.footage is None or not is_sequence(ctx.footage):
        return []
    files = [ctx.reads[index] for index in sorted(ctx.reads)]
    return [str(write_footage_tag(call.write, frame_number, files)) for call in calls if call.write]


def _footage_read(source: dict) -> dict[int, tuple]:
    """{frame: `media.footage_identity`} of the video or image sequence frame a file source names, taken before
    the frame is read (a file rewritten meanwhile then counts as changed); empty for pixels, a still or a source
    `Service._decode` refuses."""
    path, index = source.get("path"), source.get("frame", 0)
    if source.get("kind") != "file" or not isinstance(path, str) or type(index) is not int or is_still(path):
        return {}
    return {index: footage_identity(path, index)}


def _shot_key(header: dict) -> str:
    """The request's shot: the name its frames' shot state is kept under."""
    key = header.get("shot", "")
    if not isinstance(key, str) or len(key) > 512:
        raise RequestError("bad_request", "shot must be a string of at most 512 characters")
    return key


def _write_frame(call: StageCall, output: str, frame_number: int, array: np.ndarray) -> str:
    """Write one output of a stage's frame into its cache folder (see `cache_errors` for a failure); footage-like
    colour outputs go linear and uncompressed, data (masks, passes, the id overlay) as it is, RLE."""
    path = frame_file(call.write, output, frame_number)
    colour = output in IMAGE_OUTPUTS
    try:
        write_exr(path, srgb_to_linear(array) if colour else array, compress=not colour)
    except OSError as exc:
        raise RequestError(*cache_failure(exc, call.write), call.name) from None
    return str(path)


class Outputs:
    """Arrays going back to the client: as payloads, or written into the request's shared memory."""

    def __init__(self, segment, header: dict):
        self.segment, self.specs, self.payloads = segment, {}, []
        self.offset = self.start(header, segment) if segment is not None else 0

    @staticmethod
    def start(header: dict, segment) -> int:
        """Where returned arrays begin: `shm.return_offset`, else just after a source held in the segment."""
        given = header["shm"].get("return_offset")
        if type(given) is int and given >= 0:
            return aligned(given)
        array = header.get("source", {}).get("array")
        if isinstance(array, dict) and "shm_offset" in array:
            _, _, offset, nbytes = check_region(array, segment.size, "source.array")
            return aligned(offset + nbytes)
        return 0

    def add(self, name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        spec = {"dtype": array.dtype.name, "shape": list(array.shape)}
        if self.segment is None:
            spec["payload"] = len(self.payloads)
            self.payloads.append(memoryview(array).cast("B"))
        else:
            if self.offset + array.nbytes > self.segment.size:
                raise RequestError("shm_too_small", f"the shared memory segment ({self.segment.size} bytes) cannot "
                                   f"hold the returned {name} ({array.nbytes} bytes from offset {self.offset})",
                                   "create a larger segment")
            self.segment.write(self.offset, memoryview(array).cast("B"))
            spec["shm_offset"] = self.offset
            self.offset = aligned(self.offset + array.nbytes)
        self.specs[name] = spec


@contextlib.contextmanager
def _segment(header: dict):
    """The request's shared memory segment (attached for the request's duration), or None."""
    shm = header.get("shm")
    if shm is None:
        yield None
        return
    if not isinstance(shm, dict):
        raise RequestError("bad_request", "'shm' must be an object with the segment's 'name'")
    try:
        segment = attach(shm.get("name"))
    except ProtocolError as exc:
        raise RequestError(exc.code, str(exc), "create the segment before sending, and keep it until the reply")
    try:
        yield segment
    finally:
        segment.close()


def _located(function, stage: str, *args):
    """`function(*args)`, with any exception it raises marked as the `stage`'s (see `describe_failure`)."""
    try:
        return function(*args)
    except Exception as exc:
        with contextlib.suppress(AttributeError):
            exc.instyle_stage = getattr(exc, "instyle_stage", stage)
        raise


def describe_failure(exc: BaseException) -> dict:
    """The fields of the error reply for an exception escaping a request: `code`, `message`, `hint`, and where
    the request is at fault: `stage` (a pipeline stage's name) and `param` (one of its parameters), when known."""
    fields = {"code": "internal", "message": f"engine error: {type(exc).__name__}: {exc}",
              "hint": "".join(traceback.format_exception(exc)[-3:])[-2000:]}
    if isinstance(exc, OverflowError):
        fields.update(code="busy", message=str(exc), hint="wait for earlier requests to finish or cancel some")
    elif isinstance(exc, ParamError):
        fields.update(code="bad_param", message=str(exc), hint="correct the node's setting")
    elif isinstance(exc, (RequestError, WeightsError, SourceError)):
        fields.update(code=exc.code, message=str(exc), hint=exc.hint)
    elif isinstance(exc, ProtocolError):
        fields.update(code=exc.code, message=str(exc), hint="fix the client; the message breaks the instyle protocol")
    elif isinstance(exc, torch.cuda.OutOfMemoryError):
        fields.update(code="out_of_memory", message="the GPU ran out of memory",
                      hint="lower the working resolution or the number of instances")
    stage = getattr(exc, "stage", "") or getattr(exc, "instyle_stage", "")
    where = re.match(r"(\w+)\.(\w+)", fields["message"]) if fields["code"] == "bad_param" else None
    if where and where[1] in STAGES:
        stage, fields["param"] = where[1], where[2]
    if stage:
        fields["stage"] = stage
    return fields


