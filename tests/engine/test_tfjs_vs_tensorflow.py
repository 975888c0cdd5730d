"""The tfjs graph interpreter against real TensorFlow 2.15 on real images.

tests/engine/data/tensorflow_reference.npz holds TensorFlow's outputs for the same graphs and inputs (made
once in a throwaway TensorFlow venv; TensorFlow is not a dependency): CenterNet's 100 detections for the
letterboxed messi5.jpg, and RVM's alpha for vtest.avi frame 0 at downsample ratio 0.25 from a fresh state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from instyle.media import FrameSource, read_image
from instyle.models.detector import INPUT_SIZE, letterbox
from instyle.models.matte import RobustVideoMatte
from instyle.models.tfjs_graph import TfjsGraph
from instyle.modelstore import ModelStore

from ..conftest import MESSI, VTEST

REFERENCE = np.load(Path(__file__).with_name("data") / "tensorflow_reference.npz")


def test_centernet_detections_match_tensorflow():
    graph = TfjsGraph(ModelStore().path("centernet", "centernet.json"))
    image, _ = letterbox(read_image(MESSI), INPUT_SIZE)
    ours = graph.run({"tower_0/images": torch.from_numpy(image[None].astype(np.float32))},
                     ["tower_0/detections"])["tower_0/detections"][0].numpy()
    theirs = REFERENCE["centernet_messi_detections"]
    assert np.array_equal(ours[:, 5], theirs[:, 5]), "classes differ"
    assert np.abs(ours[:, 4] - theirs[:, 4]).max() < 1e-4, "scores differ by 1e-4 or more"
    assert np.abs(ours[:, :4] - theirs[:, :4]).max() < 1e-2, "boxes differ by 0.01 px or more"


def test_rvm_alpha_matches_tensorflow():
    model = RobustVideoMatte(ModelStore().path("rvm", "rvm.json").parent)
    frame = FrameSource().frame(str(VTEST), 0)
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    ours = model(x, downsample_ratio=0.25)[0, 0].numpy()
    theirs = REFERENCE["rvm_vtest0_alpha"].astype(np.float32)
    assert ours.shape == theirs.shape == (576, 768)
    assert np.abs(ours - theirs).max() < 1e-3, "alpha differs by 1e-3 or more (the reference is float16)"
    assert theirs.max() > 0.9
