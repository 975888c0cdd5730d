"""What Blender 5.0 reads of the cache's EXR frames (`engine/instyle/cache_format.py`): one-channel masks and ids
(ids in 32-bit floats, exact past 2048), colour with no alpha channel, and why crops are written as whole frames."""

from __future__ import annotations

import struct
import subprocess
import textwrap
import zlib
from pathlib import Path

import bpy
import numpy as np

from ..conftest import ENGINE_PYTHON
from .conftest import pixels

W, H = 64, 48


def test_one_channel_masks_and_ids_and_colour_without_alpha_read_as_the_engine_wrote_them(fresh, tmp_path):
    rng = np.random.default_rng(3)
    arrays = {"alpha": rng.random((H, W)).astype(np.float32), "tracks": np.full((H, W), 5001.0, np.float32),
              "image": rng.random((H, W, 3)).astype(np.float32)}
    arrays["tracks"][:, :20] = 0.0
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
    subprocess.run([str(ENGINE_PYTHON), "-c", textwrap.dedent(f"""
        from pathlib import Path
        import numpy as np
        from instyle import cache_format
        folder = Path({str(tmp_path)!r})
        for name in ("alpha", "tracks", "image"):
            data = cache_format.encode(name, {{name: np.load(folder / f"{{name}}.npy")}})
            (folder / f"{{name}}.exr").write_bytes(data.tobytes())
    """)], check=True, timeout=120)
    alpha, tracks, image = (pixels(tmp_path / f"{name}.exr") for name in ("alpha", "tracks", "image"))
    for grey, want, tolerance in ((alpha, arrays["alpha"], 1e-3), (tracks, arrays["tracks"], 0)):
        assert (grey[..., 3] == 1).all() and (grey[..., :3] == grey[..., :1]).all()  # R = G = B
        assert np.abs(grey[..., 0] - want).max() <= tolerance
    linear = np.where(arrays["image"] <= 0.04045, arrays["image"] / 12.92, ((arrays["image"] + 0.055) / 1.055) ** 2.4)
    assert (image[..., 3] == 1).all() and np.abs(image[..., :3] - linear).max() < 1e-3


def _attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def crop_exr(path: Path, rgb: np.ndarray, origin: tuple[int, int], size: tuple[int, int]) -> None:
    """A scanline EXR (half floats, ZIP) whose data window is `rgb` at `origin` (x, y) in a `size` display window:
    a crop, as OpenCV cannot write one."""
    h, w = rgb.shape[:2]
    (x0, y0), channels = origin, b"".join(c + b"\0" + struct.pack("<iB3xii", 1, 0, 1, 1) for c in (b"B", b"G", b"R"))
    header = b"".join([
        _attribute("channels", "chlist", channels + b"\0"),
        _attribute("compression", "compression", bytes([3])),
        _attribute("dataWindow", "box2i", struct.pack("<4i", x0, y0, x0 + w - 1, y0 + h - 1)),
        _attribute("displayWindow", "box2i", struct.pack("<4i", 0, 0, size[0] - 1, size[1] - 1)),
        _attribute("lineOrder", "lineOrder", b"\0"),
        _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
        _attribute("screenWindowCenter", "v2f", struct.pack("<2f", 0.0, 0.0)),
        _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0))]) + b"\0"
    planes = np.stack([rgb[..., 2], rgb[..., 1], rgb[..., 0]], axis=1).astype(np.float16)  # H x (B, G, R) x W
    chunks = []
    for y in range(0, h, 16):  # ZIP: 16 lines a block, bytes split in two halves, deltas, zlib
        raw = np.frombuffer(planes[y:y + 16].tobytes(), np.uint8)
        split = np.concatenate([raw[0::2], raw[1::2]]).astype(np.int16)
        split[1:] = (split[1:] - split[:-1] + 128) & 0xFF
        data = zlib.compress(split.astype(np.uint8).tobytes())
        data = data if len(data) < raw.size else raw.tobytes()
        chunks.append(struct.pack("<ii", y0 + y, len(data)) + data)
    head = b"v/1\x01" + struct.pack("<i", 2) + header
    offsets = np.cumsum([len(head) + 8 * len(chunks)] + [len(c) for c in chunks[:-1]])
    path.write_bytes(head + struct.pack(f"<{len(chunks)}Q", *offsets.tolist()) + b"".join(chunks))


def test_a_crop_in_a_data_window_is_not_placed_where_it_lies_so_the_cache_writes_whole_frames(fresh, tmp_path):
    """Blender 5.0.1 loads an EXR whose data window is smaller than its display window as an image of the data
    window's size, and the compositor centres it: a crop would land in the wrong place. If this fails, Blender
    honours data windows, and the cache could write crops (a stylized person's box) instead of whole frames."""
    crop = np.random.default_rng(4).random((15, 20, 3)).astype(np.float16).astype(np.float32)
    origin = (5, 6)
    (tmp_path / "seq").mkdir()
    crop_exr(tmp_path / "seq" / "000001.exr", crop, origin, (W, H))
    assert pixels(tmp_path / "seq" / "000001.exr").shape == (15, 20, 4)  # the data window's size

    scene = bpy.context.scene
    tree = scene.compositing_node_group = bpy.data.node_groups.new("crop", "CompositorNodeTree")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    image = bpy.data.images.new("crop", 1, 1, alpha=True, float_buffer=True)
    image.source, image.filepath = "SEQUENCE", str(tmp_path / "seq" / "000001.exr")
    image.colorspace_settings.name = "Non-Color"
    reader = tree.nodes.new("CompositorNodeImage")
    reader.image, reader.frame_start, reader.frame_duration = image, 1, 1
    tree.links.new(reader.outputs["Image"], tree.nodes.new("NodeGroupOutput").inputs[0])
    fresh.graph_setup.exact_output(scene, W, H, 1)
    settings = scene.render.image_settings
    settings.file_format, settings.color_mode, settings.color_depth = "OPEN_EXR", "RGBA", "32"
    scene.render.filepath = str(tmp_path / "out" / "######")
    bpy.ops.render.render(animation=True)
    rendered = pixels(tmp_path / "out" / "000001.exr")
    where = np.argwhere(rendered[..., 3] > 0)
    top_left = tuple(int(v) for v in where.min(axis=0)[::-1])
    x, y = top_left
    assert abs(x - (W - 20) / 2) <= 0.5 and abs(y - (H - 15) / 2) <= 0.5 and top_left != origin  # centred
    assert np.abs(rendered[y:y + 15, x:x + 20, :3] - crop).max() < 1e-3
