"""Instance Mask: its array maths, cut detection, crop mattes, and the stage on real footage with the store's
models (Mask R-CNN with a randomly initialised network saved here: plumbing, not accuracy)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from instyle.bench import mask as bench_mask
from instyle.frame_state import FrameState, ShotState
from instyle.modelstore import ModelStore, WeightsError
from instyle.modelstore.manifest import REPO_MANIFEST, load_manifest
from instyle.modelstore.store import sha256_of
from instyle.models.detector import Detection
from instyle.models.person_matte import SIDE, CropMatte, layout
from instyle.models.zoo import ModelZoo
from instyle.ops import cuts
from instyle.ops import masks as mask_ops
from instyle.ops import person_mattes
from instyle.stage_context import StageContext
from instyle.stages import instance_mask

from ..conftest import MESSI, OPENCV_DATA, VTEST

MEGAMIND = OPENCV_DATA / "Megamind.avi"
MEGAMIND_CUTS = [1, 98, 154, 200]  # first frames of new shots, checked by eye (black -> restaurant, then 3 cuts)
# vtest.avi frame 0: the three walkers (as in test_models_tfjs), each about 30x80 px.
VTEST_WALKERS = [(500, 157, 528, 232), (640, 238, 681, 321), (254, 219, 281, 310)]
BALL_BOX = (335.0, 288.0, 390.0, 338.0)  # the ball in messi5.jpg
NOT_PEOPLE = [(170, 196), (38, 125)]  # vtest.avi: centres of an orange cone and a blue sign, by eye


def disc(h, w, cy, cx, r):
    yy, xx = np.mgrid[:h, :w]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.float32)


def video_frames(path, count, start=0) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(count):
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(frame[:, :, ::-1]))
    return frames


# ------------------------------------------------------------------ array maths


def dense_ownership(evidence, boxes):
    """The first version's dense formula, as a reference for the support-wise one."""
    n, h, w = evidence.shape
    ys = (np.arange(h, dtype=np.float32) + 0.5)[None, :, None]
    xs = (np.arange(w, dtype=np.float32) + 0.5)[None, None, :]
    cx, cy = ((boxes[:, 0] + boxes[:, 2]) / 2)[:, None, None], ((boxes[:, 1] + boxes[:, 3]) / 2)[:, None, None]
    hw = np.maximum((boxes[:, 2] - boxes[:, 0]) / 2, 1)[:, None, None]
    hh = np.maximum((boxes[:, 3] - boxes[:, 1]) / 2, 1)[:, None, None]
    strength = evidence / (1.0 + ((xs - cx) / hw) ** 2 + ((ys - cy) / hh) ** 2)
    keep = np.argmax(strength, axis=0)[None] == np.arange(n)[:, None, None]
    return np.where(keep, evidence, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_ownership_matches_the_dense_formula_and_is_disjoint(seed):
    rng = np.random.default_rng(seed)
    n, h, w = 4, 60, 90
    evidence = np.zeros((n, h, w), np.float32)
    boxes = np.zeros((n, 4), np.float32)
    for k in range(n):
        cy, cx, r = rng.integers(15, 45), rng.integers(15, 75), rng.integers(6, 18)
        evidence[k] = disc(h, w, cy, cx, r) * rng.uniform(0.3, 1.0, (h, w)).astype(np.float32)
        boxes[k] = (cx - r, cy - r, cx + r, cy + r)
    owned = mask_ops.assign_ownership(evidence, boxes)
    np.testing.assert_allclose(owned, dense_ownership(evidence, boxes), atol=1e-6)
    assert ((owned > 0).sum(axis=0) <= 1).all()
    assert np.array_equal(owned.max(axis=0) > 0, evidence.max(axis=0) > 0)


def test_tall_people_seen_by_the_frame_matte_take_it_with_the_crop_matte_near_it():
    h, w = 400, 500
    height = person_mattes.FRAME_MATTE_HEIGHT + 100
    tall, short, unseen = (50.0, 40.0, 110.0, 40.0 + height), (250.0, 100.0, 280.0, 160.0), (350., 40., 420., 240.)
    boxes = np.array([tall, short, unseen], np.float32)
    crop = np.zeros((3, h, w), np.float32)
    crop[0, 40:40 + height, 45:115] = 0.8  # the person, and a wall behind them it takes for them
    crop[0, 40:40 + height, 100:115] = 0.9
    crop[1, 110:150, 255:275] = 0.9
    crop[2, 60:200, 360:410] = 0.7
    alpha = np.zeros((h, w), np.float32)
    alpha[40:40 + height, 50:100] = 0.95  # RVM sees the tall person, and a little of the third
    alpha[60:70, 360:370] = 0.95
    out = person_mattes.with_frame_matte(crop, boxes, alpha)
    person = out[0, 40:40 + height]
    assert np.all(person[:, 50:100] == np.float32(0.95))  # RVM's matte where larger
    side = max(3, int(person_mattes.NEAR_FRAME_MATTE * height)) | 1
    near = side // 2
    assert np.all(person[:, 50 - near:50] == np.float32(0.8)) and np.all(person[:, 100:100 + near] == np.float32(0.9))
    assert not person[:, 100 + near + 1:].any() and not person[:, :50 - near - 1].any()  # the wall is cut away
    assert np.array_equal(out[1], crop[1])  # a short person keeps the crop matte alone
    assert np.array_equal(out[2], crop[2])  # so does one RVM hardly sees
    assert crop[0].max() == np.float32(0.9)  # the inputs are left as they were
    assert list(person_mattes.tall(boxes)) == [True, False, True]


def test_refine_on_supports_equals_whole_frame_grow_and_feather():
    masks = np.stack([disc(80, 100, 30, 30, 10), disc(80, 100, 60, 80, 6), np.zeros((80, 100), np.float32)])
    for pixels, radius in [(3, 0.0), (-2, 1.5), (4, 2.5)]:
        expected = np.stack([np.clip(mask_ops.feather(mask_ops.grow(m, pixels), radius), 0, 1) for m in masks])
        np.testing.assert_allclose(mask_ops.refine(masks, pixels, radius), expected, atol=1e-4)
    assert mask_ops.refine(masks, 0, 0.0) is masks


def test_carry_forward_moves_a_mask_with_its_box():
    mask = disc(100, 120, 30, 30, 10)
    moved = mask_ops.carry_forward(mask, (20, 20, 40, 40), (60, 50, 100, 90))  # shifted and doubled
    ys, xs = np.nonzero(moved > 0.5)
    assert abs(ys.mean() - 70) < 1 and abs(xs.mean() - 80) < 1
    assert abs((moved > 0.5).sum() / (mask > 0.5).sum() - 4) < 0.3


def carry_memory(boxes, scores, carried, masks):
    return instance_mask.ShotMemory(boxes=np.array(boxes, np.float32), class_ids=np.zeros(len(boxes), np.int64),
                                    scores=np.array(scores, np.float32), masks=np.stack(masks).astype(np.float32),
                                    carried=np.array(carried, np.int64))


def test_a_collapsed_matte_is_carried_for_a_few_frames_and_weak_junk_is_not():
    h, w = 120, 160
    person = np.zeros((h, w), np.float32)
    person[20:100, 30:60] = 1.0
    junk = np.zeros((h, w), np.float32)
    junk[10:110, 90:150] = 1.0
    box, junk_box = (32, 20, 62, 100), (92, 10, 152, 110)  # both moved 2 px to the right since the last frame
    now = np.zeros((2, h, w), np.float32)
    now[:, 90:100, 32:62] = 1.0  # the person's matte kept only the feet
    now[1, 90:100, 32:62], now[1, 100:110, 92:152] = 0.0, 1.0  # and the junk's its bottom
    boxes = np.array([box, junk_box], np.float32)
    for before, expect in [(0, 1), (instance_mask.CARRY_FRAMES - 1, instance_mask.CARRY_FRAMES),
                           (instance_mask.CARRY_FRAMES, 0)]:
        memory = carry_memory([(30, 20, 60, 100), (90, 10, 150, 110)], [0.6, 0.2], [before, 0], [person, junk])
        owned, carried = instance_mask._carry(boxes, np.zeros(2, np.int64), now, np.array([False, True]), memory,
                                              0.35)
        assert carried.tolist() == [expect, 0], "a weak box that was never confident is not carried"
        kept = (owned[0] >= 0.5).sum() / person.sum()
        assert (kept > 0.95) if expect else (kept < 0.15)
        assert abs(np.nonzero(owned[0] >= 0.5)[1].mean() - 46.5) < 1.0, "moved with the box"
        assert (owned[1] >= 0.5).sum() == 60 * 10 and (owned.sum(axis=0) <= 1.0 + 1e-6).all()
    specks = np.zeros((h, w), np.float32)  # what a weak matte finds on a rock taken for a person (vtest): not carried
    specks[20:100:2, 30:60:3] = 1.0
    assert specks.sum() / (30 * 80) < instance_mask.CARRY_FILL
    memory = carry_memory([(30, 20, 60, 100), (90, 10, 150, 110)], [0.6, 0.2], [0, 0], [specks, junk])
    owned, carried = instance_mask._carry(boxes, np.zeros(2, np.int64), now, np.array([False, True]), memory, 0.35)
    assert carried.tolist() == [0, 0] and owned is now


def test_weak_boxes_on_someone_already_boxed_are_dropped_and_confident_ones_never_are():
    boxes = np.array([(500, 90, 660, 560), (520, 100, 680, 560), (185, 258, 474, 572), (179, 256, 426, 572),
                      (154, 254, 363, 464), (152, 253, 333, 461), (179, 246, 488, 566), (510, 95, 665, 555),
                      (600, 300, 640, 380)], np.float32)
    # two confident people crossing; the cut clip's footballer at frame 27 (five weak boxes); a weak box on the first
    # confident one (a person behind); a car inside the second's box
    class_ids = np.array([0, 0, 0, 0, 0, 0, 0, 0, 2], np.int64)
    weak = np.array([False, False, True, True, True, True, True, True, True])
    dropped = instance_mask._duplicates(boxes, class_ids, weak)
    assert dropped.tolist() == [False, False, False, True, False, True, True, False, False], (
        "two confident boxes overlapping by 0.7 are two people; the best weak box and the one that overlaps it by "
        "under DUPLICATE_IOU stay; a weak box on a confident one is someone behind; another class is no duplicate")
    assert not instance_mask._duplicates(boxes, class_ids, np.zeros(9, bool)).any()
    # the footballer's whole weak box, then a weak box around his upper body inside it (IoU 0.47): a part of him;
    # a far person's short weak box inside a weak box around a group stays someone
    boxes = np.array([(20, 257, 375, 561), (47, 255, 296, 465), (100, 100, 300, 190), (120, 120, 150, 185)],
                     np.float32)
    dropped = instance_mask._duplicates(boxes, np.zeros(4, np.int64), np.ones(4, bool))
    assert dropped.tolist() == [False, True, False, False]


class SecondOpinion:
    """A stand-in for the zoo's NanoDet in `_confirmed`'s unit test: the person boxes it was given, and its calls."""

    def __init__(self, boxes):
        self.boxes, self.calls = boxes, 0

    def nanodet(self):
        return self

    def detect(self, frame, score_threshold, classes):
        self.calls += 1
        assert classes == {instance_mask.PERSON}
        return [Detection(box, score, 0, "person") for box, score in self.boxes if score >= score_threshold]


def test_nanodet_makes_a_tall_weak_person_box_confident_where_it_agrees():
    """Only a tall person box scoring from CONFIRM_FROM to the threshold, new to the shot, with a NanoDet box of
    CONFIRM_SECOND or more on it, is lifted; NanoDet runs only when there is such a box."""
    person = Detection((100.0, 50.0, 200.0, 350.0), 0.3, 0, "person")
    opinion = [((105.0, 55.0, 205.0, 345.0), 0.5)]
    frame = np.zeros((576, 768, 3), np.uint8)

    def confirmed(found, second, previous=None):
        models = SecondOpinion(second)
        ctx = StageContext(models, ShotState(), frame, 0)
        return [d.score for d in instance_mask._confirmed(found, 0.35, previous, ctx)], models.calls

    assert confirmed([person], opinion) == ([0.35], 1)
    assert confirmed([person], [((105.0, 55.0, 205.0, 345.0), instance_mask.CONFIRM_SECOND - 0.01)]) == ([0.3], 1)
    assert confirmed([person], [((150.0, 50.0, 250.0, 350.0), 0.9)]) == ([0.3], 1), "NanoDet boxes someone else"
    short = Detection((100.0, 50.0, 140.0, 140.0), 0.3, 0, "person")  # under FRAME_MATTE_HEIGHT: a cone, a rock
    assert confirmed([short], [((100.0, 50.0, 140.0, 140.0), 0.9)]) == ([0.3], 0)
    unsure = Detection(person.box, instance_mask.CONFIRM_FROM - 0.01, 0, "person")
    car = Detection(person.box, 0.3, 2, "car")
    sure = Detection(person.box, 0.6, 0, "person")
    assert confirmed([sure, unsure, car], opinion) == ([0.6, unsure.score, 0.3], 0)
    followed = np.array([(102.0, 52.0, 202.0, 352.0)], np.float32)  # a weak box on someone followed stays weak
    assert confirmed([person], opinion, followed) == ([0.3], 0)
    assert confirmed([person], opinion, np.array([(400.0, 50.0, 500.0, 350.0)], np.float32)) == ([0.35], 1)


def test_grabcut_cuts_an_object_out_of_its_box():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
    frame[..., 1] += 120  # green, noisy background
    obj = disc(120, 160, 60, 80, 25) > 0
    frame[obj] = (200, 40, 40) + rng.integers(0, 30, (obj.sum(), 3))
    mask = mask_ops.grabcut_in_box(frame, (50, 30, 110, 90), iterations=3, max_side=128)
    found = mask >= 0.5
    assert (found & obj).sum() / (found | obj).sum() > 0.85
    assert not found[:, :40].any()  # nothing outside the box and its margin
    flat = np.full((120, 160, 3), 90, np.uint8)
    box = mask_ops.grabcut_in_box(flat, (50, 30, 110, 90))
    assert box[30:90, 50:110].min() > 0.99 and box.sum() == pytest.approx(60 * 60, rel=0.05)


# ------------------------------------------------------------------ cuts


def test_cut_detector_finds_the_cuts_of_megamind_and_none_in_vtest():
    signatures = [cuts.colour_signature(f) for f in video_frames(MEGAMIND, 270)]
    assert len(signatures) == 270
    found = [i for i in range(1, len(signatures)) if cuts.is_cut(signatures[i - 1], signatures[i])]
    assert found == MEGAMIND_CUTS
    walking = [cuts.colour_signature(f) for f in video_frames(VTEST, 300)]
    assert not any(cuts.is_cut(a, b) for a, b in zip(walking, walking[1:]))
    assert cuts.signature_distance(walking[0], walking[0]) < 1e-6


# ------------------------------------------------------------------ crop mattes


def test_layout_packs_upright_people_two_to_an_input():
    boxes = np.array([[10, 10, 30, 90], [100, 20, 125, 120], [200, 50, 300, 120], [40, 40, 60, 100]], np.float32)
    slots, count = layout(boxes)
    assert count == 3
    assert [(s.canvas, s.x, s.w, s.h) for s in slots] == [(0, 0, 128, 256), (0, 128, 128, 256),
                                                           (1, 0, 256, 256), (2, 0, 128, 256)]
    for s, (x1, y1, x2, y2) in zip(slots, boxes):
        m = s.to_slot()
        for px, py in [((x1 + x2) / 2, (y1 + y2) / 2), (x1, y1), (x2, y2)]:
            sx, sy = m @ (px, py, 1)
            assert s.x <= sx <= s.x + s.w and s.y <= sy <= s.y + s.h  # the whole box lands in its slot
        assert np.isclose(m[0, 0] * s.width, s.w) and np.isclose(m[1, 1] * s.height, s.h)
    assert SIDE == 256


@pytest.fixture(scope="module")
def zoo():
    return ModelZoo(ModelStore(), torch.device("cpu"))


def test_crop_matte_covers_the_small_walkers_of_vtest(zoo):
    frame = video_frames(VTEST, 1)[0]
    alpha = zoo.crop_matte()(frame, np.array(VTEST_WALKERS, np.float32))
    assert alpha.shape == (3, 576, 768) and 0 <= alpha.min() and alpha.max() <= 1
    for k, (x1, y1, x2, y2) in enumerate(VTEST_WALKERS):
        inside = alpha[k, y1:y2, x1:x2] >= 0.5
        assert 0.3 < inside.mean() < 0.9  # the person, not the whole box
        outside = alpha[k].copy()
        outside[y1 - 15:y2 + 15, x1 - 15:x2 + 15] = 0
        assert outside.max() == 0  # nothing beyond the crop
    assert isinstance(zoo.crop_matte(), CropMatte)


# ------------------------------------------------------------------ the stage


def run_stage(zoo, frame, index, shot, **params):
    state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index)
    outputs = instance_mask.run(state, instance_mask.SPEC.resolve(params), StageContext(zoo, shot, frame, index))
    shot.last_index = index
    return state, outputs


def check_instances(state, outputs):
    """The invariants of every result: disjoint masks in [0, 1], their sum as the mask, the index pass."""
    masks = np.stack([i.mask for i in state.instances])
    assert masks.dtype == np.float32 and 0 <= masks.min() and masks.max() <= 1
    assert ((masks > 0).sum(axis=0) <= 1).all(), "instances share pixels"
    np.testing.assert_allclose(outputs["mask"], np.clip(masks.sum(axis=0), 0, 1), atol=1e-6)
    index = outputs["index"]
    assert set(np.unique(index)) <= set(range(len(masks) + 1))
    for k in range(len(masks)):
        assert np.array_equal(index == k + 1, masks[k] >= 0.5)
    return masks


@pytest.mark.parametrize("quality", instance_mask.SPEC.by_name["quality"].values)
def test_every_walker_in_vtest_gets_their_own_mask(zoo, quality):
    """Every detected walker is an instance with a mask of its own inside its box (grown by 10%), typically
    covering half of it (the worst: Faster's 10% of a dark-coated woman 45 px tall on dark asphalt in frame
    201). Detections in which the mattes see no one are dropped: only non-people, the two that Better's tiled
    detection takes for people, an orange cone and a blue sign."""
    for i, frame in enumerate(video_frames(VTEST, 3, start=200)):
        state, outputs = run_stage(zoo, frame, 0, ShotState(), quality=quality)
        detected = zoo.detector(instance_mask.RECIPES[quality].tile_size).detect(frame, 0.35, {0})
        report = state.report["instance_mask"]
        assert report["detected"] and report["boxes"] == len(detected)
        assert len(state.instances) == len(detected) - report["unseen"] >= 6
        kept = [i.box for i in state.instances]
        for d in detected:
            if d.box not in kept:
                centre = ((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2)
                assert min(np.hypot(centre[0] - x, centre[1] - y) for x, y in NOT_PEOPLE) < 8, d
        masks = check_instances(state, outputs)
        coverage = []
        for inst, mask in zip(state.instances, masks):
            person = mask >= 0.5
            x0, y0, x1, y1 = mask_ops.box_region(inst.box, mask.shape)
            coverage.append(person[y0:y1, x0:x1].mean())
            x0, y0, x1, y1 = mask_ops.box_region(inst.box, mask.shape, margin=0.1)
            assert mask[y0:y1, x0:x1].sum() == pytest.approx(mask.sum()), inst.box
        assert np.median(coverage) > 0.45 and min(coverage) > 0.05, coverage


def test_faster_detects_on_every_second_frame_and_moves_boxes_on_between(zoo):
    shot, frames = ShotState(), video_frames(VTEST, 4, start=200)
    for i, frame in enumerate(frames):
        state, outputs = run_stage(zoo, frame, i, shot, quality="faster")
        report = state.report["instance_mask"]
        assert report["detected"] == (i % 2 == 0) and report["new_shot"] == (i == 0)
        check_instances(state, outputs)
        if not report["detected"]:
            boxes = torch.tensor([inst.box for inst in state.instances])
            truth = torch.tensor([d.box for d in zoo.detector().detect(frame, 0.35, {0})])
            best = box_iou(truth, boxes).max(dim=1).values
            assert (best > 0.7).float().mean() > 0.8, best  # nearly every walker's box kept up with them
    assert run_stage(zoo, frames[1], 4, shot, quality="faster", score_threshold=0.4)[0].report[
        "instance_mask"]["detected"]  # other parameters: detect again


@pytest.fixture(scope="module")
def vtest_plate():
    return bench_mask.background_plate(bench_mask.read_frames(VTEST, step=8))


@pytest.mark.parametrize("quality", instance_mask.SPEC.by_name["quality"].values)
@pytest.mark.parametrize("index, pair", [
    (36, [(596, 237, 633, 336), (615, 239, 660, 335)]),  # two people side by side, one half hidden
    (534, [(302, 398, 352, 531), (335, 388, 387, 535)]),
])
def test_two_people_who_overlap_get_two_disjoint_masks(zoo, vtest_plate, quality, index, pair):
    """What differs from the clip's background plate around two overlapping walkers is covered by their two
    masks together, each mask holds one of them, and no pixel is in both."""
    frame = video_frames(VTEST, 1, start=index)[0]
    state, outputs = run_stage(zoo, frame, 0, ShotState(), quality=quality)
    masks = check_instances(state, outputs)
    boxes = torch.tensor([i.box for i in state.instances])
    match = box_iou(torch.tensor(pair, dtype=torch.float32), boxes).argmax(dim=1).tolist()
    assert len(set(match)) == 2
    a, b = masks[match[0]], masks[match[1]]
    assert not ((a > 0) & (b > 0)).any()
    x0, y0 = min(p[0] for p in pair) - 5, min(p[1] for p in pair) - 5
    x1, y1 = max(p[2] for p in pair) + 5, max(p[3] for p in pair) + 5
    people = bench_mask.changed_pixels(frame, vtest_plate)[y0:y1, x0:x1] > 0
    a, b = a[y0:y1, x0:x1] >= 0.5, b[y0:y1, x0:x1] >= 0.5
    assert ((a | b) & people).sum() > 0.8 * people.sum()
    assert ((a | b) & ~people).sum() < 0.35 * (a | b).sum()
    assert (a & people).sum() > 0.25 * people.sum() and (b & people).sum() > 0.25 * people.sum()


def test_a_frame_without_people_gives_empty_masks(zoo):
    frame = cv2.imread(str(OPENCV_DATA / "starry_night.jpg"))[:, :, ::-1].copy()
    state, outputs = run_stage(zoo, frame, 0, ShotState(), quality="better")
    assert state.instances == [] and not outputs["mask"].any() and not outputs["index"].any()
    assert outputs["mask"].shape == frame.shape[:2]


def test_other_classes_are_cut_out_of_their_box(zoo):
    frame = cv2.imread(str(MESSI))[:, :, ::-1].copy()
    state, outputs = run_stage(zoo, frame, 0, ShotState(), classes=["sports ball"], quality="better")
    assert [i.class_name for i in state.instances] == ["sports ball"]
    ball = state.instances[0].mask >= 0.5
    x0, y0, x1, y1 = (int(v) for v in BALL_BOX)
    share = ball[y0:y1, x0:x1].sum() / ((y1 - y0) * (x1 - x0))
    assert 0.4 < share < 0.95  # round, so less than its box
    assert ball[y0 - 10:y1 + 10, x0 - 10:x1 + 10].sum() == ball.sum()


def test_smoothing_follows_the_shot_and_stops_at_a_cut(zoo):
    walk = video_frames(VTEST, 2, start=200)
    other = video_frames(MEGAMIND, 1, start=50)[0]
    other = cv2.resize(other, (768, 576))

    def second_frame_masks(first, smoothing):
        shot = ShotState()
        run_stage(zoo, first, 0, shot, quality="faster", smoothing=smoothing)
        state, _ = run_stage(zoo, walk[1], 1, shot, quality="faster", smoothing=smoothing)
        return state, np.stack([i.mask for i in state.instances])

    _, plain = second_frame_masks(walk[0], 0.0)
    state, smooth = second_frame_masks(walk[0], 0.6)
    assert state.report["instance_mask"]["new_shot"] is False
    assert smooth.shape == plain.shape and np.abs(smooth - plain).max() > 0.2
    assert ((smooth > 0).sum(axis=0) <= 1).all()
    state, after_cut = second_frame_masks(other, 0.6)
    assert state.report["instance_mask"]["new_shot"] is True
    alone, _ = run_stage(zoo, walk[1], 0, ShotState(), quality="faster")
    np.testing.assert_array_equal(after_cut, np.stack([i.mask for i in alone.instances]))


def test_a_seek_restarts_the_shot(zoo):
    frames = video_frames(VTEST, 2, start=200)
    shot = ShotState()
    run_stage(zoo, frames[0], 10, shot, quality="faster")
    assert run_stage(zoo, frames[1], 11, shot, quality="faster")[0].report["instance_mask"] == {
        "new_shot": False, "continued": True, "detected": False, "boxes": 7, "weak": 0, "unseen": 0, "carried": 0}
    report = run_stage(zoo, frames[0], 30, shot, quality="faster")[0].report["instance_mask"]
    assert report["new_shot"] and report["detected"] and not report["continued"]


# ------------------------------------------------------------------ Mask R-CNN


@pytest.fixture(scope="module")
def random_maskrcnn_store(tmp_path_factory):
    """A model store holding a randomly initialised Mask R-CNN v2 under the real manifest's names, its person
    score raised so that it finds (random) people."""
    from instyle.models.maskrcnn import FILE, MODEL, build_maskrcnn

    torch.manual_seed(0)
    net = build_maskrcnn()
    with torch.no_grad():
        net.roi_heads.box_predictor.cls_score.bias[1] = 12.0
    root = tmp_path_factory.mktemp("weights")
    path = root / MODEL / FILE
    path.parent.mkdir()
    torch.save(net.state_dict(), path)
    manifest = json.loads(REPO_MANIFEST.read_text())
    entry = next(m for m in manifest["models"] if m["name"] == MODEL)
    entry["files"] = [dict(entry["files"][0], size=path.stat().st_size, sha256=sha256_of(path))]
    manifest_path = root / "manifest.json"
    manifest_path.write_text(json.dumps({"schema": manifest["schema"], "models": [entry]}))
    return ModelStore(root, load_manifest(manifest_path))


def test_maskrcnn_output_plumbing(random_maskrcnn_store):
    zoo = ModelZoo(random_maskrcnn_store, torch.device("cpu"))
    frame = video_frames(VTEST, 1)[0][:288, :384]
    state, outputs = run_stage(zoo, frame, 0, ShotState(), model="maskrcnn", quality="faster", max_instances=5,
                               grow=2, feather=1.0)
    assert zoo.maskrcnn().transform.min_size == (instance_mask.RECIPES["faster"].maskrcnn_side,)
    assert len(state.instances) == 5 and {i.class_name for i in state.instances} == {"person"}
    scores = [i.score for i in state.instances]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.35
    for inst in state.instances:
        assert inst.mask.shape == (288, 384)
        x1, y1, x2, y2 = inst.box
        assert 0 <= x1 <= x2 <= 384 and 0 <= y1 <= y2 <= 288
    check_instances(state, outputs)
    none, _ = run_stage(zoo, frame, 0, ShotState(), model="maskrcnn", classes=["giraffe"])
    assert none.instances == []


def test_maskrcnn_without_weights_says_how_to_fetch_them(tmp_path):
    zoo = ModelZoo(ModelStore(tmp_path, load_manifest(REPO_MANIFEST)), torch.device("cpu"))
    with pytest.raises(WeightsError) as err:
        run_stage(zoo, np.zeros((64, 64, 3), np.uint8), 0, ShotState(), model="maskrcnn")
    assert "Mask R-CNN" in str(err.value) and "instyle-engine weights fetch maskrcnn_v2" in err.value.hint


# ------------------------------------------------------------------ the labelled set's scoring


def test_bench_scoring_matches_people_one_to_one():
    truth = np.stack([disc(60, 80, 30, 20, 10), disc(60, 80, 30, 60, 10)])
    scene = bench_mask.Scene(np.zeros((60, 80, 3), np.uint8), truth,
                             np.array([[10, 20, 30, 40], [50, 20, 70, 40]], np.float32), np.array([False, True]))
    boxes = np.array([[50, 20, 70, 40], [11, 20, 30, 41]], np.float32)
    masks = np.stack([truth[1], truth[0] * (np.arange(80) < 20)[None, :]])
    found, iou = bench_mask.score(boxes, masks, scene)
    assert found.tolist() == [True, True]
    assert iou[1] == 1.0 and 0.4 < iou[0] < 0.6
    found, iou = bench_mask.score(np.zeros((0, 4), np.float32), np.zeros((0, 60, 80), np.float32), scene)
    assert not found.any() and not iou.any()


@pytest.mark.parametrize("seed", range(3))
def test_index_pass_is_the_strongest_instance_above_the_threshold(seed):
    rng = np.random.default_rng(seed)
    masks = np.stack([disc(40, 50, *rng.integers(10, 40, 2), 12) * rng.uniform(0.2, 1, (40, 50)) for _ in range(4)])
    masks = masks.astype(np.float32)
    masks[2, 5:15, 5:15] = masks[1, 5:15, 5:15] = 0.8  # a tie: the first wins
    best = np.argmax(masks, axis=0)
    expected = np.where(np.max(masks, axis=0) >= 0.5, best + 1, 0)
    np.testing.assert_array_equal(mask_ops.index_pass(masks), expected)

