"""Cache frames as the engine writes them: what a reader gets back, and how they are stored."""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from instyle.media import write_exr  # noqa: E402


def read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_grey_frames_come_back_as_three_equal_channels_and_opaque_with_exact_levels(tmp_path):
    mask = np.zeros((48, 64), np.float32)
    mask[10:30, 20:40] = 1.0
    mask[5, :] = np.linspace(0, 1, 64, dtype=np.float32)
    ids = np.zeros_like(mask)
    ids[:, :32], ids[:, 32:] = 7.0, 2047.0
    for name, image in (("mask", mask), ("ids", ids)):
        path = tmp_path / name / "000001.exr"
        write_exr(path, image)
        back = read(path)
        assert back.shape == (48, 64, 4) and back.dtype == np.float32 and (back[:, :, 3] == 1).all()
        assert (back[:, :, 0] == back[:, :, 1]).all() and (back[:, :, 0] == back[:, :, 2]).all()
        assert np.abs(back[:, :, 0] - image).max() <= 1e-3 * max(1.0, image.max())
    assert read(tmp_path / "mask" / "000001.exr")[10:30, 20:40, :3].min() == 1.0  # 0 and 1 exact in half floats
    assert set(np.unique(read(tmp_path / "ids" / "000001.exr")[:, :, :3])) == {7.0, 2047.0}


def test_colour_frames_keep_rgb_order_and_every_8_bit_level_and_are_opaque(tmp_path):
    levels = np.arange(256, dtype=np.float32) / 255
    image = np.stack([np.tile(levels, (4, 1)), np.tile(levels[::-1], (4, 1)), np.full((4, 256), 0.25, np.float32)],
                     axis=2)
    write_exr(tmp_path / "c.exr", image)
    back = read(tmp_path / "c.exr")
    assert back.shape == (4, 256, 4) and (back[:, :, 3] == 1).all()
    rgb = back[:, :, 2::-1]
    assert np.abs(rgb - image).max() < 1e-3
    assert len(np.unique(rgb[0, :, 0])) == 256  # distinguishable levels


def test_grey_frames_are_compressed_and_no_temporary_file_is_left(tmp_path):
    mask = np.zeros((576, 768), np.float32)
    mask[100:400, 300:420] = 1.0
    write_exr(tmp_path / "m" / "000002.exr", mask)
    write_exr(tmp_path / "c" / "000002.exr", np.repeat(mask[:, :, None], 3, axis=2))
    grey, colour = (os.path.getsize(tmp_path / d / "000002.exr") for d in ("m", "c"))
    assert grey * 10 < colour  # RLE for masks; colour frames are stored uncompressed (half-float RGBA)
    assert colour >= 576 * 768 * 4 * 2
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
    assert read(tmp_path / "s" / "mask" / "000007.exr")[:, :, :3].min() == 1.0  # no mask stage: all of the frame
    assert reply["timings_ms"]["writes"] >= 0
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    header["pipeline"][0]["write"] = str(tmp_path / "blocked")
    with pytest.raises(CacheError) as err:
        service.run(parse_run(header), [memoryview(pixels).cast("B")])
    assert (err.value.code, err.value.stage) == ("cache_not_folder", "neural_style") and "remove" in err.value.hint
