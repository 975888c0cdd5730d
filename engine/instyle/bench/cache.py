"""`bench cache`: bytes per 1920x1080 frame in the cache and milliseconds to write them, as the engine writes them
now, side by side with how it wrote them before and with plain 32-bit floats, in one run; and each lossless EXR
codec Blender reads on the kinds of frame the cache holds.

The frames are vtest.avi frames 0 to N - 1 upscaled to 1920x1080 and written as a file (MJPG), so that the render
path is taken (key frames, crops), through the default chain (every stage at its defaults, as the add-on's Add
instyle Chain makes it) in the real `Service`, which returns every output of every stage as float32. Each frame's
outputs are then stored three ways, each encoded and written atomically into a temporary folder as the engine does:

- float32: what the default chain wrote before (`BEFORE_CHAIN_WRITES`: every output a socket of its nodes shows,
  linked or not) as uncompressed 32-bit float RGBA;
- before: the same outputs as the engine stored them before issue 19's cache work: half-float RGBA, colour
  uncompressed, masks, ids and the id overlay RLE;
- now: the outputs the default chain reads (`DEFAULT_CHAIN_WRITES`: MRF Blend's alpha and stylized layer) as
  `cache_format` stores them.

Per frame: MB, milliseconds to write them (one thread; the engine writes on two while later stages run), the same
as the engine itself wrote them in the run (bytes on disk, and its wait for the writes once the last stage is
done), and the largest difference, in 8-bit levels, of the frame Blender composites from them (footage, layer and
alpha mixed in linear light, as MRF Blend's inner tree does, shown as sRGB) from the one composited from the
float32 outputs.

The codec table stores three frames of the clip's last frame with every codec of `media.EXR_CODECS`, in half floats:
a mask (MRF Blend's alpha, one channel), the mix layer as now stored (zero where alpha is 0) and natural colour
(Neural Style's stylized frame, what its Stylized output caches when linked). Besides MB and ms it gives each
codec's cost with the bytes priced at a shared farm disk's rate (`SHARE_MB_PER_S`: one gigabit link): the codec
with the lowest cost is the one that costs less than the bytes it saves.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from .. import cache_format
from ..media import EXR_CODECS, FrameSource, encode_exr, srgb_to_linear
from ..service import Service
from ..stages import STAGES
from ..wire.atomic_files import write_atomic
from ..wire.requests import parse_run
from .footage import VTEST

SIZE = (1920, 1080)
FRAMES, QUICK_FRAMES = 4, 2
REPEATS, QUICK_REPEATS = 3, 1
CODEC_REPEATS = 5
SHARE_MB_PER_S = 110.0  # one gigabit link to a shared cache
STAGE_ORDER = ("instance_mask", "instance_tracker", "neural_style", "mrf_blend")
DEFAULT_CHAIN_WRITES = {"instance_mask": (), "instance_tracker": (), "neural_style": (),
                        "mrf_blend": ("alpha", "stylized_for_mix")}
"""What the add-on's default chain (footage -> the four nodes -> MRF Blend's Image to the output) writes: no other
socket is linked, and MRF Blend's Image mixes its stylized layer over the footage by its alpha."""
BEFORE_CHAIN_WRITES = {"instance_mask": ("mask", "index"), "instance_tracker": ("mask", "tracks", "selection", "ids"),
                       "neural_style": ("image", "mask"), "mrf_blend": ("alpha", "stylized_for_mix")}
"""What it wrote before: every output any socket of its nodes shows, linked or not."""


def hd_clip(folder: Path, frames: int) -> Path:
    """vtest.avi frames 0 to `frames` - 1 upscaled to 1920x1080, as an MJPG file in `folder`."""
    path = folder / "vtest-1080p.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    capture = cv2.VideoCapture(str(VTEST))
    for _ in range(frames):
        ok, frame = capture.read()
        if not ok:
            raise RuntimeError(f"cannot read {VTEST}")
        writer.write(cv2.resize(frame, SIZE, interpolation=cv2.INTER_CUBIC))
    writer.release()
    capture.release()
    return path


def default_chain(cache: Path | None, returns: dict[str, tuple[str, ...]]) -> list[dict]:
    """The default chain's pipeline, writing into `cache` (a folder per stage) what it writes in Blender, and
    returning `returns` (outputs by stage)."""
    return [{"stage": s, "params": {}, **({"write": str(cache / s), "write_outputs": list(DEFAULT_CHAIN_WRITES[s])}
                                          if cache else {}), "return": list(returns.get(s, ()))}
            for s in STAGE_ORDER]


def run_frames(service: Service, clip: Path, frames: int, cache: Path | None = None,
               returns: dict[str, tuple[str, ...]] | None = None):
    """Yield (index, reply, {"stage.output": float32 array}) for the clip's frames in order, through the default
    chain (every output of every stage returned unless `returns` says which)."""
    returns = {s: STAGES[s].SPEC.outputs for s in STAGE_ORDER} if returns is None else returns
    for index in range(frames):
        header = {"type": "run", "id": index + 1, "source": {"kind": "file", "path": str(clip), "frame": index},
                  "pipeline": default_chain(cache, returns), "shot": f"bench-cache-{clip}", "frame_number": index + 1}
        reply, payloads = service.run(parse_run(header), [])
        arrays = {key: np.frombuffer(payloads[spec["payload"]], np.dtype(spec["dtype"])).reshape(spec["shape"])
                  for key, spec in reply["arrays"].items()}
        yield index, reply, arrays


def _before(arrays: dict[str, np.ndarray]) -> list[str]:
    """The keys of `arrays` the default chain wrote before (all of them when only some outputs were returned)."""
    keys = [f"{s}.{o}" for s, outputs in BEFORE_CHAIN_WRITES.items() for o in outputs]
    return keys if all(k in arrays for k in keys) else list(arrays)


def float32_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The outputs the default chain wrote before, as uncompressed float32 RGBA (colour linear)."""
    return {key: _rgba(key, arrays[key], cv2.IMWRITE_EXR_TYPE_FLOAT, cv2.IMWRITE_EXR_COMPRESSION_NO)
            for key in _before(arrays)}


def before_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The outputs the default chain wrote before, as the engine stored them: half-float RGBA, colour uncompressed,
    the rest RLE."""
    return {key: _rgba(key, arrays[key], cv2.IMWRITE_EXR_TYPE_HALF,
                       cv2.IMWRITE_EXR_COMPRESSION_NO if _colour(key) else cv2.IMWRITE_EXR_COMPRESSION_RLE)
            for key in _before(arrays)}


def now_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The default chain's written outputs, as `cache_format` stores them."""
    return {f"{stage}.{output}": cache_format.encode(output, {n: arrays[f"{stage}.{n}"]
                                                              for n in cache_format.needs(output)})
            for stage, outputs in DEFAULT_CHAIN_WRITES.items() for output in outputs}


def _colour(key: str) -> bool:
    return key.split(".", 1)[1] in cache_format.COLOUR


def _rgba(key: str, array: np.ndarray, kind: int, codec: int) -> bytes:
    array = np.asarray(array, np.float32)
    if array.ndim == 2:
        bgra = cv2.merge([array, array, array, np.ones_like(array)])
    else:
        bgra = cv2.cvtColor(srgb_to_linear(array) if _colour(key) else array, cv2.COLOR_RGB2BGRA)
    ok, data = cv2.imencode(".exr", bgra, [cv2.IMWRITE_EXR_TYPE, kind, cv2.IMWRITE_EXR_COMPRESSION, codec])
    assert ok
    return data


def write_ms(encode, folder: Path, repeats: int) -> tuple[float, int]:
    """Median milliseconds of `encode()` (-> {name: bytes}) plus writing each file atomically into `folder`, and
    the bytes written."""
    samples, size = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        files = encode()
        for name, data in files.items():
            write_atomic(folder / f"{name}.exr", data)
        samples.append((time.perf_counter() - t0) * 1000)
        size = sum(len(d) for d in files.values())
    return statistics.median(samples), size


def read_exr(data) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(bytes(data), np.uint8), cv2.IMREAD_UNCHANGED)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, None)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def composite(footage: np.ndarray, layer_linear: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """What MRF Blend's inner tree gives, as sRGB in [0, 1]: the footage and the linear layer mixed by alpha (clamped
    to [0, 1]) in linear light."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    return linear_to_srgb(srgb_to_linear(footage) * (1 - a) + layer_linear * a)


def decoded_composite(footage: np.ndarray, files: dict[str, bytes]) -> np.ndarray:
    """The composite from the stored alpha and layer (`now_files`' or `float32_files`' MRF Blend entries)."""
    alpha = read_exr(files["mrf_blend.alpha"])
    layer = read_exr(files["mrf_blend.stylized_for_mix"])
    alpha = alpha if alpha.ndim == 2 else alpha[:, :, 0]
    return composite(footage, np.ascontiguousarray(layer[:, :, 2::-1]), alpha)


def levels(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference of two sRGB frames in 8-bit levels (as 8-bit PNGs round them)."""
    return float(np.abs(np.round(a * 255) - np.round(b * 255)).max())


def run(ctx) -> None:
    frames = QUICK_FRAMES if ctx.quick else FRAMES
    repeats = QUICK_REPEATS if ctx.quick else REPEATS
    service = Service(torch.device(ctx.device))
    decoder = FrameSource()
    ways = {"float32 RGBA, the outputs written before, uncompressed": float32_files,
            "before: every socket's output, half-float RGBA, colour uncompressed, the rest RLE": before_files,
            "now: the outputs read, as cache_format stores them": now_files}
    measured = {name: ([], []) for name in ways}
    worst = {"now": 0.0, "background": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = hd_clip(tmp, frames)
        last, engine_cache, engine_ms, engine_bytes = None, tmp / "engine", [], []
        for index, reply, arrays in run_frames(service, clip, frames, engine_cache):
            engine_ms.append(reply["timings_ms"]["writes"])
            engine_bytes.append(sum(p.stat().st_size for p in engine_cache.rglob(f"{index + 1:06d}.exr")))
            footage = decoder.frame(str(clip), index).astype(np.float32) / 255
            for k, (name, encode) in enumerate(ways.items()):
                folder = tmp / f"way{k}"
                folder.mkdir(exist_ok=True)
                ms, size = write_ms(lambda: encode(arrays), folder, repeats)
                measured[name][0].append(ms)
                measured[name][1].append(size)
            reference = composite(footage, srgb_to_linear(arrays["mrf_blend.stylized_for_mix"]),
                                  arrays["mrf_blend.alpha"])
            now = decoded_composite(footage, now_files(arrays))
            worst["now"] = max(worst["now"], levels(now, reference))
            untouched = read_exr(now_files(arrays)["mrf_blend.alpha"]) == 0
            worst["background"] = max(worst["background"],
                                      float(np.abs(now[untouched] - linear_to_srgb(srgb_to_linear(footage))[untouched])
                                            .max(initial=0.0)))
            last = arrays
        group = f"cache per {SIZE[0]}x{SIZE[1]} frame, default chain ({frames} frames of vtest.avi upscaled)"
        for name, (ms, sizes) in measured.items():
            ctx.value(f"{name}: MB", statistics.mean(sizes) / 1e6, "MB", group=group)
            ctx.value(f"{name}: write ms", statistics.median(ms), "ms", group=group,
                      note="encode and write, one thread")
        ctx.value("now, as the engine wrote them: MB on disk", statistics.mean(engine_bytes) / 1e6, "MB", group=group)
        ctx.value("now, the engine's wait for its writes after the last stage", statistics.median(engine_ms), "ms",
                  group=group, note="reply timings_ms.writes: two threads, started as each stage ends")
        ctx.value("now: largest composite difference from float32", worst["now"], "levels", group=group,
                  note="8-bit; issue target: at most 1")
        ctx.value("now: composite outside alpha > 0, off the footage", worst["background"], "", group=group,
                  note="0: the footage's own pixels")
        _codecs(ctx, last, tmp / "codecs", QUICK_REPEATS if ctx.quick else CODEC_REPEATS)


def _codecs(ctx, arrays: dict[str, np.ndarray], folder: Path, repeats: int) -> None:
    folder.mkdir()
    alpha = arrays["mrf_blend.alpha"]
    contents = {
        "mask (MRF Blend alpha, one channel)": alpha,
        "mix layer, zero where alpha is 0 (as stored)":
            cache_format.stored("stylized_for_mix", {"stylized_for_mix": arrays["mrf_blend.stylized_for_mix"],
                                                      "alpha": alpha})[0],
        "natural colour (Neural Style's stylized frame, linear)": srgb_to_linear(arrays["neural_style.image"]),
    }
    for content, image in contents.items():
        group = f"EXR codecs, half floats: {content}"
        costs = {}
        for codec in EXR_CODECS:
            ms, size = write_ms(lambda: {"frame": encode_exr(image, codec)}, folder, repeats)
            costs[codec] = ms + size / 1e6 / SHARE_MB_PER_S * 1000
            ctx.value(f"{codec}: MB", size / 1e6, "MB", group=group)
            ctx.value(f"{codec}: write ms", ms, "ms", group=group)
        best = min(costs, key=costs.get)
        for codec, cost in costs.items():
            ctx.value(f"{codec}: write ms + bytes at {SHARE_MB_PER_S:.0f} MB/s", cost, "ms", group=group,
                      note="lowest" if codec == best else "")
