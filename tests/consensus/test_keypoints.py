import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import InvalidAnswers
from consensus.keypoints import KeypointFusion

coord = st.floats(0, 100, allow_nan=False).map(lambda v: round(v, 2))


@settings(max_examples=40, deadline=None)
@given(coord, coord, st.integers(1, 6), st.integers(0, 3))
def test_identical_points_fuse_to_that_point_with_full_confidence(x, y, n, label):
    X = np.column_stack([np.zeros(n, int), np.arange(n), np.full(n, label)])
    f = KeypointFusion().fit(X, [[x, y]] * n, weights=np.linspace(0.5, 2, n))
    np.testing.assert_allclose(f.points_, [[x, y]], atol=1e-9)
    assert f.labels_.tolist() == [label]
    assert f.confidence_ == pytest.approx([1.0])
    assert f.support_.tolist() == [n]
    assert f.worker_precision_.tolist() == [1.0] * n
    assert f.worker_recall_.tolist() == [1.0] * n


def _scene():
    """Three workers, two points on task 0; worker 2 adds a spurious point; task 1 has one."""
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0],   # left eye (label 0)
                  [0, 0, 1], [0, 1, 1], [0, 2, 1],   # nose (label 1)
                  [0, 2, 0],                         # extra point placed only by worker 2
                  [1, 0, 0], [1, 1, 0]])             # task 1: both workers agree
    P = np.array([[10, 10], [12, 10], [11, 13],
                  [50, 50], [50, 52], [53, 50],
                  [90, 90],
                  [5, 5], [5, 5]], dtype=float)
    return X, P


def test_matches_by_distance_drops_a_point_few_workers_placed_and_scores_workers():
    X, P = _scene()
    f = KeypointFusion().fit(X, P)
    assert f.tasks_.tolist() == [0, 0, 1]
    assert f.labels_.tolist() == [0, 1, 0]
    np.testing.assert_allclose(f.points_, [[11, 11], [51, 152 / 3], [5, 5]])
    assert f.support_.tolist() == [3, 3, 2]
    assert f.cluster_.tolist() == [0, 0, 0, 1, 1, 1, -1, 2, 2]
    spread = np.mean(np.linalg.norm(P[:3] - [11, 11], axis=1))
    assert f.confidence_[0] == pytest.approx(1 - spread / 5)
    assert f.confidence_[2] == 1.0
    np.testing.assert_allclose(f.worker_precision_, [1, 1, 2 / 3])
    np.testing.assert_allclose(f.worker_recall_, [1, 1, 1])


def test_distance_is_the_largest_gap_inside_one_object():
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0]])
    P = [[0, 0], [4, 0], [8, 0]]  # neighbours 4 apart, ends 8 apart
    f = KeypointFusion(min_share=0.0).fit(X, P)
    assert len(f.points_) == 2  # complete linkage: no chain 0-4-8 at distance 5
    g = KeypointFusion(distance=8.0).fit(X, P)
    np.testing.assert_allclose(g.points_, [[4, 0]])
    assert g.confidence_ == pytest.approx([1 - (8 / 3) / 8])


def test_min_share_and_weights():
    X, P = _scene()
    f = KeypointFusion(min_share=0.3).fit(X, P)
    assert len(f.points_) == 4
    assert f.confidence_[f.cluster_[6]] == pytest.approx(1 / 3)
    np.testing.assert_allclose(f.worker_recall_, [3 / 4, 3 / 4, 1])
    X2 = np.array([[0, 0, 0], [0, 1, 0]])
    g = KeypointFusion().fit(X2, [[10, 10], [14, 10]], weights=[3.0, 1.0])
    np.testing.assert_allclose(g.points_, [[11, 10]])
    X3 = np.array([[0, 0, -1], [0, 1, 0]])
    assert len(KeypointFusion().fit(X3, [[0, 0], [5, 5]], weights=[3.0, 1.0]).points_) == 0
    assert len(KeypointFusion().fit(X3, [[0, 0], [5, 5]], weights=[1.0, 3.0]).points_) == 1


def test_one_worker_never_contributes_two_points_and_labels_separate():
    X = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    f = KeypointFusion(min_share=0.0).fit(X, [[10, 10], [11, 10], [10, 10]])
    assert len(f.points_) == 2 and f.cluster_[0] != f.cluster_[1]
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 1]])
    assert KeypointFusion(min_share=0.0).fit(X, [[1, 1]] * 3).labels_.tolist() == [0, 1]
    g = KeypointFusion(match_labels=False).fit(X, [[1, 1]] * 3, weights=[1, 1, 5])
    assert g.labels_.tolist() == [1] and g.support_.tolist() == [3]


def test_a_worker_who_saw_the_item_and_placed_nothing_has_zero_recall():
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, -1]])
    f = KeypointFusion().fit(X, [[10, 10], [10, 10], [0, 0]])
    assert f.confidence_ == pytest.approx([2 / 3])
    assert f.worker_recall_.tolist() == [1.0, 1.0, 0.0]
    assert np.isnan(f.worker_precision_[2])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_renaming_workers_and_shuffling_rows_change_nothing(seed):
    rng = np.random.default_rng(seed)
    n_workers, centres = 4, rng.uniform(0, 100, (4, 2))
    rows, points = [], []
    for wk in range(n_workers):
        for o, c in enumerate(centres):
            if rng.random() < 0.8:
                rows.append((o % 2, wk, o % 3))
                points.append(c + rng.normal(0, 1.5, 2))
    if not rows:
        return
    X, P = np.array(rows), np.array(points)
    w = rng.uniform(0.5, 2, n_workers)
    a = KeypointFusion().fit(X, P, weights=w)
    perm, order = rng.permutation(n_workers), rng.permutation(len(X))
    w2 = np.empty(n_workers)
    w2[perm] = w
    X2 = X.copy()
    X2[:, 1] = perm[X[:, 1]]
    b = KeypointFusion().fit(X2[order], P[order], weights=w2)
    np.testing.assert_allclose(a.points_, b.points_)
    np.testing.assert_allclose(a.confidence_, b.confidence_)
    np.testing.assert_array_equal(a.cluster_[order], b.cluster_)
    np.testing.assert_allclose(a.worker_precision_, b.worker_precision_[perm])
    np.testing.assert_allclose(a.worker_recall_, b.worker_recall_[perm])


@pytest.mark.parametrize(
    "X, P, params, message",
    [
        (np.zeros((0, 3), int), np.zeros((0, 2)), {}, "empty"),
        ([[0, 0, 0]], [[np.nan, 0]], {}, "finite"),
        ([[0, 0, 0]], [[0, 0, 1]], {}, "shape"),
        ([[0, 0]], [[0, 0]], {}, "shape"),
        ([[0, 0, -2]], [[0, 0]], {}, "-1"),
        ([[0, 0, 0]], [[0, 0]], {"distance": 0}, "distance"),
        ([[0, 0, 0]], [[0, 0]], {"distance": np.inf}, "distance"),
        ([[0, 0, 0]], [[0, 0]], {"min_share": -0.1}, "min_share"),
        ([[0, 0, 0]], [[0, 0]], {"weights": [-1.0]}, "weights"),
    ],
)
def test_bad_input_raises_invalid_answers(X, P, params, message):
    weights = params.pop("weights", None)
    with pytest.raises(InvalidAnswers, match=message):
        KeypointFusion(**params).fit(np.asarray(X), P, weights=weights)
