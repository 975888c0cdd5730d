"""The hard-case clips' parts: the mask and identity metrics on hand-made masks whose scores are known, the
compositing that makes the truth, and the requests the benchmark sends."""

from __future__ import annotations

import numpy as np
import pytest

from instyle.bench import clips, hard_cases, metrics
from instyle.bench.track import Matte, Sprite, Walker, render
from instyle.media import FrameSource
from instyle.wire.requests import parse_run


def square(x: int, y: int, side: int = 10, size=(40, 40)) -> np.ndarray:
    mask = np.zeros(size, np.float32)
    mask[y:y + side, x:x + side] = 1.0
    return mask


def bar(top: int, bottom: int) -> np.ndarray:
    """Rows top..bottom-1 of a 40x30 frame, from its left edge to its right edge."""
    mask = np.zeros((40, 30), bool)
    mask[top:bottom] = True
    return mask


def test_mask_iou_and_pairs():
    a, b, far = square(0, 0), square(5, 0), square(25, 25)
    iou = metrics.mask_iou(np.stack([a, far]), np.stack([b, a * 0.4, far * 0.6]))
    # a's 100 px and b's 100 px share 50; a soft mask under 0.5 is empty
    assert iou[0].tolist() == pytest.approx([50 / 150, 0.0, 0.0]) and iou[1].tolist() == [0.0, 0.0, 1.0]
    assert metrics.pair(iou).tolist() == [0, 2]
    assert metrics.pair(np.array([[0.0, 0.0]])).tolist() == [-1], "a pair at IoU 0 is no pair"
    assert metrics.pair(np.zeros((2, 0))).tolist() == [-1, -1]


def test_boundary_f_counts_outlines_within_two_pixels_and_not_the_frames_edge():
    # The bars' outlines are their top and bottom rows only: the frame's left and right edges are no outline.
    assert metrics.boundary_f(bar(10, 20), bar(10, 20)) == 1.0
    assert metrics.boundary_f(bar(10, 20), bar(12, 22)) == 1.0, "2 px away is within the tolerance"
    assert metrics.boundary_f(bar(10, 20), bar(13, 23)) == 0.0, "3 px away is not"
    # outlines 10, 19 against 12, 24: one row of each side is within 2 px of the other: P = R = 0.5
    assert metrics.boundary_f(bar(10, 20), bar(12, 25)) == pytest.approx(0.5)
    empty = np.zeros((40, 30), bool)
    assert metrics.boundary_f(empty, empty) == 1.0 and metrics.boundary_f(bar(10, 20), empty) == 0.0


def frame(truth: dict, pred: list) -> metrics.FrameScore:
    """truth {id: mask}, pred [(track id, mask)] -> the frame's score."""
    ids, masks = zip(*pred) if pred else ((), ())
    return metrics.score_frame(np.array(list(truth), np.int64), np.array(list(truth.values())).reshape(-1, 40, 40),
                               np.array(ids, np.int64), np.array(masks).reshape(-1, 40, 40))


def test_a_clip_with_a_blink_an_id_switch_an_unstyled_instance_and_a_cut():
    a, b = square(0, 0), square(20, 20)
    half_b = square(20, 20) * (np.arange(40) < 25)[None, :]  # b's left half: IoU 0.5, found
    frames = [frame({1: a, 2: b}, [(7, a), (8, b)]),
              frame({1: a, 2: b}, [(7, a), (0, b)]),  # b found but unstyled (no track id): a blink
              frame({1: a, 2: b}, [(9, a), (8, b)]),  # a's id changes: a switch; b styled again, same id
              frame({1: a, 2: b}, [(8, half_b)]),  # a shot begins here: a missed is no blink
              frame({}, [(8, b)]),  # no one visible
              frame({2: b}, [])]  # b comes back and is missed: not styled in the frame before, so no blink
    score = metrics.score_clip(frames, {0, 3})
    assert score.person_frames == 9
    assert score.recall == pytest.approx(7 / 9) and score.mean_iou == pytest.approx(6.5 / 9)
    assert score.switches == 1 and score.blinks == 1 and score.blink_at == [(1, 2)]
    assert score.dropouts == 1, "b's instance at frame 1 has no track id: nothing styled covers b"
    assert 6 / 9 < score.boundary_f < 7 / 9, "misses count 0 and b's half mask less than 1"
    assert score.false_styles == 1, "frame 4 styles b where no one is visible (b's unstyled instance is no style)"
    assert metrics.score_clip(frames).blink_at == [(1, 2), (3, 1)], "without the cut, a's miss is a blink"
    assert metrics.score_clip(frames).dropouts == 2, "...and a dropout: nothing styled covers a"


def test_combined_scores_weigh_clips_by_person_frames():
    one = metrics.ClipScore(10, 1.0, 0.8, 0.6, 1, 2, 1, 3)
    three = metrics.ClipScore(30, 0.5, 0.4, 0.2, 0, 1, 1, 1)
    both = metrics.combine([one, three])
    assert (both.person_frames, both.switches, both.blinks, both.dropouts, both.false_styles) == (40, 1, 3, 2, 4)
    assert both.recall == pytest.approx(0.625) and both.mean_iou == pytest.approx(0.5)
    assert both.boundary_f == pytest.approx(0.3)


def test_render_hides_people_behind_the_foreground_and_the_truth_is_their_visible_alpha():
    person = Sprite(np.full((10, 4, 3), 0.5, np.float32), np.ones((10, 4), np.float32), "block")
    front = np.zeros((30, 40), np.float32)
    front[:, 20:22] = 1.0  # covers the person's right half (columns 20, 21 of 18..21)
    shot = render("test", np.zeros((30, 40, 3), np.uint8), [Walker(person, 10, 5, 20, 0.0)], 2, seed=0,
                  foreground=(np.ones((30, 40, 3), np.float32), front))
    expected = np.zeros((30, 40), np.float32)
    expected[5:15, 18:20] = 1.0
    assert shot.visibility[:, 0].tolist() == [0.5, 0.5]
    ids, masks = clips.Clip.of(shot, "test").truth(1)
    assert ids.tolist() == [1] and np.array_equal(masks[0], expected)
    assert shot.frames[1][5, 18].tolist() == [128, 128, 128] and shot.frames[1][5, 20].tolist() == [255] * 3


def test_a_walker_moves_and_grows_at_its_pace():
    walker = clips.walk(None, (100, 50, 200), (160, 20, 140), 31)
    assert walker.at(0) == (200, 50, 100) and walker.at(30) == pytest.approx((140, 20, 160))
    assert Matte.of(np.zeros((5, 5), np.float32)).paint((5, 5)).sum() == 0


def test_a_cut_joins_clips_with_new_ids_and_a_shot_start(tmp_path):
    def clip(value: int, frames: int) -> clips.Clip:
        alpha = np.ones((2, 2), np.float32)
        return clips.Clip("c", "case", [np.full((6, 8, 3), value, np.uint8)] * frames,
                          [np.array([1, 2])] * frames, [[Matte(0, 0, alpha), Matte(4, 2, alpha)]] * frames)

    joined = clip(10, 3).then(clip(200, 2))
    assert joined.starts == (0, 3) and [i.tolist() for i in joined.ids] == [[1, 2]] * 3 + [[3, 4]] * 2
    pattern = clips.write(joined, tmp_path / "c")
    assert pattern.endswith("frame_####.png")
    source = FrameSource()
    assert all(np.array_equal(source.frame(pattern, f), joined.frames[f]) for f in range(5))
    assert clips.grade(joined.frames[4], gain=0.5, gamma=1.0)[0, 0].tolist() == [100] * 3


@pytest.mark.parametrize("name", list(hard_cases.METHODS))
def test_each_method_sends_a_valid_request_that_records_the_track_store(name, tmp_path):
    header = hard_cases.request("/clips/x/frame_####.png", 3, "x", hard_cases.METHODS[name], tmp_path)
    parse_run(header)
    tracker = header["pipeline"][1]
    assert tracker["params"]["shot_start"] == 0 and tracker["write"] == str(tmp_path)
    assert set(hard_cases.METHODS[name]) == {"instance_mask", "instance_tracker", "analysed"}


def test_a_runs_tracks_pass_splits_into_one_mask_per_id():
    tracks = np.zeros((4, 5), np.uint16)
    tracks[0, :2], tracks[3, 4] = 3, 9
    ids, masks = hard_cases.Run([tracks], [1.0]).instances(0)
    assert ids.tolist() == [3, 9] and masks.sum(axis=(1, 2)).tolist() == [2, 1] and masks[1, 3, 4] == 1
