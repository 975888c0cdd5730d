"""The demo's side-by-side preview: a source frame next to its rendered result (OUT/preview.png)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import cv2
import numpy as np

from instyle.media import IMAGE_SUFFIXES, FrameSource, sequence_file


def source_file(first: Path, frame: int) -> Path:
    """The file shown at demo frame `frame` (from 1) when the demo's input is the image `first`: the image itself,
    or, when it starts a numbered sequence (as the demo renders it), the sequence's `frame`-th file; never another
    image of the folder."""
    number = re.search(r"\d+$", first.stem)
    if number is None:
        return first
    pattern = first.with_name(f"{first.stem[:number.start()]}{'#' * len(number.group())}{first.suffix}")
    later = sequence_file(str(pattern), int(number.group()) + frame - 1)
    return later if later.is_file() and sequence_file(str(pattern), int(number.group()) + 1).is_file() else first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    report = json.loads((args.out / "timings.json").read_text())
    counts = {int(f): n for f, n in report["instances_per_frame"].items()}
    frame = max(counts, key=lambda f: (counts[f], -f))
    rendered = cv2.imread(str(args.out / f"{frame:06d}.png"))
    if args.input.suffix.lower() in IMAGE_SUFFIXES:
        source = cv2.imread(str(source_file(args.input, frame)))
    else:
        source = cv2.cvtColor(FrameSource().frame(str(args.input), frame - 1), cv2.COLOR_RGB2BGR)
    gap = np.full((source.shape[0], 8, 3), 255, np.uint8)
    cv2.imwrite(str(args.out / "preview.png"), np.hstack([source, gap, rendered]))


if __name__ == "__main__":
    main()
