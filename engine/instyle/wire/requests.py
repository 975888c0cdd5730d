"""The messages a client sends, as typed requests: `parse_request` turns a decoded header into one of them, checked
once, whole, before anything is queued or run. A field that is unknown, missing or of the wrong type is an
`InstyleError` "bad_request" naming the field and what to send instead; a `type` that names no request is
"unknown_type". Stage parameters are resolved against the stages' specs (`stage_specs`), so a bad one is a
"bad_param" error naming the stage and the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .arrays import check_dtype_and_shape
from .errors import InstyleError
from .framing import ProtocolError
from .stage_specs import SPECS

MAX_STAGES = 8
MAX_JOB_FRAMES = 100_000
MAX_FRAME_NUMBER = 10**7 - 1  # cache files are named with six digits or more, up to seven
MAX_SHOT_CHARS = 512
MAX_PATH_CHARS = 4096
PIXEL_DTYPES = ("uint8", "float32")
FIX = "fix the client: see the message types in the instyle wire protocol (wire/messages.py)"

_KINDS = {int: "an integer", str: "a string", list: "a list", dict: "an object", bool: "true or false"}


def _bad(message: str, hint: str = FIX) -> InstyleError:
    return InstyleError("bad_request", message, hint)


class _Fields:
    """The fields of the JSON object `obj`, named `what` in errors; only those in `known` may be present."""

    def __init__(self, obj: object, what: str, known: tuple[str, ...]):
        if not isinstance(obj, dict):
            raise _bad(f"{what} must be an object, got {_kind_of(obj)}")
        unknown = [k for k in obj if k not in known]
        if unknown:
            raise _bad(f"{what} has no field {', '.join(repr(k)[:100] for k in unknown[:5])}; it takes: "
                       f"{', '.join(known)}", "remove the field, or update the engine if the add-on is newer")
        self.obj, self.what = obj, what

    def get(self, name: str, kind: type, default: Any = ..., *, fix: str = "") -> Any:
        """The field `name`, which must be of `kind` (bool is no int); `default` for a field left out (required
        where there is none)."""
        value = self.obj.get(name, default)
        if value is ...:
            raise _bad(f"{self.what} needs the field {name!r} ({_KINDS[kind]})", fix or FIX)
        if value is not default and (not isinstance(value, kind) or kind is int and isinstance(value, bool)):
            raise _bad(f"{self.what}.{name} must be {_KINDS[kind]}, got {_kind_of(value)}", fix or FIX)
        return value


def _kind_of(value: object) -> str:
    return "null" if value is None else _KINDS.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class FileSource:
    """Frame `frame` of footage at `path` (a video, a still, or an image sequence, see the engine's `media`)."""

    path: str
    frame: int = 0


@dataclass(frozen=True)
class PixelsSource:
    """Pixels the client sends: uint8 or float32 HxWx3 or HxWx4 (`dtype`, `shape`), in payload `payload` or at
    byte `shm_offset` of the request's shared memory segment; `frame` is the footage frame they show."""

    dtype: str
    shape: tuple[int, ...]
    payload: int | None = None
    shm_offset: int | None = None
    frame: int = 0

    @property
    def array(self) -> dict:
        """The array's description as sent (see `arrays`, `shm`)."""
        where = {"payload": self.payload} if self.shm_offset is None else {"shm_offset": self.shm_offset}
        return {"dtype": self.dtype, "shape": list(self.shape), **where}


Source = FileSource | PixelsSource


@dataclass(frozen=True)
class Shm:
    """The request's shared memory segment (see `shm`): its `name`, and where returned arrays begin."""

    name: str
    return_offset: int | None = None


@dataclass(frozen=True)
class StageCall:
    """One pipeline step: stage `name` with its resolved `params`; it writes `write_outputs` into the cache folder
    `write` (when given) and returns `returns` in the reply."""

    name: str
    params: dict
    write: Path | None = None
    write_outputs: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobItem:
    """A frame of a job or a corrections request: its `source`, and the `frame_number` its files are named after."""

    source: Source
    frame_number: int


@dataclass(frozen=True)
class Hello:
    protocol: int
    token: str
    client: str = ""


@dataclass(frozen=True)
class RunRequest:
    """One frame of `source` through `pipeline`; `frame_number` names the files written (needed when a step
    writes); `shot` names the state kept between a shot's frames."""

    id: int
    source: Source
    pipeline: tuple[StageCall, ...]
    frame_number: int | None = None
    shot: str = ""
    shm: Shm | None = None


@dataclass(frozen=True)
class JobRequest:
    """A bake: each of `items` through `pipeline`, in `shot`."""

    id: int
    pipeline: tuple[StageCall, ...]
    items: tuple[JobItem, ...]
    shot: str = ""

    def run(self, item: JobItem) -> RunRequest:
        """The request computing one of the job's items."""
        return RunRequest(self.id, item.source, self.pipeline, item.frame_number, self.shot)


@dataclass(frozen=True)
class CorrectionsRequest:
    """Which of the Instance Tracker's corrections reach each of `items` (see `corrections`)."""

    id: int
    pipeline: tuple[StageCall, ...]
    items: tuple[JobItem, ...]
    shot: str = ""


@dataclass(frozen=True)
class EchoRequest:
    """The source pixels straight back (a transport check)."""

    id: int
    source: PixelsSource
    shm: Shm | None = None


@dataclass(frozen=True)
class CancelRequest:
    """Cancel this connection's job or run `job`."""

    id: int
    job: int


@dataclass(frozen=True)
class FreeRequest:
    id: int


@dataclass(frozen=True)
class PingRequest:
    id: int


Request = (Hello | RunRequest | JobRequest | CorrectionsRequest | EchoRequest | CancelRequest | FreeRequest
           | PingRequest)


def parse_request(header: dict, allowed: frozenset[str] | None = None) -> Request:
    """The request `header` (a decoded message header) holds, checked whole; `allowed` limits the types taken
    (default: all but hello)."""
    kind = header.get("type")
    allowed = allowed or frozenset(PARSERS) - {"hello"}
    if not isinstance(kind, str) or kind not in allowed:
        raise ProtocolError("unknown_type", f"message type {kind!r:.100} is not one of {sorted(allowed)}")
    return PARSERS[kind](header)


def parse_run(header: dict) -> RunRequest:
    fields = _Fields(header, "run", ("type", "id", "source", "pipeline", "frame_number", "shot", "shm"))
    pipeline = parse_pipeline(fields.get("pipeline", list))
    shm = _shm(fields.get("shm", dict, None))
    source = _source(fields.get("source", dict), "run.source", shm)
    frame_number = fields.get("frame_number", int, None)
    if any(call.write for call in pipeline):
        _check_frame_number(frame_number, "run.frame_number")
    return RunRequest(fields.get("id", int), source, pipeline, frame_number, _shot(fields), shm)


def _parse_items_request(header: dict, kind: str):
    fields = _Fields(header, kind, ("type", "id", "pipeline", "items", "shot"))
    pipeline = parse_pipeline(fields.get("pipeline", list))
    items = fields.get("items", list)
    if not 1 <= len(items) <= MAX_JOB_FRAMES:
        raise _bad(f"{kind}.items has 1 to {MAX_JOB_FRAMES} frames, got {len(items)}",
                   "send the frames to compute, in batches if there are more")
    writes = kind == "job" and any(call.write for call in pipeline)
    parsed = tuple(_item(item, f"{kind}.items[{k}]", writes) for k, item in enumerate(items))
    return fields.get("id", int), pipeline, parsed, _shot(fields)


def parse_job(header: dict) -> JobRequest:
    return JobRequest(*_parse_items_request(header, "job"))


def parse_corrections(header: dict) -> CorrectionsRequest:
    return CorrectionsRequest(*_parse_items_request(header, "corrections"))


def parse_echo(header: dict) -> EchoRequest:
    fields = _Fields(header, "echo", ("type", "id", "source", "shm"))
    shm = _shm(fields.get("shm", dict, None))
    source = _source(fields.get("source", dict), "echo.source", shm)
    if not isinstance(source, PixelsSource):
        raise _bad("echo.source must be a pixels source", "send the pixels to echo")
    return EchoRequest(fields.get("id", int), source, shm)


def parse_cancel(header: dict) -> CancelRequest:
    fields = _Fields(header, "cancel", ("type", "id", "job"))
    return CancelRequest(fields.get("id", int), fields.get("job", int, fix="name the id of the request to cancel"))


def parse_hello(header: dict) -> Hello:
    fields = _Fields(header, "hello", ("type", "protocol", "token", "client"))
    return Hello(fields.get("protocol", int), fields.get("token", str), fields.get("client", str, "")[:200])


def parse_pipeline(pipeline: list) -> tuple[StageCall, ...]:
    """The steps of a pipeline, each checked against its stage's spec and the steps before it."""
    if not 1 <= len(pipeline) <= MAX_STAGES:
        raise _bad(f"a pipeline has 1 to {MAX_STAGES} stages, got {len(pipeline)}", "send the chain's stages")
    order, calls = list(SPECS), []
    for k, entry in enumerate(pipeline):
        fields = _Fields(entry, f"pipeline[{k}]", ("stage", "params", "write", "write_outputs", "return"))
        name = fields.get("stage", str)
        if name not in SPECS:
            raise InstyleError("unknown_stage", f"unknown stage {name[:100]!r}",
                               f"available stages: {', '.join(SPECS)}; update the add-on or the engine")
        spec, seen = SPECS[name], [c.name for c in calls]
        if seen and order.index(name) <= order.index(seen[-1]):
            raise InstyleError("bad_request", f"stage {name} cannot follow {seen[-1]}",
                               f"stages run in this order: {' -> '.join(order)}", name)
        missing = [r for r in spec.requires if r not in seen]
        if missing:
            raise InstyleError("bad_request", f"stage {name} needs {', '.join(missing)} before it",
                               "link the missing node upstream of it", name)
        try:
            params = spec.resolve(fields.get("params", dict, {}))
        except InstyleError as exc:
            raise exc.at_stage(name) from None
        write = fields.get("write", str, None)
        if write is not None and not Path(write).is_absolute():
            raise InstyleError("bad_request", f"{name}: 'write' must be an absolute folder path, got {write[:200]!r}",
                               "send the cache folder's absolute path", name)
        write_outputs = _names(fields.get("write_outputs", list, list(spec.outputs)), spec.outputs, name, "write")
        returns = _names(fields.get("return", list, []), spec.outputs, name, "return")
        calls.append(StageCall(name, params, Path(write) if write else None, write_outputs, returns))
    return tuple(calls)


def _names(given: list, outputs: tuple[str, ...], stage: str, verb: str) -> tuple[str, ...]:
    if not all(isinstance(n, str) and n in outputs for n in given):
        raise InstyleError("bad_request", f"{stage} can {verb} only {', '.join(outputs)}",
                           "name outputs of the stage", stage)
    return tuple(given)


def _source(obj: dict, what: str, shm: Shm | None) -> Source:
    kind = obj.get("kind")
    if kind == "file":
        fields = _Fields(obj, what, ("kind", "path", "frame"))
        path = fields.get("path", str)
        if not 0 < len(path) <= MAX_PATH_CHARS:
            raise _bad(f"{what}.path must be a path of 1 to {MAX_PATH_CHARS} characters")
        return FileSource(path, fields.get("frame", int, 0))
    if kind == "pixels":
        fields = _Fields(obj, what, ("kind", "array", "frame"))
        array = _Fields(fields.get("array", dict), f"{what}.array", ("dtype", "shape", "payload", "shm_offset"))
        dtype, shape = check_dtype_and_shape(array.obj, f"{what}.array", "payload or shm_offset")
        if dtype not in PIXEL_DTYPES or len(shape) != 3 or shape[2] not in (3, 4):
            raise InstyleError("bad_request", f"source pixels must be uint8 or float32 HxWx3 or HxWx4, got "
                               f"{dtype}{list(shape)}", "send RGB or RGBA pixels, 8-bit or float")
        payload, offset = array.get("payload", int, None), array.get("shm_offset", int, None)
        if (payload is None) == (offset is None):
            raise _bad(f"{what}.array needs one of 'payload' and 'shm_offset'", "say where the pixels are")
        if offset is not None and shm is None:
            raise _bad(f"{what}.array names shm_offset but the request has no 'shm'",
                       "name the shared memory segment in 'shm'")
        return PixelsSource(dtype, shape, payload, offset, fields.get("frame", int, 0))
    raise _bad(f"{what}.kind {kind!r:.100} is not 'file' or 'pixels'")


def _shm(obj: dict | None) -> Shm | None:
    if obj is None:
        return None
    fields = _Fields(obj, "shm", ("name", "return_offset"))
    offset = fields.get("return_offset", int, None)
    if offset is not None and offset < 0:
        raise _bad(f"shm.return_offset must not be negative, got {offset}")
    return Shm(fields.get("name", str, fix="name the shared memory segment"), offset)


def _item(obj: object, what: str, writes: bool) -> JobItem:
    fields = _Fields(obj, what, ("source", "frame_number"))
    item = JobItem(_source(fields.get("source", dict), f"{what}.source", None),
                   fields.get("frame_number", int, fix="each item needs the scene frame its files are named after"))
    if writes:
        _check_frame_number(item.frame_number, f"{what}.frame_number")
    return item


def _check_frame_number(number: int | None, what: str) -> None:
    if number is None or not 0 <= number <= MAX_FRAME_NUMBER:
        raise _bad(f"writing outputs needs {what}, an integer between 0 and {MAX_FRAME_NUMBER}",
                   "send the scene frame the files are named after")


def _shot(fields: _Fields) -> str:
    shot = fields.get("shot", str, "")
    if len(shot) > MAX_SHOT_CHARS:
        raise _bad(f"{fields.what}.shot must be at most {MAX_SHOT_CHARS} characters, got {len(shot)}",
                   "name the shot by its footage's path, or a hash of it")
    return shot


PARSERS = {"hello": parse_hello, "run": parse_run, "job": parse_job, "corrections": parse_corrections,
           "echo": parse_echo, "cancel": parse_cancel,
           "free": lambda header: FreeRequest(_Fields(header, "free", ("type", "id")).get("id", int)),
           "ping": lambda header: PingRequest(_Fields(header, "ping", ("type", "id")).get("id", int))}
