"""Footage in (OpenCV decoding with decoders kept open) and cache frames out (atomic EXR writes).

Footage is a video file (frames from 0), a still image (frame 0), or an image sequence: a path whose file name
holds the frame number as a run of '#' (as in Blender's output paths), padded with zeros to the run's width, and
whose frames are those numbers.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path

from .wire.atomic_files import write_atomic
from .wire.errors import InstyleError
from .wire.footage_tags import file_identity

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".bmp", ".webp"}


class SourceError(InstyleError):
    """Footage that cannot be read: `code` is "source_missing", "source_unreadable" or "frame_out_of_range"."""


class VideoReader:
    """An open video. Reads at the next index decode forward; a jump ahead decodes forward too (grabbing the
    frames between) when that costs less than seeking, both costs as measured on this file; other jumps seek.
    `seeks` counts the seeks."""

    def __init__(self, path: Path):
        self.path = path
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise SourceError("source_unreadable", f"OpenCV cannot decode {path}",
                              "check that it is a video or image file; convert it with ffmpeg if its codec is unusual")
        self.frame_count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.next_index = 0
        self.seeks = 0
        self._grab_s: float | None = None  # seconds per frame decoded forward, and per seek: running averages
        self._seek_s: float | None = None

    def read(self, index: int) -> np.ndarray:
        if index < 0 or (self.frame_count > 0 and index >= self.frame_count):
            raise SourceError("frame_out_of_range", f"frame {index} is outside {self.path.name}, which has frames "
                              f"0 to {self.frame_count - 1}", "check the clip's start frame and offset in Blender")
        gap = index - self.next_index
        if gap > 0 and None not in (self._grab_s, self._seek_s) and gap * self._grab_s < self._seek_s:
            ok = self._decode_forward(gap + 1)
        elif gap != 0:
            start = time.perf_counter()
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._seek_s = _average(self._seek_s, time.perf_counter() - start)
            self.seeks += 1
            ok = self._decode_forward(1)
        else:
            ok = self._decode_forward(1)
        bgr = self.capture.retrieve()[1] if ok else None
        if bgr is None:
            raise SourceError("frame_out_of_range", f"frame {index} of {self.path.name} could not be decoded",
                              "the file may be shorter than its header says, or damaged")
        self.next_index = index + 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _decode_forward(self, count: int) -> bool:
        """Decode `count` frames on; False if the decoder stops before (its position is then unknown)."""
        start = time.perf_counter()
        for _ in range(count):
            if not self.capture.grab():
                return False
            self.next_index += 1
        self._grab_s = _average(self._grab_s, (time.perf_counter() - start) / count)
        return True

    def close(self):
        self.capture.release()


def _average(mean: float | None, sample: float) -> float:
    return sample if mean is None else 0.8 * mean + 0.2 * sample


class FrameSource:
    """Decodes frames of files on disk; keeps the most recently used decoders open, one per file and stream: a
    stream is a decoder's position, so reads that jump about (key frames) take their own and leave another
    stream's sequential reads undisturbed."""

    def __init__(self, max_open: int = 8):
        self.max_open = max_open
        self._readers: OrderedDict[tuple[Path, str], VideoReader] = OrderedDict()
        self._lock = threading.Lock()

    def frame(self, path: str, index: int, stream: str = "render") -> np.ndarray:
        """Frame `index` of a video or an image sequence, or the image at `path` (index 0): uint8 HxWx3 RGB."""
        if is_sequence(path):
            file = sequence_file(path, index)
            if not file.is_file():
                raise SourceError("frame_out_of_range", f"image sequence {Path(path).name} has no frame {index}: "
                                  f"{file} does not exist", "check the sequence's frame range and offset in Blender")
            return read_image(file)
        file = Path(path)
        if not file.is_file():
            raise SourceError("source_missing", f"footage file not found: {path}",
                              "relink the Movie Clip or Image node to an existing file")
        if is_still(path):
            if index != 0:
                raise SourceError("frame_out_of_range", f"{file.name} is a still image; frame {index} does not exist",
                                  "use frame 0, or give the image sequence's file for this frame")
            return read_image(file)
        with self._lock:
            reader = self._readers.pop((file, stream), None) or VideoReader(file)
            try:
                frame = reader.read(index)
            except SourceError:  # a decoder that failed is closed: the next read opens the file afresh
                reader.close()
                raise
            self._readers[(file, stream)] = reader
            while len(self._readers) > self.max_open:
                self._readers.popitem(last=False)[1].close()
            return frame


def is_sequence(path: str) -> bool:
    """Whether `path` names an image sequence (its file name holds a run of '#')."""
    return "#" in Path(path).name


def is_still(path: str) -> bool:
    """Whether `path` names one image: not a video, not an image sequence."""
    return not is_sequence(path) and Path(path).suffix.lower() in IMAGE_SUFFIXES


def sequence_file(pattern: str, number: int) -> Path:
    """The file of image sequence `pattern` that holds frame `number`."""
    path = Path(pattern)
    run = re.search(r"#+", path.name)
    return path.with_name(path.name[:run.start()] + f"{number:0{len(run.group())}d}" + path.name[run.end():])


def footage_identity(path: str, index: int) -> tuple:
    """What names the version of footage frame `index` that the engine reads: the file it is read from (a video's
    or a still's one file, or the image sequence's file for that frame) with its size and modification time, so
    that a file rewritten in place is new footage; an image sequence's other files do not count. A missing file
    has size and time None (`wire.footage_tags.file_identity`)."""
    return tuple(file_identity(sequence_file(path, index) if is_sequence(path) else path))


def shot_identity(path: str) -> tuple:
    """What a record of a whole shot (the Instance Tracker's tracks) is kept under: a video's identity (any change
    is new footage), or an image sequence's pattern, whose files count one by one, each where its frame's record
    is read (see `track_store`)."""
    return (os.path.abspath(path),) if is_sequence(path) else footage_identity(path, 0)


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 HxWx3 RGB (16-bit and float images are scaled to 8 bits)."""
    try:
        data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV refuses images it declares too large for it (over 2^30 pixels)
        raise SourceError("source_unreadable", f"OpenCV cannot read the image {path}: {exc.err}",
                          "check that the file is an image of at most 2^30 pixels") from None
    if data is None:
        raise SourceError("source_unreadable", f"OpenCV cannot read the image {path}", "check that the file is an image")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (IEC 61966-2-1), float32."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


EXR_CODECS = {"none": cv2.IMWRITE_EXR_COMPRESSION_NO, "rle": cv2.IMWRITE_EXR_COMPRESSION_RLE,
              "zips": cv2.IMWRITE_EXR_COMPRESSION_ZIPS, "zip": cv2.IMWRITE_EXR_COMPRESSION_ZIP,
              "piz": cv2.IMWRITE_EXR_COMPRESSION_PIZ}
"""The lossless EXR codecs (Blender reads them all); `bench cache` measures them."""


def encode_exr(image: np.ndarray, codec: str = "rle", half: bool = True) -> np.ndarray:
    """HxW (grey) or HxWx3 RGB float32 as the bytes of an EXR file with no alpha channel (readers take alpha as 1):
    grey as one channel, Y, which Blender reads as R = G = B; colour as R, G and B.

    `half` stores 16-bit floats: they keep 0 and 1 exact, integers to 2048 exact, and 8-bit sRGB levels
    distinguishable after the linear conversion; otherwise 32-bit floats. `codec` is one of `EXR_CODECS`.
    """
    image = np.asarray(image, dtype=np.float32)
    data = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".exr", data, [
        cv2.IMWRITE_EXR_TYPE, cv2.IMWRITE_EXR_TYPE_HALF if half else cv2.IMWRITE_EXR_TYPE_FLOAT,
        cv2.IMWRITE_EXR_COMPRESSION, EXR_CODECS[codec]])
    if not ok:
        raise RuntimeError("OpenCV could not encode an EXR image")
    return encoded


def write_exr(path: Path, image: np.ndarray, codec: str = "rle", half: bool = True) -> None:
    """Write `image` as `encode_exr` encodes it, atomically and safely in a shared folder (`wire.atomic_files`;
    OpenCV encodes in memory, through a private temporary file of its own)."""
    data = encode_exr(image, codec, half)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
