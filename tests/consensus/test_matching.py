import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import InvalidAnswers
from consensus.matching import (
    box_f1,
    keypoint_f1,
    match_regions,
    polygon_f1,
    segment_f1,
    segment_iou,
)


def rect(x, y, w, h, label="car"):
    return {"x": x, "y": y, "width": w, "height": h, "label": label}


def square(x, y, side, label="roof"):
    return {"points": [[x, y], [x + side, y], [x + side, y + side], [x, y + side]],
            "label": label}


def test_segment_iou_known_values():
    np.testing.assert_allclose(segment_iou([[0, 2]], [[1, 3], [0, 2], [2, 4], [0.5, 1.5]]),
                               [[1 / 3, 1.0, 0.0, 0.5]])
    assert segment_iou([[1, 1]], [[1, 1]]).item() == 1.0


def test_rectangles_missed_and_extra_objects_are_reported():
    pred = [rect(0, 0, 10, 10), rect(50, 50, 10, 10), rect(20, 20, 10, 10, "bus")]
    ref = [rect(80, 80, 5, 5), rect(1, 0, 10, 10), rect(20, 20, 10, 10, "car")]
    r = match_regions("rectangles", pred, ref, threshold=0.5)
    assert r.matched == [(0, 1)]
    assert r.missed == [0, 2]  # the bus is not a car
    assert r.extra == [1, 2]
    assert r.f1 == pytest.approx(2 / 6)
    assert box_f1(pred, ref) == r.f1


def test_threshold_is_inclusive_and_decides_a_match():
    a, b = [rect(0, 0, 10, 10)], [rect(5, 0, 10, 10)]  # IoU exactly 1/3
    assert box_f1(a, b, iou=1 / 3) == 1.0
    assert box_f1(a, b, iou=0.34) == 0.0
    assert keypoint_f1([{"x": 0, "y": 0, "label": 1}], [{"x": 3, "y": 4, "label": 1}],
                       distance=5.0) == 1.0
    assert keypoint_f1([{"x": 0, "y": 0, "label": 1}], [{"x": 3, "y": 4.01, "label": 1}],
                       distance=5.0) == 0.0


def test_both_empty_is_perfect_and_one_empty_is_zero():
    for kind in ("rectangles", "polygons", "keypoints", "segments"):
        r = match_regions(kind, [], [], threshold=0.5)
        assert r == (1.0, [], [], [])
    assert box_f1([], [rect(0, 0, 1, 1)]) == 0.0
    r = match_regions("segments", [{"start": 0, "end": 1, "label": "a"}], [], threshold=0.5)
    assert r.f1 == 0.0 and r.extra == [0] and r.missed == []


def test_one_to_one_prefers_more_matches_over_a_better_single_match():
    # pred 0 fits ref 0 best (IoU 0.95), but taking it leaves pred 1 unmatched: the largest
    # total IoU (0.95 > 0.317 + 0.31) would give F1 0.5, the largest matching gives 1.
    pred = [{"start": 0.0, "end": 9.5, "label": None}, {"start": 0.0, "end": 3.1, "label": None}]
    ref = [{"start": 0.0, "end": 10.0, "label": None}, {"start": 0.0, "end": 30.0, "label": None}]
    r = match_regions("segments", pred, ref, threshold=0.3)
    assert r.matched == [(0, 1), (1, 0)]
    assert r.f1 == 1.0
    # among matchings of one size, the larger total IoU wins
    r = match_regions("segments", pred[:1], ref, threshold=0.3)
    assert r.matched == [(0, 0)] and r.missed == [1]
    # and a pred cannot take two refs, nor two preds one ref
    same = [{"start": 0.0, "end": 1.0, "label": None}] * 2
    assert segment_f1(same, same[:1]) == pytest.approx(2 / 3)


def test_none_labels_match_anything_and_labels_must_agree_otherwise():
    p = [{"x": 10, "y": 10, "label": None}]
    assert keypoint_f1(p, [{"x": 10, "y": 11, "label": "nose"}]) == 1.0
    assert keypoint_f1([{"x": 10, "y": 10, "label": "eye"}],
                       [{"x": 10, "y": 11, "label": "nose"}]) == 0.0


def test_polygons_use_polygon_iou():
    tri = {"points": [[0, 0], [10, 0], [0, 10]], "label": "roof"}
    assert polygon_f1([tri], [square(0, 0, 10)]) == 1.0  # IoU 0.5
    assert polygon_f1([tri], [square(0, 0, 10)], iou=0.51) == 0.0
    r = match_regions("polygons", [square(50, 50, 5), tri], [square(0, 0, 10), square(51, 50, 5)],
                      threshold=0.5)
    assert r.matched == [(0, 1), (1, 0)]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_reordering_pred_and_ref_only_renames_the_indices(seed):
    rng = np.random.default_rng(seed)
    ref = [rect(*rng.uniform(0, 60, 2), *rng.uniform(5, 30, 2), int(rng.integers(2)))
           for _ in range(rng.integers(0, 6))]
    pred = [rect(r["x"] + rng.normal(0, 3), r["y"] + rng.normal(0, 3), r["width"], r["height"],
                 r["label"]) for r in ref if rng.random() < 0.7]
    pred += [rect(*rng.uniform(0, 60, 2), 10, 10, 0) for _ in range(rng.integers(0, 3))]
    a = match_regions("rectangles", pred, ref, threshold=0.5)
    pp, pr = rng.permutation(len(pred)), rng.permutation(len(ref))
    b = match_regions("rectangles", [pred[i] for i in pp], [ref[i] for i in pr], threshold=0.5)
    # continuous random boxes: the optimal matching is unique, so it maps over exactly
    assert a.f1 == pytest.approx(b.f1)
    assert sorted((int(pp[i]), int(pr[j])) for i, j in b.matched) == a.matched
    assert sorted(pr[b.missed].tolist()) == a.missed
    assert sorted(pp[b.extra].tolist()) == a.extra
    if pred and ref:
        assert a.f1 == pytest.approx(2 * len(a.matched) / (len(pred) + len(ref)))


@pytest.mark.parametrize(
    "kind, pred, threshold, message",
    [
        ("circles", [], 0.5, "kind"),
        ("rectangles", [{"x": 0, "y": 0, "width": 1}], 0.5, "keys"),
        ("rectangles", [rect(0, 0, -1, 1)], 0.5, ">= 0"),
        ("rectangles", [rect(np.nan, 0, 1, 1)], 0.5, "finite"),
        ("rectangles", [rect("a", 0, 1, 1)], 0.5, "numbers"),
        ("rectangles", "not a list", 0.5, "list"),
        ("rectangles", [], 1.5, "threshold"),
        ("keypoints", [], 0, "threshold"),
        ("polygons", [{"points": [[0, 0], [1, 1]], "label": None}], 0.5, "k >= 3"),
        ("polygons", [{"points": [[0, 0, 1], [1, 1, 1], [2, 0, 1]], "label": None}], 0.5, "(k, 2)"),
        ("segments", [{"start": 2, "end": 1, "label": None}], 0.5, "end >= start"),
    ],
)
def test_bad_input_raises_invalid_answers(kind, pred, threshold, message):
    with pytest.raises(InvalidAnswers, match=message):
        match_regions(kind, pred, [], threshold=threshold)
