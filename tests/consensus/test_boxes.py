import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.boxes import BoxFusion, box_iou
from consensus.errors import InvalidAnswers

coord = st.floats(0, 90, allow_nan=False).map(lambda v: round(v, 2))
size = st.floats(0.5, 40, allow_nan=False).map(lambda v: round(v, 2))


def test_box_iou_known_values():
    iou = box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10], [0, 0, 10, 10], [20, 20, 5, 5], [0, 0, 5, 5]])
    np.testing.assert_allclose(iou, [[50 / 150, 1.0, 0.0, 0.25]])
    assert box_iou([[3, 3, 0, 0]], [[3, 3, 0, 0]]).item() == 1.0


@settings(max_examples=40, deadline=None)
@given(coord, coord, size, size, st.integers(1, 6), st.integers(0, 3))
def test_identical_boxes_fuse_to_that_box_with_full_confidence(x, y, w, h, n, label):
    X = np.column_stack([np.zeros(n, int), np.arange(n), np.full(n, label)])
    f = BoxFusion().fit(X, [[x, y, w, h]] * n, weights=np.linspace(0.5, 2, n))
    np.testing.assert_allclose(f.boxes_, [[x, y, w, h]], atol=1e-9)
    assert f.labels_.tolist() == [label]
    assert f.confidence_ == pytest.approx([1.0])
    assert f.support_.tolist() == [n]
    assert f.worker_precision_.tolist() == [1.0] * n
    assert f.worker_recall_.tolist() == [1.0] * n


def _scene():
    """Three workers, two objects on task 0; worker 2 adds a spurious box; task 1 has one box."""
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0],   # object A (label 0)
                  [0, 0, 1], [0, 1, 1], [0, 2, 1],   # object B (label 1)
                  [0, 2, 0],                         # extra box drawn only by worker 2
                  [1, 0, 0], [1, 1, 0]])             # task 1: both workers agree
    B = np.array([[10, 10, 20, 20], [12, 10, 20, 20], [11, 12, 20, 20],
                  [60, 60, 10, 10], [61, 60, 10, 10], [60, 61, 10, 10],
                  [80, 5, 10, 10],
                  [0, 0, 50, 50], [0, 0, 50, 50]], dtype=float)
    return X, B


def test_matches_by_iou_drops_a_box_few_workers_drew_and_scores_workers():
    X, B = _scene()
    f = BoxFusion().fit(X, B)
    assert f.tasks_.tolist() == [0, 0, 1]
    assert f.labels_.tolist() == [0, 1, 0]
    np.testing.assert_allclose(f.boxes_[0], [11, 32 / 3, 20, 20])
    np.testing.assert_allclose(f.boxes_[1], [181 / 3, 181 / 3, 10, 10])
    assert f.support_.tolist() == [3, 3, 2]
    assert f.cluster_[6] == -1  # the spurious box was dropped
    assert f.cluster_[:3].tolist() == [0, 0, 0]
    # worker 2 drew 3 boxes on task 0, two of them kept; everyone found every kept object
    np.testing.assert_allclose(f.worker_precision_, [1, 1, 2 / 3])
    np.testing.assert_allclose(f.worker_recall_, [1, 1, 1])
    assert np.all(f.confidence_ > 0.8) and np.all(f.confidence_ <= 1)


def test_min_share_decides_whether_a_minority_box_is_kept():
    X, B = _scene()
    f = BoxFusion(min_share=0.3).fit(X, B)
    assert len(f.boxes_) == 4
    extra = f.cluster_[6]
    assert f.support_[extra] == 1
    assert f.confidence_[extra] == pytest.approx(1 / 3)
    # with the extra object kept, workers 0 and 1 missed one of three objects on task 0
    np.testing.assert_allclose(f.worker_recall_, [3 / 4, 3 / 4, 1])
    np.testing.assert_allclose(f.worker_precision_, [1, 1, 1])


def test_worker_weights_pull_the_fused_box_and_set_the_share():
    X = np.array([[0, 0, 0], [0, 1, 0]])
    B = [[10, 10, 20, 20], [14, 10, 20, 20]]
    f = BoxFusion().fit(X, B, weights=[3.0, 1.0])
    np.testing.assert_allclose(f.boxes_, [[11, 10, 20, 20]])
    # a box only the weight-1 worker drew has share 1/4 < 0.5: dropped
    X2 = np.array([[0, 0, -1], [0, 1, 0]])
    assert len(BoxFusion().fit(X2, [[0, 0, 0, 0], [5, 5, 5, 5]], weights=[3.0, 1.0]).boxes_) == 0
    assert len(BoxFusion().fit(X2, [[0, 0, 0, 0], [5, 5, 5, 5]], weights=[1.0, 3.0]).boxes_) == 1


def test_one_worker_never_contributes_two_boxes_to_one_object():
    X = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    B = [[10, 10, 20, 20], [11, 10, 20, 20], [10, 10, 20, 20]]
    f = BoxFusion(min_share=0.0).fit(X, B)
    assert len(f.boxes_) == 2
    assert f.cluster_[0] != f.cluster_[1]


def test_labels_separate_objects_unless_told_otherwise():
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 1]])
    B = [[10, 10, 20, 20]] * 3
    f = BoxFusion(min_share=0.0).fit(X, B)
    assert f.labels_.tolist() == [0, 1]
    g = BoxFusion(match_labels=False).fit(X, B)
    assert g.labels_.tolist() == [0] and g.support_.tolist() == [3]
    h = BoxFusion(match_labels=False).fit(X, B, weights=[1, 1, 5])
    assert h.labels_.tolist() == [1]


def test_a_worker_who_saw_the_item_and_drew_nothing_has_zero_recall():
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, -1]])
    B = [[10, 10, 20, 20], [10, 10, 20, 20], [np.nan, 0, 0, 0]]
    with pytest.raises(InvalidAnswers, match="finite"):
        BoxFusion().fit(X, B)  # NaN is refused even on a "drew nothing" row
    B[2] = [0, 0, 0, 0]
    f = BoxFusion().fit(X, B)
    assert f.confidence_ == pytest.approx([2 / 3])
    assert f.worker_recall_.tolist() == [1.0, 1.0, 0.0]
    assert np.isnan(f.worker_precision_[2])


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_renaming_workers_and_shuffling_rows_change_nothing(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_workers, n_objects = 4, 3
    centers = rng.uniform(0, 70, (n_objects, 2))
    rows, boxes = [], []
    for wk in range(n_workers):
        for o in range(n_objects):
            if rng.random() < 0.8:
                rows.append((o % 2, wk, 0))
                boxes.append([*(centers[o] + rng.normal(0, 1, 2)), 20 + rng.normal(), 15])
    if not rows:
        return
    X, B = np.array(rows), np.array(boxes)
    w = rng.uniform(0.5, 2, n_workers)
    a = BoxFusion().fit(X, B, weights=w)
    perm = rng.permutation(n_workers)
    order = rng.permutation(len(X))
    w2 = np.empty(n_workers)
    w2[perm] = w
    X2 = X.copy()
    X2[:, 1] = perm[X[:, 1]]
    b = BoxFusion().fit(X2[order], B[order], weights=w2)
    np.testing.assert_allclose(a.boxes_, b.boxes_)
    np.testing.assert_allclose(a.confidence_, b.confidence_)
    np.testing.assert_array_equal(a.cluster_[order], b.cluster_)
    np.testing.assert_allclose(a.worker_precision_, b.worker_precision_[perm])
    np.testing.assert_allclose(a.worker_recall_, b.worker_recall_[perm])


@pytest.mark.parametrize(
    "X, B, params, message",
    [
        (np.zeros((0, 3), int), np.zeros((0, 4)), {}, "empty"),
        ([[0, 0, 0]], [[np.nan, 0, 1, 1]], {}, "finite"),
        ([[0, 0, 0]], [[0, 0, -1, 1]], {}, "negative"),
        ([[0, 0, 0]], [[0, 0, 1]], {}, "shape"),
        ([[0, 0]], [[0, 0, 1, 1]], {}, "shape"),
        ([[0, 0, -2]], [[0, 0, 1, 1]], {}, "-1"),
        ([[0, 0, 0]], [[0, 0, 1, 1]], {"iou_threshold": 0}, "iou_threshold"),
        ([[0, 0, 0]], [[0, 0, 1, 1]], {"min_share": 1.5}, "min_share"),
    ],
)
def test_bad_input_raises_invalid_answers(X, B, params, message):
    with pytest.raises(InvalidAnswers, match=message):
        BoxFusion(**params).fit(np.asarray(X), B)
