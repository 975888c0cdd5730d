"""Cache frames as the engine writes them: what a reader gets back, and how they are stored."""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from instyle import cache_format  # noqa: E402
from instyle.media import write_exr  # noqa: E402


def read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, None)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def test_grey_frames_come_back_as_one_channel_with_exact_levels_and_ids_exact_past_half_floats(tmp_path):
    mask = np.zeros((48, 64), np.float32)
    mask[10:30, 20:40] = 1.0
    mask[5, :] = np.linspace(0, 1, 64, dtype=np.float32)
    tracks = np.zeros_like(mask)
    tracks[:, :32], tracks[:, 32:] = 7.0, 5001.0  # past 2048: half floats would round it
    for name, image in (("mask", mask), ("tracks", tracks)):
        path = tmp_path / name / "000001.exr"
        write_exr(path, *cache_format.stored(name, {name: image}))
        back = read(path)
        assert back.shape == (48, 64) and back.dtype == np.float32  # one channel, Y: Blender reads R = G = B
    back = read(tmp_path / "mask" / "000001.exr")
    assert np.abs(back - mask).max() <= 1e-3 and back[10:30, 20:40].min() == 1.0  # 0 and 1 exact in half floats
    assert set(np.unique(read(tmp_path / "tracks" / "000001.exr"))) == {7.0, 5001.0}


def test_colour_frames_keep_rgb_order_and_every_8_bit_level_and_have_no_alpha_channel(tmp_path):
    levels = np.arange(256, dtype=np.float32) / 255
    image = np.stack([np.tile(levels, (4, 1)), np.tile(levels[::-1], (4, 1)), np.full((4, 256), 0.25, np.float32)],
                     axis=2)
    (tmp_path / "c.exr").write_bytes(cache_format.encode("image", {"image": image}).tobytes())
    back = read(tmp_path / "c.exr")
    assert back.shape == (4, 256, 3)  # readers take alpha as 1
    rgb = linear_to_srgb(back[:, :, ::-1])
    assert np.abs(rgb - image).max() < 0.25 / 255
    assert len(np.unique(np.round(rgb[0, :, 0] * 255))) == 256


def test_a_mix_layer_is_zero_where_its_factor_is_and_kept_where_it_is_not(tmp_path):
    layer = np.random.default_rng(0).random((48, 64, 3)).astype(np.float32)
    alpha = np.zeros((48, 64), np.float32)
    alpha[10:20, 5:30], alpha[20, 5:30] = 1.0, 1e-3
    (tmp_path / "l.exr").write_bytes(cache_format.encode("stylized_for_mix",
                                                         {"stylized_for_mix": layer, "alpha": alpha}).tobytes())
    back = linear_to_srgb(read(tmp_path / "l.exr")[:, :, ::-1])
    assert (back[alpha == 0] == 0).all()
    assert np.abs(back[alpha > 0] - layer[alpha > 0]).max() < 0.5 / 255


def test_masks_and_mostly_empty_layers_are_compressed_and_no_temporary_file_is_left(tmp_path):
    mask = np.zeros((576, 768), np.float32)
    mask[100:400, 300:420] = 1.0
    layer = np.random.default_rng(0).random((576, 768, 3)).astype(np.float32)
    write_exr(tmp_path / "m" / "000002.exr", *cache_format.stored("mask", {"mask": mask}))
    write_exr(tmp_path / "l" / "000002.exr",
              *cache_format.stored("stylized_for_mix", {"stylized_for_mix": layer, "alpha": mask}))
    grey, mixed = (os.path.getsize(tmp_path / d / "000002.exr") for d in ("m", "l"))
    raw = 576 * 768 * 2  # bytes of one uncompressed half-float channel
    assert grey * 20 < raw and mixed < 3 * raw * 0.15  # the layer: 8% of the frame kept, of noise
    assert sorted(os.listdir(tmp_path / "m")) == ["000002.exr"]


def test_the_engine_writes_a_frames_outputs_beside_its_stages_and_reports_a_failed_write(tmp_path):
    import torch

    from instyle.cache_errors import CacheError
    from instyle.service import Service
    from instyle.wire.requests import parse_run

    service = Service(torch.device("cpu"))
    pixels = np.full((48, 64, 3), 90, np.uint8)
    header = {"id": 1, "source": {"kind": "pixels", "array": {"dtype": "uint8", "shape": [48, 64, 3], "payload": 0}},
              "frame_number": 7,
              "pipeline": [{"stage": "neural_style", "params": {"temporal": 0.0}, "write": str(tmp_path / "s")}]}
    reply, _ = service.run(parse_run(header), [memoryview(pixels).cast("B")])
    assert reply["written"] == [str(tmp_path / "s" / o / "000007.exr") for o in ("image", "mask")]
    assert read(tmp_path / "s" / "mask" / "000007.exr").min() == 1.0  # no mask stage: all of the frame
    assert reply["timings_ms"]["writes"] >= 0
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    header["pipeline"][0]["write"] = str(tmp_path / "blocked")
    with pytest.raises(CacheError) as err:
        service.run(parse_run(header), [memoryview(pixels).cast("B")])
    assert (err.value.code, err.value.stage) == ("cache_not_folder", "neural_style") and "remove" in err.value.hint


def test_a_1080p_frame_of_the_default_chain_is_cached_in_at_most_8_mb_and_composites_within_a_level_of_float32(
        tmp_path):
    """Issue 19: the default chain's cache (what Blender reads of it: MRF Blend's alpha and stylized layer) holds at
    most 8 MB per 1080p frame, and the frame Blender composites from it (footage and layer mixed by alpha in linear
    light) is within one 8-bit level of the one composited from the float32 outputs, and the footage itself,
    bit for bit, where alpha is 0."""
    import torch

    from instyle.bench.cache import (DEFAULT_CHAIN_WRITES, composite, decoded_composite, float32_files, hd_clip,
                                     levels, linear_to_srgb, run_frames)
    from instyle.media import FrameSource, srgb_to_linear
    from instyle.service import Service

    clip, cache = hd_clip(tmp_path, 2), tmp_path / "cache"
    returns = {"mrf_blend": ("alpha", "stylized_for_mix")}
    service, decoder = Service(torch.device("cpu")), FrameSource()
    for index, reply, arrays in run_frames(service, clip, 2, cache, returns):
        number = f"{index + 1:06d}.exr"
        written = sorted(cache.rglob(number))
        assert sorted(str(p.relative_to(cache)) for p in written) == [
            f"{s}/{o}/{number}" for s, outputs in DEFAULT_CHAIN_WRITES.items() for o in outputs]
        assert sum(p.stat().st_size for p in written) <= 8_000_000
        footage = decoder.frame(str(clip), index).astype(np.float32) / 255
        stored = {f"mrf_blend.{o}": (cache / "mrf_blend" / o / number).read_bytes() for o in returns["mrf_blend"]}
        now = decoded_composite(footage, stored)
        reference = composite(footage, srgb_to_linear(arrays["mrf_blend.stylized_for_mix"]), arrays["mrf_blend.alpha"])
        assert levels(now, reference) <= 1
        assert levels(now, decoded_composite(footage, float32_files(arrays))) <= 1
        untouched = arrays["mrf_blend.alpha"] == 0
        assert untouched.mean() > 0.5 and (read(cache / "mrf_blend" / "alpha" / number)[untouched] == 0).all()
        assert np.array_equal(now[untouched], linear_to_srgb(srgb_to_linear(footage))[untouched])
        assert len(reply["instances"]) >= 3
