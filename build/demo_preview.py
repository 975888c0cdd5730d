"""The demo's side-by-side preview: a source frame next to its rendered result (OUT/preview.png)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from instyle.media import FrameSource


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    report = json.loads((args.out / "timings.json").read_text())
    counts = {int(f): n for f, n in report["instances_per_frame"].items()}
    frame = max(counts, key=lambda f: (counts[f], -f))
    rendered = cv2.imread(str(args.out / f"{frame:06d}.png"))
    if args.input.suffix.lower() in {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".bmp"}:
        source = cv2.imread(str(sorted(args.input.parent.glob(f"*{args.input.suffix}"))[frame - 1]))
    else:
        source = cv2.cvtColor(FrameSource().frame(str(args.input), frame - 1), cv2.COLOR_RGB2BGR)
    gap = np.full((source.shape[0], 8, 3), 255, np.uint8)
    cv2.imwrite(str(args.out / "preview.png"), np.hstack([source, gap, rendered]))


if __name__ == "__main__":
    main()
