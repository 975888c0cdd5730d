"""The files a stage's outputs are written to when a request names a folder for them (`write`): one EXR per
output and frame, `<folder>/<output>/<frame:06d>.exr`. The add-on's nodes read them back as image sequences."""

from __future__ import annotations

from pathlib import Path


def frame_name(frame: int) -> str:
    """The file name of `frame` (0 to 9999999): "000012.exr" for 12."""
    return f"{frame:06d}.exr"


def frame_file(folder: Path, output: str, frame: int) -> Path:
    """Where output `output` of `frame` is written under the stage's `folder`."""
    return folder / output / frame_name(frame)
