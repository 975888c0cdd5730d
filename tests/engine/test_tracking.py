"""The Instance Tracker: association through crossings, the shot's track store, artist corrections, and the
same ids whatever order a shot's frames are rendered in (through the real Service and models)."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from instyle.failures import failure_reply
from instyle.frame_state import FrameState, Instance, ShotState
from instyle.ops.tracking import (CentreTracker, KalmanTracker, assign, box_iou, colour_distance,
                                  describe_detections, held_tracks, kalman_initiate, kalman_predict, kalman_update)
from instyle.service import Service
from instyle.stages import instance_tracker
from instyle.track_store import TrackStore, fill_gap
from instyle.wire.params import ParamError
from instyle.wire.requests import parse_run

from ..conftest import VTEST

RED, BLUE, GREEN = (200, 30, 30), (30, 30, 200), (30, 160, 40)


def crossing(hidden: int = 10, frames: int = 60):
    """Two painted people on a grey ground crossing: A (red, 40x120, nearer) walks right three times as fast
    as B (blue, 20x60, farther, drawn first) walks left, so that B is fully behind A for `hidden` frames.
    Yields (frame uint8 HxWx3, detection boxes Nx4 of the visible people, person index per box, whether B
    is fully hidden)."""
    # B is fully behind A while |xA - xB| <= (40 - 20) / 2; A passes over B's centre at frame `frames // 2`.
    relative = 20.0 / hidden
    va, vb = 0.75 * relative, -0.25 * relative
    meet = frames // 2
    for f in range(frames):
        xa, xb = 200 + va * (f - meet), 200 + vb * (f - meet)
        a = np.array([xa - 20, 40, xa + 20, 160])
        b = np.array([xb - 10, 50, xb + 10, 110])
        frame = np.full((200, 400, 3), 128, np.uint8)
        cv2.rectangle(frame, (round(b[0]), round(b[1])), (round(b[2]) - 1, round(b[3]) - 1), BLUE, -1)
        cv2.rectangle(frame, (round(a[0]), round(a[1])), (round(a[2]) - 1, round(a[3]) - 1), RED, -1)
        boxes, people = [a], [0]
        left, right = b[0], b[2]
        if a[0] <= b[0] < a[2]:
            left = a[2]
        if a[0] < b[2] <= a[2]:
            right = a[0]
        if right - left >= 5:  # a detector finds people of whom at least a sliver shows
            boxes.append(np.array([left, b[1], right, b[3]]))
            people.append(1)
        yield frame, np.array(boxes, np.float64), people, a[0] <= b[0] and b[2] <= a[2]


def track(tracker, scene):
    """ids[f][person] for every frame of `scene` (absent people missing from the dict)."""
    state, out = tracker.initial(), []
    for frame, boxes, people, _ in scene:
        state, ids = tracker.step(state, describe_detections(frame, boxes))
        out.append(dict(zip(people, ids.tolist())))
    return out


def test_box_iou_and_colour_distance():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float64)
    iou = box_iou(boxes, boxes)
    assert np.allclose(np.diag(iou), 1) and iou[0, 1] == pytest.approx(50 / 150) and iou[0, 2] == 0
    frame = np.zeros((40, 40, 3), np.uint8)
    frame[:, :20] = RED
    frame[:, 20:] = BLUE
    colours = describe_detections(frame, np.array([[0, 0, 20, 40], [20, 0, 40, 40], [1, 0, 19, 40]])).colours
    distance = colour_distance(colours, colours)
    assert np.allclose(colours.sum(axis=1), 1)
    assert distance[0, 2] == pytest.approx(0, abs=1e-6) and distance[0, 1] == pytest.approx(1, abs=1e-6)


def test_assignment_leaves_rows_unpaired_rather_than_forcing_a_costly_pair():
    # Forcing every row into a pair would give A-x and B-y (0.68 + 0.78), then drop B-y as too costly,
    # leaving B, the better match for x, without it.
    cost = np.array([[0.68, 100.0], [0.09, 0.78]])
    assert assign(cost, 0.75) == [(1, 0)]
    assert assign(np.zeros((0, 3)), 0.75) == [] and assign(np.array([[0.2, 0.1]]), 0.75) == [(0, 1)]


def test_kalman_filter_learns_a_constant_velocity():
    mean, cov = kalman_initiate(np.array([[0.0, 0.0, 20.0, 60.0]]))
    for f in range(1, 15):
        mean, cov = kalman_predict(mean, cov)
        mean, cov = kalman_update(mean, cov, np.array([[5.0 * f, 2.0 * f, 5.0 * f + 20, 2.0 * f + 60]]))
    assert mean[0, 4:6] == pytest.approx([5.0, 2.0], abs=0.2)
    predicted, _ = kalman_predict(mean, cov)
    assert predicted[0, :2] == pytest.approx([5.0 * 15 + 10, 2.0 * 15 + 30], abs=1.0)


@pytest.mark.parametrize("hidden", [3, 10])
def test_a_person_hidden_behind_another_keeps_their_id_where_the_centre_baseline_switches(hidden):
    scene = list(crossing(hidden))
    covered = [c for *_, c in scene]
    assert sum(covered) in (hidden, hidden + 1) and sum(len(b) == 1 for _, b, _, _ in scene) > sum(covered)
    kalman = track(KalmanTracker(), scene)
    before, after = kalman[0], kalman[-1]
    assert before == after and len(set(before.values())) == 2 and 0 not in before.values()
    assert all(ids.get(p, 0) in (0, before[p]) for ids in kalman for p in (0, 1)), "no one takes another's id"
    assert sum(ids.get(1) == 0 for ids in kalman) <= 2, "B is known again at once, or almost"
    centre = track(CentreTracker(), scene)
    assert centre[-1][1] != centre[0][1], "the nearest-centre baseline should lose the hidden person"


def test_new_tracks_are_born_after_confirmation_and_lost_ones_come_back_within_max_lost():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :100], frame[:, 100:] = GREEN, RED
    still, flicker = np.array([[10.0, 10, 40, 90]]), np.array([[130.0, 10, 160, 90]])
    tracker = KalmanTracker(confirm=3, max_lost=5)
    state, ids = tracker.step(tracker.initial(), describe_detections(frame, still))
    assert ids.tolist() == [1], "people in the shot's first frame get ids at once"
    seen = []
    for f in range(1, 4):
        state, ids = tracker.step(state, describe_detections(frame, np.concatenate([still, flicker])))
        seen.append(ids.tolist())
    assert seen == [[1, 0], [1, 0], [1, 2]], "a newcomer gets an id on its third frame"
    for gap, expect_same in ((5, True), (6, False)):
        s = state
        for _ in range(gap):
            s, _ = tracker.step(s, describe_detections(frame, still))
        s, ids = tracker.step(s, describe_detections(frame, np.concatenate([still, flicker])))
        assert bool(ids[1] == 2) is expect_same, f"after {gap} frames away"


def walking(frames: int, speed: float = 4.0) -> list[np.ndarray]:
    """Boxes (1x4) of one person 40x120 walking right at `speed` pixels per frame."""
    return [np.array([[20.0 + speed * f, 40, 60 + speed * f, 160]]) for f in range(frames)]


def test_weak_detections_continue_confirmed_people_and_start_no_one():
    frame = np.full((200, 400, 3), 128, np.uint8)
    tracker = KalmanTracker()
    state, ids = tracker.step(tracker.initial(), describe_detections(frame, walking(1)[0]))
    assert ids.tolist() == [1]
    boxes = walking(6)
    for f in range(1, 6):  # the person's score drops under the threshold: weak detections carry them
        state, ids = tracker.step(state, describe_detections(frame, boxes[f], weak=[True]))
        assert ids.tolist() == [1], f"frame {f}: a weak detection lost the person"
    stranger = np.array([[300.0, 40, 340, 160]])
    for _ in range(4):  # a weak box where no one is followed never becomes anyone
        state, ids = tracker.step(state, describe_detections(frame, stranger, weak=[True]))
        assert ids.tolist() == [0]
    assert (state.ids == 0).sum() == 0, "a weak detection started a track"
    lost = state
    for _ in range(3):  # the person is gone for three frames...
        lost, _ = tracker.step(lost, describe_detections(frame, np.zeros((0, 4))))
    _, ids = tracker.step(lost, describe_detections(frame, boxes[5], weak=[True]))
    assert ids.tolist() == [0], "...and a weak box where they were does not bring them back"
    _, ids = tracker.step(lost, describe_detections(frame, boxes[5]))
    assert ids.tolist() == [1], "a confident one does"


def test_people_after_a_cut_get_new_ids_at_once():
    frame = np.full((200, 400, 3), 128, np.uint8)
    tracker = KalmanTracker(confirm=3)
    state = tracker.initial()
    for boxes in walking(5):
        state, ids = tracker.step(state, describe_detections(frame, boxes))
    assert ids.tolist() == [1]
    other = np.array([[250.0, 30, 300, 180], [30.0, 40, 70, 160]])
    _, ids = tracker.step(state, describe_detections(frame, other))
    assert ids.tolist() == [0, 1], "without a cut, a newcomer waits and the near box continues id 1"
    _, ids = tracker.step(state, describe_detections(frame, other, cut=True))
    assert ids.tolist() == [2, 3], "after a cut everyone is new, with an id at once"


def test_held_tracks_are_confirmed_people_unseen_for_at_most_hold_frames_where_expected():
    frame = np.full((200, 400, 3), 128, np.uint8)
    tracker = KalmanTracker()
    state = tracker.initial()
    boxes = walking(16)
    for b in boxes[:8]:
        state, _ = tracker.step(state, describe_detections(frame, b))
    assert len(held_tracks(state, 5)[0]) == 0, "a person seen in this frame is not held"
    for f in range(8, 16):
        state, _ = tracker.step(state, describe_detections(frame, np.zeros((0, 4))))
        ids, expected = held_tracks(state, 5)
        if f - 7 <= 5:
            assert ids.tolist() == [1]
            assert box_iou(expected, boxes[f])[0, 0] > 0.7, "held where the walk takes them"
        else:
            assert len(ids) == 0, "held for longer than `hold`"


def test_gaps_between_two_sightings_are_filled_with_interpolated_boxes():
    a, b = np.array([[0.0, 0, 10, 20]]), np.array([[10.0, 0, 20, 20]])
    other = np.array([[50.0, 50, 60, 70]])
    frames = {0: (np.concatenate([a, other]), np.array([1, 2])), 1: (other, np.array([2])),
              2: (other, np.array([2])), 3: (np.zeros((0, 4)), np.zeros(0, np.int64)),
              4: (np.concatenate([b, other]), np.array([1, 0]))}
    boxes, ids = fill_gap(frames, 2, max_gap=3)
    assert ids.tolist() == [2, 1] and np.allclose(boxes[1], [5, 0, 15, 20]), "id 1 halfway between its sightings"
    assert fill_gap(frames, 2, max_gap=2)[1].tolist() == [2], "a gap longer than max_gap stays a gap"
    assert fill_gap(frames, 3, max_gap=3)[1].tolist() == [1], "id 2 is not seen after frame 3: not filled"
    del frames[1]
    assert fill_gap(frames, 2, max_gap=3)[1].tolist() == [2], "an unrecorded frame between: nothing is known"
    assert fill_gap(frames, 7, max_gap=3) is None
    frames[1] = (other, np.array([2]))
    for f in (5, 6, 7, 8):
        frames[f] = (np.zeros((0, 4)), np.zeros(0, np.int64))
    boxes, ids = fill_gap(frames, 2, max_gap=1, holds={1: (1, 3)})
    assert ids.tolist() == [2, 1] and np.allclose(boxes[1], [5, 0, 15, 20]), "held: interpolated past max_gap"
    assert fill_gap(frames, 2, max_gap=1, holds={1: (3, 4)})[1].tolist() == [2], "outside the held range"
    boxes, ids = fill_gap(frames, 7, max_gap=1, holds={1: (5, 8)})
    assert ids.tolist() == [1] and np.allclose(boxes[0], b[0]), "seen on one side only: held where last seen"
    assert fill_gap(frames, 8, max_gap=1, holds={1: (6, 8)})[1].tolist() == [], "last seen too long before"
    assert instance_tracker.parse_holds(" 7: 10-40, 3:5-9 ,") == {7: (10, 40), 3: (5, 9)}
    for bad, says in (("7 10-40", "is not ID: FIRST-LAST"), ("7: 40-10", "is not ID: FIRST-LAST"),
                      ("7: 1-2, 7: 5-6", "held twice")):
        with pytest.raises(ParamError, match=says):
            instance_tracker.parse_holds(bad)


def painted(people, size=(200, 400)) -> np.ndarray:
    """A grey frame of `size` (height, width) with each (box x1, y1, x2, y2, RGB colour) of `people` painted, the
    farther (box ending higher) first, so that nearer people hide them."""
    frame = np.full((*size, 3), 128, np.uint8)
    for box, rgb in sorted(people, key=lambda p: p[0][3]):
        b = np.round(box).astype(int)
        cv2.rectangle(frame, (b[0], b[1]), (b[2] - 1, b[3] - 1), rgb, -1)
    return frame


def test_a_second_box_on_a_followed_person_never_takes_their_id_nor_gets_one_of_its_own_later():
    tracker = KalmanTracker()
    state, seen = tracker.initial(), []
    for f in range(12):  # the upper body boxed as well from the shot's first frame (an id of its own, at once),
        person = np.array([100.0 + 2 * f, 40, 140 + 2 * f, 160])
        part = np.array([person[0] + 4, 40, person[2] - 4, 100])
        boxes = [person, part] if f < 8 else [part] if f == 9 else [person]
        state, ids = tracker.step(state, describe_detections(painted([(person, RED)]), np.array(boxes)))
        seen.append(ids.tolist())
    assert all(ids[0] == 1 for ids in seen[:8]) and seen[8:] == [[1]] * 4, "the part alone is still id 1"
    state, seen = tracker.initial(), []
    for f in range(14):  # a small far person, boxed twice for a while (the larger box reaching lower), then once
        person = np.array([100.0 + f, 40, 120 + f, 100])
        larger = person + np.array([-4, -5, 4, 4])
        boxes = [person] if f < 3 else [person, larger] if f < 9 else [larger]
        state, ids = tracker.step(state, describe_detections(painted([(person, RED)]), np.array(boxes)))
        seen.append(ids.tolist())
    assert all(ids in ([1], [1, 0]) for ids in seen), f"one person, one id: {seen}"


def test_a_person_leaving_the_frame_keeps_their_id_on_what_is_left_of_them_not_a_newcomer():
    tracker = KalmanTracker()
    state, seen = tracker.initial(), []
    for f in range(20):  # A walks out on the left, boxed as the frame cuts them; N comes in there, boxed weakly
        x = 200 - 12 * f
        a = np.array([x - 45, 10, x + 45, 190])
        newcomer = np.array([2.0, 20, 82, 192])
        boxes, who, weak = [], [], []
        if min(a[2], 400) - max(a[0], 0) >= 8:
            boxes.append(np.clip(a, 0, [400, 200, 400, 200]))
            who.append("A")
            weak.append(x < 45)
        if x < 45:
            boxes.append(newcomer)
            who.append("N")
            weak.append(True)
        frame = painted([(a, RED)] + [(newcomer, RED)] * (x < 45))
        state, ids = tracker.step(state, describe_detections(frame, np.array(boxes).reshape(-1, 4), weak=weak))
        seen.append(dict(zip(who, ids.tolist())))
    assert all(ids.get("A") == 1 and ids.get("N", 0) == 0 for ids in seen if "A" in ids), seen


def test_a_person_walking_behind_something_the_detector_does_not_box_keeps_their_id():
    tracker = KalmanTracker()
    state, seen = tracker.initial(), []
    for f in range(50):  # a pillar at x 180-240, nearer than the person walking right: their box is what shows
        x = 60 + 5 * f
        person = np.array([x - 20, 40, x + 20, 160])
        frame = painted([(person, RED)])
        frame[:, 180:240] = 90
        shows = [np.array([person[0], 40, min(person[2], 180), 160]),
                 np.array([max(person[0], 240), 40, person[2], 160])]
        boxes = np.array([b for b in shows if b[2] - b[0] >= 8]).reshape(-1, 4)
        state, ids = tracker.step(state, describe_detections(frame, boxes))
        seen += ids.tolist()
    assert set(seen) - {0} == {1}, f"one person, one id: {seen}"
    assert seen[-1] == 1


def test_step_leaves_its_input_state_untouched():
    scene = list(crossing(4, frames=30))
    tracker = KalmanTracker()
    state = tracker.initial()
    for frame, boxes, _, _ in scene[:20]:
        state, _ = tracker.step(state, describe_detections(frame, boxes))
    copy = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in vars(state).items()}
    frame, boxes, _, _ = scene[20]
    first = tracker.step(state, describe_detections(frame, boxes))
    second = tracker.step(state, describe_detections(frame, boxes))
    assert all(np.array_equal(copy[k], v) for k, v in vars(state).items())
    assert np.array_equal(first[1], second[1]) and np.array_equal(first[0].mean, second[0].mean)


def test_merge_and_id_lists_parse_with_clear_errors():
    assert instance_tracker.parse_merge(" 3=1, 7 = 2,") == {3: 1, 7: 2}
    assert instance_tracker.parse_merge("3=2, 2=1") == {3: 1, 2: 1}
    assert instance_tracker.parse_merge("") == {}
    assert instance_tracker.parse_ids("5, 9", "exclude") == {5, 9}
    for text, fragment in (("3-1", "not OLD=NEW"), ("3=1, 3=2", "both 1 and 2"), ("1=2, 2=1", "circle"),
                           ("0=1", "not OLD=NEW")):
        with pytest.raises(ParamError, match=fragment):
            instance_tracker.parse_merge(text)
    with pytest.raises(ParamError, match=r"exclude: 'x' is not a track id"):
        instance_tracker.parse_ids("5, x", "exclude")


def fake_context(frame: np.ndarray, shot: ShotState):
    """What the stage reads from a request with pixels from the client (tracked in arrival order)."""
    return SimpleNamespace(shot=shot, frame_uint8=frame, footage=None, write_dir=None,
                           pipeline={"instance_mask": {}})


def test_stage_applies_merge_exclude_and_selection_after_tracking():
    scene = list(crossing(3, frames=40))[:6]
    params = instance_tracker.SPEC.resolve({"merge": "2=7", "selection": "7"})
    shot = ShotState()
    for f, (frame, boxes, _, _) in enumerate(scene):
        masks = np.zeros((len(boxes), 200, 400), np.float32)
        for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
            masks[k, y1:y2, x1:x2] = 1
        state = FrameState(rgb=frame.astype(np.float32) / 255, index=f,
                           instances=[Instance(tuple(b), "person", 0.9, m) for b, m in zip(boxes, masks)],
                           mask=np.clip(masks.sum(0), 0, 1))
        out = instance_tracker.run(state, params, fake_context(frame, shot))
    assert [i.track_id for i in state.instances] == [1, 7]
    assert set(np.unique(out["tracks"])) == {0, 1, 7}
    assert np.array_equal(out["selection"], masks[1]) and np.array_equal(out["mask"], np.clip(masks.sum(0), 0, 1))
    state.instances = [Instance(tuple(b), "person", 0.9, m) for b, m in zip(boxes, masks)]
    state.index += 1
    out = instance_tracker.run(state, instance_tracker.SPEC.resolve({"exclude": "2"}), fake_context(frame, shot))
    assert [i.track_id for i in state.instances] == [1] and np.array_equal(out["mask"], masks[0])
    assert out["selection"].max() == 0


def test_track_store_is_shared_through_its_file_and_replaced_for_another_key(tmp_path):
    path = tmp_path / "tracks.jsonl"
    one, other_machine = TrackStore(path, "k1"), TrackStore(path, "k1")
    boxes = np.array([[1.5, 2.25, 30.125, 40.0], [50, 60, 70, 80]])
    one.put(4, boxes, [3, 0])
    got = other_machine.get(4)
    assert np.array_equal(got[0], boxes) and got[1].tolist() == [3, 0]
    other_machine.put(5, boxes[:1], [3])
    assert one.get(5)[1].tolist() == [3], "frames appended elsewhere are read"
    with open(path, "a") as f:
        f.write('{"frame": 6, "boxes": [[1, 2')  # a writer died mid-line
    assert one.get(6) is None and one.get(4) is not None
    stale = TrackStore(path, "k2")
    assert stale.get(4) is None, "tracks made with other footage or parameters are not used"
    stale.put(0, boxes, [1, 2])
    assert json.loads(path.read_text().splitlines()[0])["key"] == "k2" and len(path.read_text().splitlines()) == 2
    assert one.get(4) is None and one.get(0) is None


def short_clip(tmp_path, frames: int) -> str:
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    capture = cv2.VideoCapture(str(VTEST))
    for _ in range(frames):
        writer.write(capture.read()[1])
    writer.release()
    capture.release()
    return str(clip)


def render(clip: str, order, write_dir) -> tuple[dict, list]:
    """A fresh engine (as on another machine) computes the frames in `order`: {frame: [(box, id), ...]}, and
    the tracker's report for each request."""
    service = Service(torch.device("cpu"))
    ids, modes = {}, []
    for f in order:
        reply, _ = service.run(parse_run({"id": f, "shot": "clip", "frame_number": f + 1,
                                "source": {"kind": "file", "path": clip, "frame": f},
                                "pipeline": [{"stage": "instance_mask", "params": {"quality": "faster"}},
                                             {"stage": "instance_tracker", "params": {"shot_start": 0},
                                              "write": str(write_dir), "write_outputs": ["tracks"]}]}), [])
        ids[f] = [(i["box"], i["track_id"]) for i in reply["instances"]]
        modes.append({k: v for k, v in reply["report"]["instance_tracker"].items() if k != "held"})
    return ids, modes


def records(write_dir) -> dict:
    """The track store's frames: {frame: (boxes, ids)}."""
    lines = (write_dir / instance_tracker.STORE_NAME).read_text().splitlines()[1:]
    return {r["frame"]: (r["boxes"], r["ids"]) for r in map(json.loads, lines)}


def same_people_same_ids(one: list, other: list) -> int:
    """How many instances of one render of a frame match one of the other (boxes overlapping at IoU 0.5 or
    more, one to one); asserts that matched instances have the same id."""
    pairs = assign(1.0 - box_iou(np.array([b for b, _ in one]).reshape(-1, 4),
                                 np.array([b for b, _ in other]).reshape(-1, 4)), 0.5)
    assert all(one[r][1] == other[c][1] for r, c in pairs), (one, other)
    return len(pairs)


def test_a_shot_rendered_in_shuffled_order_gets_the_same_ids_as_in_order(tmp_path):
    frames = 6
    clip = short_clip(tmp_path, frames)
    in_order, modes = render(clip, range(frames), tmp_path / "a")
    assert all(m == {"mode": "tracked", "analysed_frames": 0} for m in modes), "in order, nothing is analysed twice"
    assert len({i for f in in_order.values() for _, i in f}) >= 3 and all(in_order.values())
    order = list(range(frames))
    random.Random(7).shuffle(order)
    shuffled, modes = render(clip, order, tmp_path / "b")
    assert records(tmp_path / "b") == records(tmp_path / "a"), "the shuffled render recorded other tracks"
    assert sum(m.get("replayed_frames", 0) for m in modes) >= frames - 1 and any(m["mode"] == "stored" for m in modes)
    # The Instance Mask stage carries boxes between detections; the tracker's `prepare` replays the frames before a
    # frame out of order, so the same boxes come out with the same ids.
    assert shuffled == in_order
    reader, modes = render(clip, [4, 1, 2], tmp_path / "a")
    assert all(m["mode"] == "stored" for m in modes), "another machine reads the identities from the store"
    assert all(reader[f] == in_order[f] for f in reader)
    assert (tmp_path / "b" / "tracks" / f"{frames:06d}.exr").is_file()


def test_the_nearest_centre_method_records_a_shot_too(tmp_path):
    clip = short_clip(tmp_path, 3)
    service = Service(torch.device("cpu"))
    for f in range(3):
        reply, _ = service.run(parse_run({"id": f, "shot": "clip", "frame_number": f + 1,
                                          "source": {"kind": "file", "path": clip, "frame": f},
                                          "pipeline": [{"stage": "instance_mask", "params": {"quality": "faster"}},
                                                       {"stage": "instance_tracker", "write": str(tmp_path / "w"),
                                                        "params": {"shot_start": 0, "method": "centre"}}]}), [])
        assert reply["type"] == "result" and reply["instances"], reply
        assert all(i["track_id"] > 0 for i in reply["instances"]), reply
    assert sorted(records(tmp_path / "w")) == [0, 1, 2]


def test_bad_corrections_and_frames_before_the_shot_are_refused_with_the_fix(tmp_path):
    service = Service(torch.device("cpu"))
    black = np.zeros((48, 64, 3), np.uint8)
    header = {"id": 1, "source": {"kind": "pixels", "array": {"dtype": "uint8", "shape": [48, 64, 3], "payload": 0}},
              "pipeline": [{"stage": "instance_mask", "params": {"quality": "faster"}},
                           {"stage": "instance_tracker", "params": {"merge": "3 to 1"}}]}
    with pytest.raises(ParamError) as err:
        service.run(parse_run(header), [black.tobytes()])
    fields = failure_reply(err.value)
    assert (fields["code"], fields["stage"], fields["param"]) == ("bad_param", "instance_tracker", "merge")
    assert "'3 to 1' is not OLD=NEW" in fields["message"] and "e.g. '3=1, 7=2'" in fields["message"]
    clip = short_clip(tmp_path, 2)
    with pytest.raises(ParamError, match="set shot_start to the footage frame where the shot begins"):
        service.run(parse_run({"id": 2, "source": {"kind": "file", "path": clip, "frame": 1},
                     "pipeline": [{"stage": "instance_mask", "params": {"quality": "faster"}},
                                  {"stage": "instance_tracker", "params": {"shot_start": 2}}]}), [])


class Unsure:
    """The real CenterNet, made unsure on some frames: on the frames (recognised by their pixels) in `weak`, every
    score is halved; on those in `blind`, the person whose box is nearest `blind_at` (x, y) is not found."""

    def __init__(self, detector, frames: list[np.ndarray], weak: set[int], blind: set[int], blind_at=(0, 0)):
        self.detector, self.weak, self.blind, self.blind_at = detector, weak, blind, blind_at
        self.index = {frame.tobytes(): f for f, frame in enumerate(frames)}

    def detect(self, frame, score_threshold=0.3, classes=None):
        from dataclasses import replace

        f = self.index[frame.tobytes()]
        found = self.detector.detect(frame, min(score_threshold, 0.05), classes)
        if f in self.weak:
            found = [replace(d, score=d.score / 2) for d in found]
        if f in self.blind and found:
            nearest = min(found, key=lambda d: np.hypot((d.box[0] + d.box[2]) / 2 - self.blind_at[0],
                                                        (d.box[1] + d.box[3]) / 2 - self.blind_at[1]))
            found = [d for d in found if d is not nearest]
        return sorted((d for d in found if d.score >= score_threshold), key=lambda d: -d.score)


def unsure_render(clip: str, frames: list, weak: set, blind: set, blind_at, params: dict, mask_params: dict,
                  passes: int = 1):
    """Frames of `clip` in order through Instance Mask (Faster) and the tracker (shot_start 0) with an Unsure
    detector, `passes` times in one engine (a first pass is what Analyze does): {frame: {track id: mask pixels at
    0.5}} of the last pass."""
    service = Service(torch.device("cpu"))
    real = service.zoo.detector()
    unsure = Unsure(real, frames, weak, blind, blind_at)
    service.zoo.detector = lambda tile_size=None: unsure
    out = {}
    for f in list(range(len(frames))) * passes:
        reply, _ = service.run(parse_run({"id": f, "shot": "clip", "source": {"kind": "file", "path": clip, "frame": f},
                                "pipeline": [{"stage": "instance_mask", "params": {"quality": "faster", **mask_params}},
                                             {"stage": "instance_tracker", "params": {"shot_start": 0, **params}}]}),
                               [])
        out[f] = {i["track_id"]: i["area"] for i in reply["instances"]}
    return out


def test_people_keep_their_ids_through_weak_and_missed_detections(tmp_path):
    count = 12
    clip = short_clip(tmp_path, count)
    capture = cv2.VideoCapture(clip)
    frames = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(count)]
    weak, blind = {3, 4, 5}, {8, 9}  # Faster detects on even frames: 4 is weak; no one finds the target at 8, 9
    first = unsure_render(clip, frames, set(), set(), (0, 0), {}, {})
    people = set(first[0]) & set(first[count - 1])
    assert len(people) >= 3 and all(people <= set(first[f]) for f in range(count)), first
    # the person to hide: the one with the largest mask at frame 6
    target = max(people, key=lambda i: first[6][i])
    service = Service(torch.device("cpu"))
    reply, _ = service.run(parse_run({"id": 0, "source": {"kind": "file", "path": clip, "frame": 6},
                            "pipeline": [{"stage": "instance_mask", "params": {"quality": "faster"}}]}), [])
    box = max(reply["instances"], key=lambda i: i["area"])["box"]
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)

    now = unsure_render(clip, frames, weak, blind, centre, {}, {})
    for f in range(count):
        assert people <= set(now[f]), f"frame {f}: {sorted(people - set(now[f]))} blinked out ({now[f]})"
    for f in blind:
        assert now[f][target] >= 0.5 * first[f][target], f"frame {f}: the held person's mask shrank away"
    before = unsure_render(clip, frames, weak, blind, centre, {"hold": 0}, {"weak_threshold": 0.35})
    assert any(not people <= set(before[f]) for f in weak), "without weak detections, halved scores lose people"
    assert all(target not in before[f] for f in blind), "without hold, a missed person is not shown"
    pinned = unsure_render(clip, frames, set(), blind, centre, {"hold": 0, "hold_ranges": f"{target}: 8-9"}, {})
    assert all(target in pinned[f] for f in blind), "the artist holds the person through frames 8-9"
    short = unsure_render(clip, frames, set(), blind, centre, {"hold": 1}, {})
    assert target in short[8] and target not in short[9], "held for one frame only"
    analysed = unsure_render(clip, frames, set(), blind, centre, {"hold": 1}, {}, passes=2)
    assert target in analysed[9], "once the shot is analysed, the gap between sightings is filled"


def test_id_overlay_paints_each_person_in_their_colour_and_writes_their_id():
    from instyle.ops.id_overlay import id_colour, id_overlay

    h, w = 200, 300
    a, b = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    a[60:180, 30:90], b[60:180, 180:240] = 1.0, 0.5
    out = id_overlay((h, w), [(3, a, (30, 60, 90, 180), False), (12, b, (180, 60, 240, 180), True)])
    assert out.shape == (h, w, 3) and out.dtype == np.float32
    assert np.allclose(out[150, 60], id_colour(3)) and np.allclose(out[150, 210], 0.5 * np.array(id_colour(12)))
    assert not np.allclose(id_colour(3), id_colour(4), atol=0.2), "neighbouring ids look alike"
    assert (out[0:60, 130:170] == 0).all() and (out[150, 100:170] == 0).all(), "nothing away from people"
    white = (out.min(axis=2) > 0.9)
    label_a, label_b = white[:60, 20:100], white[:60, 150:270]
    assert label_a.any() and label_b.any(), "ids are written above each person"
    assert label_b.sum() > 2 * label_a.sum(), "a held person's label says so"


def outline_of(mask: np.ndarray) -> list:
    """The largest outline of a mask (HxW, >= 0.5) as [[x, y], ...] pixels: what an artist draws as a Mask."""
    contours, _ = cv2.findContours((mask >= 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return max(contours, key=cv2.contourArea)[:, 0, :].astype(float).tolist()


def test_a_person_added_on_one_frame_is_carried_through_the_shot_in_any_order(tmp_path):
    count, drawn_on = 10, 5
    clip = short_clip(tmp_path, count)
    reference, _ = render(clip, range(count), tmp_path / "reference")
    people = set.intersection(*({i for _, i in reference[f]} for f in range(count)))
    service = Service(torch.device("cpu"))

    def request(f: int, tracker: dict, mask: dict | None = None, returns=()):
        reply, payloads = service.run(parse_run({
            "id": f, "shot": "clip", "source": {"kind": "file", "path": clip, "frame": f},
            "pipeline": [{"stage": "instance_mask", "params": {"quality": "faster", **(mask or {})}},
                         {"stage": "instance_tracker", "params": {"shot_start": 0, **tracker},
                          "return": list(returns)}]}), [])
        return reply, payloads

    # the largest person followed through the clip, outlined on the drawn frame from their mask there
    reply, payloads = request(drawn_on, {}, returns=["tracks"])
    tracks = np.frombuffer(payloads[0], np.float32).reshape(576, 768)
    target = max(people, key=lambda t: (tracks == t).sum())
    added = json.dumps([{"id": 1001, "frame": drawn_on, "polygons": [outline_of(tracks == target)]}])
    truth = {f: next(np.array(b) for b, i in reference[f] if i == target) for f in range(count)}

    blind = {"score_threshold": 1.0, "weak_threshold": 1.0}  # the detector finds no one: only the added person
    boxes = {}
    for chunk in ([7, 2, 9], [5, 0, 3], [8, 1, 6, 4]):
        service = Service(torch.device("cpu"))  # each chunk on another machine
        for f in chunk:
            reply, _ = request(f, {"added": added}, blind)
            assert [i["track_id"] for i in reply["instances"]] == [1001], f
            boxes[f] = np.array(reply["instances"][0]["box"])
            assert reply["instances"][0]["area"] > 500, f
    for f in range(count):
        assert box_iou(boxes[f], truth[f])[0, 0] >= 0.5, (f, boxes[f], truth[f])
    service = Service(torch.device("cpu"))
    in_order = {f: np.array(request(f, {"added": added}, blind)[0]["instances"][0]["box"]) for f in range(count)}
    assert all(np.allclose(in_order[f], boxes[f]) for f in range(count)), "the order frames are rendered in matters"

    # with detection on, the detected person takes the added id; everyone else keeps theirs
    reply, _ = request(drawn_on, {"added": added})
    ids = [i["track_id"] for i in reply["instances"]]
    assert ids.count(1001) == 1 and target not in ids and len(ids) == len(reference[drawn_on])
    with pytest.raises(ParamError, match="must be above 1000"):
        request(0, {"added": json.dumps([{"id": 7, "frame": 0, "polygons": [[[0, 0], [9, 0], [9, 9]]]}])})
    with pytest.raises(ParamError, match="at least 3"):
        request(0, {"added": json.dumps([{"id": 1001, "frame": 0, "polygons": [[[0, 0], [9, 0]]]}])})


def test_a_region_cut_out_of_a_person_on_one_frame_follows_their_box(tmp_path):
    count, drawn_on = 6, 4
    clip = short_clip(tmp_path, count)
    service = Service(torch.device("cpu"))

    def frame_of(f: int, tracker: dict):
        reply, payloads = service.run(parse_run({
            "id": f, "shot": "clip", "source": {"kind": "file", "path": clip, "frame": f},
            "pipeline": [{"stage": "instance_mask", "params": {"quality": "faster"}},
                         {"stage": "instance_tracker", "params": {"shot_start": 0, **tracker}, "return": ["tracks"]}]}),
            [])
        tracks = np.frombuffer(payloads[0], np.float32).reshape(576, 768)
        return {i["track_id"]: np.array(i["box"]) for i in reply["instances"]}, tracks

    plain = {f: frame_of(f, {}) for f in range(count)}
    target = max(set.intersection(*(set(b) for b, _ in plain.values())), key=lambda t: (plain[4][1] == t).sum())
    x1, y1, x2, y2 = plain[drawn_on][0][target]
    head = [[x1 - 5, y1 - 5], [x2 + 5, y1 - 5], [x2 + 5, y1 + (y2 - y1) / 3], [x1 - 5, y1 + (y2 - y1) / 3]]
    cut = json.dumps([{"id": int(target), "frame": drawn_on, "polygons": [head]}])
    service = Service(torch.device("cpu"))  # another machine, rendering out of order: frame 1 before frame 4
    for f in (1, drawn_on, 0):
        boxes, tracks = frame_of(f, {"cut": cut})
        bx1, by1, bx2, by2 = boxes[target]
        top = (slice(int(by1), int(by1 + (by2 - by1) / 3) - 3), slice(int(bx1), int(bx2)))
        before = (plain[f][1][top] == target).sum()
        assert before > 50 and (tracks[top] == target).sum() < 0.1 * before, f"frame {f}: the head is not cut"
        rest = (plain[f][1] == target).sum() - before
        assert (tracks == target).sum() >= 0.8 * rest, f"frame {f}: more than the region was cut"
        for other in set(np.unique(plain[f][1]).tolist()) - {0, target}:  # out of order: masks a little different
            mine, theirs = tracks == other, plain[f][1] == other
            assert (mine & theirs).sum() >= 0.8 * (mine | theirs).sum(), f"frame {f}: person {other} changed"
    with pytest.raises(ParamError, match=r"instance_tracker.cut\[0\]: id 0 must be above 0"):
        frame_of(3, {"cut": json.dumps([{"id": 0, "frame": 2, "polygons": [head]}])})
