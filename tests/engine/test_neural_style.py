"""Neural Style: style references, methods, localized application, controls and temporal stabilisation, on
real frames and the real offline models."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from instyle.frame_state import FrameState, Instance, ShotState
from instyle.media import FrameSource
from instyle.models.arbitrary_style import ArbitraryStyle, MODEL as ARBITRARY, TRANSFORM_FILE
from instyle.models.fast_style import style_vector
from instyle.models.zoo import ModelZoo
from instyle.modelstore import ModelStore
from instyle.ops import temporal
from instyle.ops.colour import luminance_only, match_colours
from instyle.scheduler import Cancelled
from instyle.service import Service
from instyle.stage_context import StageContext
from instyle.stages import neural_style
from instyle.stylize import optimise
from instyle.stylize.styles import parse_map, parse_style
from instyle.wire.params import ParamError
from instyle.wire.requests import FileSource, parse_run

from ..conftest import MESSI, OPENCV_DATA, VTEST
from .test_modelstore import adain_files, store_with  # noqa: F401  (adain_files is a fixture)

STARRY = OPENCV_DATA / "starry_night.jpg"
STORE = ModelStore()
ZOO = ModelZoo(STORE, torch.device("cpu"))
FRAMES = FrameSource()


def rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def params(**given) -> dict:
    return neural_style.SPEC.resolve(given)


def two_people(frame_index: int = 300):
    """A vtest frame with two hand-made people (ellipse masks in person-sized boxes), ids 1 and 2."""
    frame = FrameSource().frame(str(VTEST), frame_index)
    instances = []
    for track, (x0, y0, x1, y1) in ((1, (100, 200, 160, 350)), (2, (500, 150, 560, 300))):
        mask = np.zeros(frame.shape[:2], np.float32)
        cv2.ellipse(mask, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1.0, -1)
        instances.append(Instance((x0, y0, x1, y1), "person", 0.9, mask, track))
    return frame, instances


def run_stage(frame, instances, given: dict, shot=None, index=300, video=VTEST):
    """The stage on `frame`, frame `index` of `video` (None: pixels sent by a client)."""
    state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index, instances=instances,
                       mask=None if instances is None else np.max([i.mask for i in instances], axis=0))
    source = FileSource(str(video), index) if video else None
    neural_style.run(state, params(temporal=0.0, **given), StageContext(ZOO, shot or ShotState(), frame, index,
                                                                         source=source, frames=FRAMES))
    return state


# --- style references ------------------------------------------------------------------------------------

def test_style_references_parse_names_mixes_and_images():
    assert parse_style("style07", "s").weights == (("style07", 1.0),)
    mix = dict(parse_style("style03*1 + style07*3", "s").weights)
    assert mix == pytest.approx({"style03": 0.25, "style07": 0.75})
    assert parse_style(str(STARRY), "s").image == str(STARRY)
    assert parse_map("1=style05; 4=style03+style07", "t", "id")[4].weights == (("style03", 0.5), ("style07", 0.5))
    assert set(parse_map("person=style03; car=style19", "c", "class")) == {"person", "car"}


@pytest.mark.parametrize("text, kind, message", [
    ("vangogh", "style", "neither a fixed style"),
    ("/no/such/painting.jpg", "style", "does not exist"),
    ("style03*x+style04", "style", "not a number"),
    ("style03*0+style04*0", "style", "sum to zero"),
    ("1:style03", "id", "is not KEY=STYLE"),
    ("0=style03", "id", "not a track id"),
    ("person=style03; preson=style05", "class", "'preson' is not a class; write one of: person, bicycle"),
])
def test_bad_style_references_name_the_problem(text, kind, message):
    with pytest.raises(ParamError, match=message):
        parse_map(text, "x", kind) if kind != "style" else parse_style(text, "x")


def test_image_methods_need_a_style_image_and_a_readable_one(tmp_path):
    frame, instances = two_people()
    with pytest.raises(ParamError, match="needs a style image"):
        run_stage(frame, instances, {"method": "arbitrary", "assign": "single"})
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(ParamError, match="cannot be read"):
        run_stage(frame, instances, {"method": "arbitrary", "style_image": str(broken), "assign": "single"})


def test_per_track_rows_need_no_style_image_of_the_node():
    """The palette covers every id without a row: the node's own style is never used, so need not be given."""
    frame, instances = two_people()
    state = run_stage(frame, instances, {"method": "arbitrary", "track_styles": f"1={STARRY}"})
    assert [i.style for i in state.instances] == [str(STARRY), "style13"]
    assert state.report["neural_style"]["methods"] == ["arbitrary", "fast"]
    with pytest.raises(ParamError, match="needs a style image"):
        run_stage(frame, None, {"method": "arbitrary", "track_styles": f"1={STARRY}"})  # no mask: the whole frame


def test_the_node_style_is_needed_only_where_an_instance_can_take_it():
    masked = StageContext(ZOO, ShotState(), None, 0, pipeline={"instance_mask": {"classes": ("person", "dog")}})
    painting = parse_style(str(STARRY), "t")
    needs = neural_style._uses_default
    assert needs(params(assign="track"), {}, masked, True)  # the whole frame, without a mask stage
    assert not needs(params(assign="track"), {}, masked, False)
    assert not needs(params(assign="class"), {"person": painting, "dog": painting}, masked, False)
    assert needs(params(assign="class"), {"person": painting}, masked, False)  # a dog takes the node's style
    assert needs(params(assign="class"), {"person": painting}, StageContext(ZOO, ShotState(), None, 0), False)
    tracked = StageContext(ZOO, ShotState(), None, 0, pipeline={"instance_mask": {"classes": ("dog",)},
                                                                "instance_tracker": {}})
    assert needs(params(assign="class"), {"dog": painting}, tracked, False)  # people added on the tracker
    assert needs(params(assign="single"), {}, masked, False) and needs(params(assign="foreground"), {}, masked, False)


# --- pure pieces ------------------------------------------------------------------------------------------

def test_colour_matching_moves_mean_and_covariance_onto_the_reference():
    image, reference = rgb(STARRY), rgb(MESSI)
    out = match_colours(image, reference)

    def distance(x):  # of the colour statistics from the reference's
        flat, ref = x.reshape(-1, 3), reference.reshape(-1, 3)
        return (np.abs(flat.mean(0) - ref.mean(0)).max(),
                np.abs(np.cov(flat, rowvar=False) - np.cov(ref, rowvar=False)).max())
    (mean_before, cov_before), (mean_after, cov_after) = distance(image), distance(out)
    assert mean_after < 0.01 < 0.05 < mean_before
    assert cov_after < 0.2 * cov_before  # clipping to [0, 1] keeps it from being exact


def test_luminance_only_keeps_the_contents_chroma_and_the_stylized_luma():
    content, stylized = rgb(MESSI)[:128, :128], rgb(STARRY)[:128, :128]
    out = luminance_only(content, stylized)
    ycc = lambda x: cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb)  # noqa: E731
    assert np.abs(ycc(out)[..., 0] - ycc(stylized)[..., 0]).mean() < 0.01
    assert np.abs(ycc(out)[..., 1:] - ycc(content)[..., 1:]).mean() < 0.01


def test_masked_gram_counts_only_masked_features():
    g = torch.Generator().manual_seed(0)
    features = torch.rand(1, 8, 10, 12, generator=g)
    mask = torch.zeros(1, 1, 10, 12)
    mask[..., :, :6] = 1
    changed = features.clone()
    changed[..., :, 6:] = torch.rand(1, 8, 10, 6, generator=g)
    torch.testing.assert_close(optimise.masked_gram(features, mask), optimise.masked_gram(changed, mask))
    torch.testing.assert_close(optimise.masked_gram(features, torch.ones(1, 1, 10, 12)),
                               optimise.masked_gram(features))
    left = features[..., :, :6]
    torch.testing.assert_close(optimise.masked_gram(features, mask), optimise.masked_gram(left))


def test_optimisation_fits_the_style_inside_the_mask_and_reports_every_step():
    features = ZOO.vgg_features("hed_vgg16")
    content = torch.from_numpy(rgb(MESSI)[40:136, 150:278]).permute(2, 0, 1)[None].contiguous()
    style = torch.from_numpy(cv2.resize(rgb(STARRY), (160, 128))).permute(2, 0, 1)[None].contiguous()
    grams = optimise.style_grams(features, style)
    mask = torch.zeros(1, 1, 96, 128)
    mask[..., :, :64] = 1

    def style_loss(image):
        feats = features(image, optimise.STYLE_LAYERS)
        return sum(torch.nn.functional.mse_loss(
            optimise.masked_gram(f, optimise.layer_mask(mask, f.shape[-2:])), grams[n]).item()
            for n, f in feats.items())
    steps = []
    out = optimise.optimise(content, grams, mask, features, 12, 1.0, lambda i, n: steps.append((i, n)))
    assert steps == [(i, 12) for i in range(1, 13)]
    assert style_loss(out) < 0.5 * style_loss(content)
    change = (out - content).abs().mean(1)[0]
    assert change[:, :56].mean() > 1.5 * change[:, 72:].mean()  # styled where masked, kept near content elsewhere
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_flow_warp_and_warping_error_on_a_known_motion():
    image = rgb(MESSI)[:200, :300]
    moved = np.roll(image, (3, -5), axis=(0, 1))  # frame b: content moved down 3, left 5
    f = temporal.flow(image, moved, "medium")
    inner = (slice(20, -20), slice(20, -20))
    assert np.abs(np.median(f[inner][..., 0]) + 5) < 0.3 and np.abs(np.median(f[inner][..., 1]) - 3) < 0.3
    assert np.abs(temporal.warp(moved, f)[inner] - image[inner]).mean() < 0.02
    assert temporal.warping_error(image, moved, image, moved) < 0.002
    noisy = np.clip(moved + np.random.default_rng(0).normal(0, 0.05, moved.shape).astype(np.float32), 0, 1)
    assert temporal.warping_error(image, noisy, image, moved) > 0.005


def test_arbitrary_network_runs_at_any_size_and_matches_the_published_graph_at_its_own():
    import onnxruntime as ort

    net = ArbitraryStyle(STORE.path(ARBITRARY, TRANSFORM_FILE).parent)
    vector = net.encode(rgb(STARRY))
    content = cv2.resize(rgb(MESSI), (384, 384))
    published = ort.InferenceSession(str(STORE.path(ARBITRARY, TRANSFORM_FILE)), providers=["CPUExecutionProvider"])
    expected = published.run(None, {"content_image": content[None],
                                    "mobilenet_conv/Conv/BiasAdd": vector.reshape(1, 1, 1, 100)})[0][0]
    assert np.abs(net.render(content, vector) - expected).max() < 1e-5
    odd = net.render(rgb(MESSI)[:150, :203], vector)
    assert odd.shape == (150, 203, 3) and 0 <= odd.min() and odd.max() <= 1


# --- the stage --------------------------------------------------------------------------------------------

def test_tracks_get_the_palette_and_overrides_and_the_report_says_so():
    frame, instances = two_people()
    state = run_stage(frame, instances, {"palette": ["style01", "style02"], "track_styles": "2=style09"})
    assert [i.style for i in state.instances] == ["style01", "style09"]
    assert state.report["neural_style"]["tracks"] == {"1": "style01", "2": "style09"}
    alone = run_stage(frame, [Instance(**{**instances[1].__dict__})], {"assign": "single", "style": "style09"})
    box = (slice(150, 300), slice(500, 560))
    inside = instances[1].mask[box] >= 0.5
    assert np.abs(state.stylized[box][inside] - alone.stylized[box][inside]).max() < 1e-4
    far = np.ones(frame.shape[:2], bool)
    for inst in instances:  # the crops: boxes with margins, on the network's stride
        x0, y0, x1, y1 = neural_style._region(inst.box, *frame.shape[:2], 1.0)
        assert x0 < inst.box[0] - 16 and x1 > inst.box[2] + 16 and x0 % 4 == y0 % 4 == 0
        far[y0:y1, x0:x1] = False
    assert np.array_equal(state.stylized[far], state.rgb[far])  # away from people the footage is untouched


@pytest.mark.parametrize("index, to_whole", [(288, 1.0), (300, 2.0)])  # a key frame; half way to the next
def test_a_person_looks_the_same_whatever_crop_is_cut_around_them(index, to_whole):
    frame, instances = two_people(index)
    person = instances[0]
    core = cv2.erode((person.mask >= 0.5).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=6).astype(bool)
    looks = []
    for shift in ((0, 0, 0, 0), (-3, 2, 3, -1), (5, -4, -2, 6)):  # detections of one person jitter by pixels
        box = tuple(b + d for b, d in zip(person.box, shift))
        state = run_stage(frame, [Instance(box, "person", 0.9, person.mask, 1)],
                          {"assign": "single", "region": "crops"}, index=index)
        assert state.report["neural_style"]["mode"] == "crops"
        looks.append(state.stylized[core] * 255)
    whole = run_stage(frame, [Instance(person.box, "person", 0.9, person.mask, 1)],
                      {"assign": "single", "region": "frame"}, index=index).stylized[core] * 255
    for look in looks:  # crops normalised on their own differed by 5 to 29 levels here and on vtest's people
        assert np.abs(look - looks[0]).mean() < 1.0  # measured up to 0.5
        assert np.abs(look - whole).mean() < to_whole  # measured up to 0.45 and 1.57 (the README: 1 and 2)


def test_crops_in_a_style_image_are_normalised_with_the_frames_statistics_too():
    image = {"method": "arbitrary", "style_image": str(STARRY), "assign": "single"}
    # a key frame; half way to the next. The quantised network's int8 kernels differ with the CPU: crops were
    # measured 1.35 and 7.7 levels from the whole frame on an AVX-512 CPU, 4.7 and 10.9 on an AVX2 one; the README
    # states these bounds.
    for index, jitter, to_whole in ((288, 1.5, 5.5), (300, 1.5, 12.0)):
        frame, instances = two_people(index)
        person = instances[0]
        core = cv2.erode((person.mask >= 0.5).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=6).astype(bool)

        def look(box, **given):
            state = run_stage(frame, [Instance(box, "person", 0.9, person.mask, 1)], {**image, **given}, index=index)
            return state.stylized[core] * 255, state.report["neural_style"]["mode"]
        whole, mode = look(person.box, region="frame")
        assert mode == "frame"
        looks = [look(tuple(b + d for b, d in zip(person.box, shift)), region="crops")
                 for shift in ((0, 0, 0, 0), (-3, 2, 3, -1), (5, -4, -2, 6))]
        assert all(mode == "crops" for _, mode in looks)
        for crop, _ in looks:
            assert np.abs(crop - looks[0][0]).mean() < jitter  # measured up to 1.18
            assert np.abs(crop - whole).mean() < to_whole
        # at strength below 1 the style vector mixes in the crop's own content, so crops keep their own statistics
        own, _ = look(person.box, region="crops", strength=0.999)
        assert np.abs(own - whole).mean() > np.abs(looks[0][0] - whole).mean() + 2  # measured 10.5-14.3


def test_neighbours_in_one_style_share_a_crop_and_look_as_they_do_alone():
    frame, _ = two_people()
    people = []
    for track, (x0, y0, x1, y1) in ((1, (300, 200, 360, 350)), (2, (380, 210, 440, 360))):
        mask = np.zeros(frame.shape[:2], np.float32)
        cv2.ellipse(mask, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1.0, -1)
        people.append(Instance((x0, y0, x1, y1), "person", 0.9, mask, track))
    regions = [neural_style._region(p.box, *frame.shape[:2], 1.0) for p in people]
    one, two = parse_style("style03", "s"), parse_style("style04", "s")
    assert [members for _, members in neural_style._crops(regions, [one, one])] == [[0, 1]]
    assert [members for _, members in neural_style._crops(regions, [one, two])] == [[0], [1]]
    together = run_stage(frame, [Instance(**p.__dict__) for p in people], {"assign": "single", "region": "crops"})
    shared = sum(neural_style._area(r) for r in regions) / (frame.shape[0] * frame.shape[1])
    assert together.report["neural_style"]["crop_share"] < shared
    for person in people:
        alone = run_stage(frame, [Instance(**person.__dict__)], {"assign": "single", "region": "crops"})
        inside = person.mask >= 0.5
        assert np.abs(together.stylized[inside] - alone.stylized[inside]).mean() < 1 / 255


def test_key_frame_statistics_are_a_frames_own_on_key_frames_and_stay_within_a_shot(tmp_path):
    from instyle.stylize import key_statistics

    assert key_statistics.key_frames(48) == [(48, 1.0)]
    assert key_statistics.key_frames(54) == [(48, 0.75), (72, 0.25)]
    video = tmp_path / "cuts.avi"  # 60 frames: vtest, a cut at frame 30 to Megamind, one at 44 to tree
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (384, 288))
    for path, count in ((VTEST, 30), (OPENCV_DATA / "Megamind.avi", 14), (OPENCV_DATA / "tree.avi", 16)):
        for k in range(count):
            writer.write(cv2.resize(cv2.cvtColor(FRAMES.frame(str(path), k), cv2.COLOR_RGB2BGR), (384, 288)))
    writer.release()
    net, style = ZOO.fast_style(), style_vector("style05")

    def statistics(index):
        frame = FRAMES.frame(str(video), index)
        ctx = StageContext(ZOO, ShotState(), frame, index, source=FileSource(str(video), index),
                           frames=FRAMES)
        return key_statistics.frame_statistics(net, ctx, index, style, 1.0)

    def own(index):
        return net.layer_statistics(FRAMES.frame(str(video), index).astype(np.float32) / 255.0, style)

    def same(a, b):
        return all(np.allclose(x, y, rtol=1e-5, atol=1e-6) for pa, pb in zip(a, b) for x, y in zip(pa, pb))
    assert same(statistics(24), own(24))
    assert same(statistics(28), own(24))  # key frame 48 lies in another shot
    assert same(statistics(36), own(36))  # both key frames do: the frame is its own
    assert same(statistics(52), own(48))  # key frame 72 lies past the end
    between = [(m0 * 0.5 + m1 * 0.5, v0 * 0.5 + v1 * 0.5) for (m0, v0), (m1, v1) in zip(own(0), own(24))]
    assert same(statistics(12), between)
    assert not same(statistics(12), own(12))


def test_key_frame_statistics_are_taken_ahead_a_pass_a_frame_in_order_and_are_the_same_in_any_order(
        tmp_path, monkeypatch):
    from instyle.stylize import key_statistics

    def clip(name, parts):  # 60 frames at 384x288
        video = tmp_path / name
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (384, 288))
        for path, count in parts:
            for k in range(count):
                writer.write(cv2.resize(cv2.cvtColor(FRAMES.frame(str(path), k), cv2.COLOR_RGB2BGR), (384, 288)))
        writer.release()
        return video
    net, styles = ZOO.fast_style(), [style_vector(name) for name in ("style03", "style13", "style19")]
    passes = []
    whole_frame = key_statistics.layer_statistics
    monkeypatch.setattr(key_statistics, "layer_statistics", lambda *args: passes.append(1) or whole_frame(*args))

    def render(video, order):
        """Each frame's statistics in every style, and the whole-frame passes each took, rendering `order`."""
        shot, found, took = ShotState(), {}, {}
        for index in order:
            ctx = StageContext(ZOO, shot, FRAMES.frame(str(video), index), index, source=FileSource(str(video), index),
                               frames=FRAMES)
            before = len(passes)
            found[index] = key_statistics.crop_statistics(net, ctx, [(index, style) for style in styles], 1.0)
            took[index] = len(passes) - before
            assert set(ctx.reads) <= {index, *(key for key, _ in key_statistics.key_frames(index))}
            shot.last_index = index
        return found, took

    vtest = [(VTEST, 60)]  # key frames 0, 24 and 48; 72 lies past the end
    in_order, took = render(clip("in_order.avi", vtest), range(60))
    assert took[0] == 6  # its own key frame, and the one frame 1 needs
    assert max(took[index] for index in range(1, 60)) == 1 and sum(took.values()) == 9
    spare = key_statistics.SPARE_FRAMES  # key frame 48, needed from frame 25 on, over the last frames before
    assert [index for index in range(1, 60) if took[index]] == list(range(25 - 3 - spare, 25 - spare))
    shuffled, took = render(clip("reversed.avi", vtest), reversed(range(60)))  # what each needs, when it needs it
    assert sum(took.values()) == 9 and took[59] == took[47] == took[23] == 3
    for index in range(60):
        assert all(np.array_equal(a, b) for x, y in zip(in_order[index], shuffled[index])
                   for pa, pb in zip(x, y) for a, b in zip(pa, pb)), index
    _, took = render(clip("cut.avi", [(VTEST, 40), (OPENCV_DATA / "Megamind.avi", 20)]), range(60))
    assert took[0] == 6 and not any(took[index] for index in range(1, 40))  # key frame 48 lies in the next shot


def test_a_track_that_appears_finds_its_styles_key_frame_statistics_taken_ahead(tmp_path):
    def clip(name):  # vtest's first 30 frames at 384x288
        video = tmp_path / name
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (384, 288))
        for k in range(30):
            writer.write(cv2.resize(cv2.cvtColor(FRAMES.frame(str(VTEST), k), cv2.COLOR_RGB2BGR), (384, 288)))
        writer.release()
        return video

    def people(index):  # tracks 1 and 2, and 3 from frame 10: the palette's first three styles
        found = []
        for track, (x0, y0, x1, y1) in ((1, (50, 100, 90, 200)), (2, (250, 80, 290, 180)), (3, (160, 120, 200, 220))):
            if track < 3 or index >= 10:
                mask = np.zeros((288, 384), np.float32)
                cv2.ellipse(mask, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1.0, -1)
                found.append(Instance((x0, y0, x1, y1), "person", 0.9, mask, track))
        return found

    def render(video, in_order):
        """Each frame's stylized image and the whole-frame passes its key-frame statistics took."""
        shot, out, took = ShotState(), {}, {}
        for index in range(16):
            frame, instances = FRAMES.frame(str(video), index), people(index)
            state = FrameState(frame.astype(np.float32) / 255.0, index, instances=instances,
                               mask=np.max([i.mask for i in instances], axis=0))
            ctx = StageContext(ZOO, shot if in_order else ShotState(), frame, index,
                               source=FileSource(str(video), index), frames=FRAMES)
            neural_style.run(state, params(region="crops", temporal=0.0), ctx)
            out[index], took[index] = state.stylized, ctx.key_passes
            shot.last_index = index
        return out, took
    in_order, took = render(clip("in_order.avi"), True)
    assert took[0] == 4 and max(took[index] for index in range(1, 16)) == 1  # 2 styles, key frames 0 and 24
    assert took[1] == took[2] == 1  # key frames 0 and 24 in style19, track 3's (48 lies past the end)
    assert took[10] == 1 and took[11] == 1 and sum(took.values()) == 8  # track 3 takes none; those of track 4's
    alone, _ = render(clip("alone.avi"), False)  # each frame rendered out of order
    assert all(np.array_equal(in_order[index], alone[index]) for index in range(16))


def test_for_pixels_sent_by_a_client_fixed_styles_are_stylized_on_whole_frames():
    frame, instances = two_people()
    state = run_stage(frame, instances, {"assign": "single", "region": "crops"}, video=None)
    assert state.report["neural_style"]["mode"] == "frame"
    assert "key frames" in state.report["neural_style"]["frame_because"]


def test_an_image_sequence_renders_as_the_video_it_was_written_from(tmp_path):
    for index in range(286, 313):  # the frames around 300: key frames 288 and 312, and the frame before
        cv2.imwrite(str(tmp_path / f"shot_{index:04d}.png"),
                    cv2.cvtColor(FRAMES.frame(str(VTEST), index), cv2.COLOR_RGB2BGR))
    pattern = str(tmp_path / "shot_####.png")

    def stage(index, footage):
        frame, instances = two_people(index)
        state = FrameState(frame.astype(np.float32) / 255.0, index, instances=instances,
                           mask=np.max([i.mask for i in instances], axis=0))
        source = FileSource(str(footage), index)
        neural_style.run(state, params(assign="single", region="crops", temporal=0.5),
                         StageContext(ZOO, ShotState(), frame, index, source=source, frames=FRAMES))
        return state
    from_sequence, from_video = stage(300, pattern), stage(300, VTEST)
    for state in (from_sequence, from_video):  # key frames and the previous frame, read from the footage
        assert state.report["neural_style"]["mode"] == "crops"
        assert state.report["neural_style"]["temporal"]["trusted_share"] > 0.5
    assert np.abs(from_sequence.stylized - from_video.stylized).max() < 1e-5
    first = stage(286, pattern)  # its previous file does not exist: no stabilisation, and no error
    assert first.report["neural_style"]["mode"] == "crops" and "temporal" not in first.report["neural_style"]


def test_classes_and_foreground_background_assignments():
    frame, instances = two_people()
    instances[1].class_name = "dog"
    state = run_stage(frame, instances, {"assign": "class", "class_styles": "dog=style05", "style": "style11"})
    assert [i.style for i in state.instances] == ["style11", "style05"]
    _, instances = two_people()
    state = run_stage(frame, instances, {"assign": "foreground", "style": "style11", "background_style": "style20"})
    assert [i.class_name for i in state.instances] == ["person", "person", "background"]
    assert state.mask.min() == 1.0  # the whole frame is stylized: MRF Blend keeps no footage
    corner = (slice(0, 60), slice(0, 60))
    assert np.abs(state.stylized[corner] - state.rgb[corner]).mean() > 0.05
    from instyle.ops.blend import signed_edge_distance
    from instyle.stages import mrf_blend

    out = mrf_blend.run(state, mrf_blend.SPEC.resolve({}), StageContext(ZOO, ShotState(), frame, 300))
    assert out["alpha"].min() == 1.0  # the footage shows nowhere
    changed = np.abs(out["stylized_for_mix"] - state.stylized).max(-1) > 0
    person = np.max([i.mask for i in state.instances[:2]], axis=0) >= 0.5
    assert changed.any() and (np.abs(signed_edge_distance(person))[changed] <= 4).all()  # seams, in the band


def test_crops_are_chosen_for_small_instances_and_match_whole_frame_results_inside_them():
    frame, instances = two_people()
    auto = run_stage(frame, instances, {"palette": ["style01", "style02"]})
    whole = run_stage(frame, two_people()[1], {"palette": ["style01", "style02"], "region": "frame"})
    assert auto.report["neural_style"]["mode"] == "crops" and whole.report["neural_style"]["mode"] == "frame"
    inside = auto.mask >= 0.5
    crop_vs_frame = np.abs(auto.stylized[inside] - whole.stylized[inside]).mean()
    to_footage = np.abs(whole.stylized[inside] - whole.rgb[inside]).mean()
    assert crop_vs_frame < 0.05 * to_footage


def test_strength_and_style_scale_change_the_result_as_documented():
    frame, instances = two_people()
    full, half = (run_stage(frame, two_people()[1], {"strength": s}) for s in (1.0, 0.5))
    inside = full.mask >= 0.5
    expected = 0.5 * full.rgb[inside] + 0.5 * full.stylized[inside]
    assert np.abs(half.stylized[inside] - expected).max() < 1e-4
    large = run_stage(frame, two_people()[1], {"style_scale": 2.0})
    assert np.abs(large.stylized[inside] - full.stylized[inside]).mean() > 0.02
    # Larger strokes: less fine detail in the stylized people.
    detail = lambda img: np.abs(cv2.Laplacian(img, cv2.CV_32F))[inside].mean()  # noqa: E731
    assert detail(large.stylized) < detail(full.stylized)


def test_arbitrary_and_colour_options_through_the_stage():
    frame, instances = two_people()
    image = {"method": "arbitrary", "style_image": str(STARRY), "assign": "single"}
    plain = run_stage(frame, instances, image)
    kept = run_stage(frame, two_people()[1], {**image, "colour": "luminance"})
    inside = plain.mask >= 0.5
    chroma = lambda img: cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)[..., 1:][inside]  # noqa: E731
    assert np.abs(chroma(kept.stylized) - chroma(kept.rgb)).mean() < 0.5 * np.abs(chroma(plain.stylized) - chroma(plain.rgb)).mean()
    weak = run_stage(frame, two_people()[1], {**image, "strength": 0.2})
    assert np.abs(weak.stylized[inside] - weak.rgb[inside]).mean() < np.abs(plain.stylized[inside] - plain.rgb[inside]).mean()


def test_adain_renders_through_the_stage_with_weights_from_the_store(adain_files, tmp_path):  # noqa: F811
    frame, instances = two_people()
    zoo = ModelZoo(store_with(tmp_path, "adain", adain_files[2]), torch.device("cpu"))
    state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=300, instances=instances,
                       mask=np.max([i.mask for i in instances], axis=0))
    neural_style.run(state, params(method="adain", style_image=str(STARRY), assign="single", temporal=0.0),
                     StageContext(zoo, ShotState(), frame, 300))
    inside = state.mask >= 0.5
    assert state.report["neural_style"]["methods"] == ["adain"]
    assert np.abs(state.stylized[inside] - state.rgb[inside]).mean() > 0.05  # random weights: changed, bounded
    assert 0 <= state.stylized.min() and state.stylized.max() <= 1
    with pytest.raises(Exception, match="adain"):  # no weights: the error names the model to fetch
        neural_style.run(state, params(method="adain", style_image=str(STARRY), assign="single"),
                         StageContext(ModelZoo(ModelStore(tmp_path / "empty"), torch.device("cpu")), ShotState(),
                                      frame, 300))


# --- video ------------------------------------------------------------------------------------------------

PIPELINE = [{"stage": "instance_mask", "params": {"quality": "faster"}},
            {"stage": "instance_tracker", "params": {"shot_start": 100}}]


def stylized(service: Service, index: int, shot: str, style: dict) -> tuple[np.ndarray, np.ndarray]:
    header = {"id": 1, "shot": shot, "source": {"kind": "file", "path": str(VTEST), "frame": index},
              "pipeline": [*PIPELINE, {"stage": "neural_style", "params": style, "return": ["image", "mask"]}]}
    reply, payloads = service.run(parse_run(header), [])
    return tuple(np.frombuffer(payloads[reply["arrays"][f"neural_style.{n}"]["payload"]], np.float32)
                 .reshape(reply["arrays"][f"neural_style.{n}"]["shape"]) for n in ("image", "mask"))


def test_temporal_stabilisation_reduces_flicker_and_does_not_depend_on_render_order():
    service = Service(torch.device("cpu"))
    clip = range(100, 105)
    runs = {w: [stylized(service, i, f"w{w}", {"temporal": w}) for i in clip] for w in (0.0, 0.5)}
    source = [service.frames.frame(str(VTEST), i) for i in clip]

    def error(frames):
        return np.mean([temporal.warping_error(a[0], b[0], sa, sb, a[1] >= 0.5)
                        for a, b, sa, sb in zip(frames, frames[1:], source, source[1:])])
    assert error(runs[0.5]) < 0.75 * error(runs[0.0])


def test_a_stabilised_frame_is_the_same_rendered_after_its_predecessor_or_alone():
    frames = FrameSource()

    def render(index: int, shot: ShotState, shift: int = 0) -> FrameState:
        frame, instances = two_people(index)
        for inst in instances:  # people walking right
            inst.box, inst.mask = (inst.box[0] + shift, inst.box[1], inst.box[2] + shift, inst.box[3]), \
                np.roll(inst.mask, shift, axis=1)
        state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index, instances=instances,
                           mask=np.max([i.mask for i in instances], axis=0))
        ctx = StageContext(ZOO, shot, frame, index, source=FileSource(str(VTEST), index),
                           frames=frames)
        neural_style.run(state, params(temporal=0.5), ctx)
        shot.last_index, shot.last_frame = index, frame
        return state
    in_order = ShotState()
    render(300, in_order)
    after = render(301, in_order).stylized
    alone = render(301, ShotState())  # as a farm machine renders it: the previous frame is rendered again
    assert alone.report["neural_style"]["temporal"]["rendered_again"] == 2
    assert np.abs(after - alone.stylized).max() < 1e-3
    unstabilised = run_stage(*two_people(301), {}, index=301).stylized
    assert np.abs(after - unstabilised).max() > 0.05  # stabilisation did something
    # when the crops move, rendering in order keeps using the previous frame's renderings where they cover the new
    # crops; they agree with renderings made again, as crops are normalised with their frame's statistics
    moved = render(302, in_order, shift=6)
    moved_alone = render(302, ShotState(), shift=6)
    assert moved.report["neural_style"]["temporal"]["rendered_again"] == 0
    people = moved.mask >= 0.5
    assert np.abs(moved.stylized - moved_alone.stylized)[people].mean() < 1 / 255  # measured 0.53 levels


def test_optimise_reports_steps_and_a_cancel_lands_before_the_next_step(tmp_path):
    """A cancel asked (from another thread, as the server's is) while step 3 is reported ends the frame before step
    4 is reported: between iterations, not after the frame's 400."""
    service = Service(torch.device("cpu"))
    steps, cancel = [], threading.Event()
    header = {"id": 1, "source": {"kind": "file", "path": str(MESSI)},
              "pipeline": [{"stage": "neural_style", "params": {
                  "method": "optimise", "style_image": str(STARRY), "iterations": 400, "resolution": 160,
                  "temporal": 0.0}}]}

    def on_step(stage, step, total):
        steps.append((stage, step, total))
        if step == 3:
            asked = threading.Thread(target=cancel.set)
            asked.start()
            asked.join()
    with pytest.raises(Cancelled):
        service.run(parse_run(header), [], cancel.is_set, on_step)
    assert steps == [("neural_style", i, 400) for i in (1, 2, 3)]


def test_gpu_batches_and_cpu_onnx_runs_of_the_fast_network_agree():
    from instyle.models.fast_style import load_fast_style, style_vector
    from instyle.models.fast_style_onnx import OnnxFastStyle
    from instyle.stylize.methods import _batched, _tensor

    crops = [rgb(MESSI)[:96, :64], rgb(MESSI)[100:196, 200:264], rgb(STARRY)[:50, :70]]
    styles = [style_vector("style03"), style_vector({"style03": 0.5, "style20": 0.5}), style_vector("style11")]
    torch_net = load_fast_style(STORE.path("multistyle26", "multistyle26.pt"))
    onnx_net = OnnxFastStyle(STORE.path("multistyle26", "multistyle26.onnx"))
    for batched, crop, style in zip(_batched(torch_net, crops, styles, [None] * 3, torch.device("cpu")), crops,
                                    styles):
        assert batched.shape == crop.shape
        assert np.abs(batched - onnx_net(crop, style)).max() < 1e-3
    frame = rgb(MESSI)[:200, :280]  # crops normalised with a frame's statistics, as the stage's crops are
    with torch.inference_mode():
        torch_stats = [torch_net.layer_statistics(_tensor(frame, torch.device("cpu")), s[None]) for s in styles[:2]]
    onnx_stats = [onnx_net.layer_statistics(frame, s) for s in styles[:2]]
    for (mean, var), (onnx_mean, onnx_var) in zip(torch_stats[1], onnx_stats[1]):
        assert np.allclose(mean[0].numpy(), onnx_mean, rtol=1e-4, atol=1e-4)
        assert np.allclose(var[0].numpy(), onnx_var, rtol=1e-4, atol=1e-4)
    batched = _batched(torch_net, crops[:2], styles[:2], torch_stats, torch.device("cpu"))
    for result, crop, style, stats in zip(batched, crops, styles, onnx_stats):
        assert np.abs(result - onnx_net(crop, style, stats)).max() < 1e-3
        assert np.abs(result - onnx_net(crop, style)).mean() > 2 / 255  # the statistics are used


def test_style_previews_show_each_fixed_style_on_the_photo(tmp_path):
    import subprocess
    import sys

    from ..conftest import ENGINE_PYTHON

    done = subprocess.run([str(ENGINE_PYTHON), "-m", "instyle.cli", "styles", "--out", str(tmp_path), "--size", "64"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    icons = {p.stem: cv2.imread(str(p)) for p in tmp_path.glob("style*.png")}
    assert sorted(icons) == [f"style{i:02d}" for i in range(26)] and icons["style00"].shape == (64, 64, 3)
    stack = np.stack(list(icons.values())).astype(np.float32)
    apart = [np.abs(stack[i] - stack[j]).mean() for i in range(26) for j in range(i + 1, 26)]
    assert min(apart) > 8  # every pair of styles looks different (mean difference in 8-bit levels)
    assert (tmp_path / "sheet.jpg").is_file()
    missing = subprocess.run([sys.executable, "-m", "instyle.cli", "styles", "--out", str(tmp_path), "--image",
                              str(tmp_path / "none.jpg")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


# --- the style rendered is the style named ----------------------------------------------------------------------

def published(frame: np.ndarray, style: str) -> np.ndarray:
    """The published multistyle26.onnx on `frame` (uint8 HxWx3) in `style`: float32 HxWx3 in [0, 1]."""
    from .test_fast_style import run_onnx

    image = torch.from_numpy(frame.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    return run_onnx(image, style_vector(style))[0].numpy().transpose(1, 2, 0).clip(0, 1)


@pytest.mark.parametrize("style", ["style07", "style19"])
def test_the_stage_renders_the_named_style_as_the_published_network_does(style):
    """Frame mode is the published network on the frame; crops (on a key frame) are within a few levels of it;
    and the neighbouring style, which a shifted style vector would render, is far from both."""
    frame, instances = two_people(288)
    whole = run_stage(frame, None, {"style": style, "assign": "single", "region": "frame"}, index=288).stylized
    expected = published(frame, style)
    assert np.abs(whole - expected).max() < 1e-3  # the network test's tolerance
    neighbour = published(frame, f"style{(int(style[5:]) + 1) % 26:02d}")
    assert np.abs(whole - neighbour).mean() * 255 > 20
    crops = run_stage(frame, instances, {"style": style, "assign": "single", "region": "crops"}, index=288)
    assert crops.report["neural_style"]["mode"] == "crops"
    people = np.max([i.mask for i in instances], axis=0) >= 1.0
    assert np.abs(crops.stylized[people] - expected[people]).mean() * 255 < 2.0
    assert np.abs(crops.stylized[people] - neighbour[people]).mean() * 255 > 20
