import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from consensus.errors import InvalidAnswers
from consensus.polygons import PolygonFusion, polygon_iou

SQUARE = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)


def star(rng, centre, radius, k):
    """A random simple polygon: k vertices at sorted angles around a centre."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = radius * rng.uniform(0.4, 1.0, k)
    return np.column_stack([centre[0] + r * np.cos(angles), centre[1] + r * np.sin(angles)])


def raster_iou(a, b, n=1024):
    """IoU of two polygons filled by Pillow on an n x n grid over their union's bounding box."""
    pts = np.concatenate([a, b])
    lo, scale = pts.min(axis=0), (n - 1) / np.ptp(pts, axis=0).max()
    masks = []
    for p in (a, b):
        im = Image.new("1", (n, n))
        ImageDraw.Draw(im).polygon([tuple(v) for v in (p - lo) * scale], fill=1)
        masks.append(np.asarray(im))
    return (masks[0] & masks[1]).sum() / (masks[0] | masks[1]).sum()


def test_polygon_iou_known_values():
    assert polygon_iou(SQUARE, SQUARE + [5, 0]) == pytest.approx(1 / 3)
    assert polygon_iou(SQUARE, [[0, 0], [10, 0], [0, 10]]) == pytest.approx(0.5)
    assert polygon_iou(SQUARE, SQUARE * 0.5 + 2) == pytest.approx(25 / 100)  # contained
    assert polygon_iou(SQUARE, SQUARE + [20, 0]) == 0.0
    assert polygon_iou(SQUARE, SQUARE + [10, 0]) == 0.0  # touching edges
    # an L (area 75, concave) against the square it is cut from
    ell = [[0, 0], [10, 0], [10, 5], [5, 5], [5, 10], [0, 10]]
    assert polygon_iou(ell, SQUARE) == pytest.approx(75 / 100)
    assert polygon_iou(ell, SQUARE + [5, 5]) == pytest.approx(0 / 175)
    assert polygon_iou(ell, SQUARE + [2, 2]) == pytest.approx(39 / (75 + 100 - 39))
    # a bow tie is two triangles under the even-odd rule
    assert polygon_iou([[0, 0], [10, 10], [10, 0], [0, 10]], SQUARE) == pytest.approx(0.5)


def test_degenerate_polygons():
    line = [[0, 0], [1, 1], [2, 2]]
    assert polygon_iou(line, line) == 1.0
    assert polygon_iou(line, [[0, 0], [1, 1], [3, 3]]) == 0.0
    assert polygon_iou(line, SQUARE) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 9), st.integers(3, 9))
def test_polygon_iou_agrees_with_a_fine_raster_and_ignores_vertex_order(seed, ka, kb):
    rng = np.random.default_rng(seed)
    a = star(rng, (50, 50), 20, ka)
    b = star(rng, 50 + rng.normal(0, 8, 2), 20, kb)
    iou = polygon_iou(a, b)
    assert 0 <= iou <= 1
    assert iou == pytest.approx(raster_iou(a, b), abs=0.01)
    assert polygon_iou(b, a) == pytest.approx(iou, abs=1e-12)
    # reversed orientation, another starting vertex, a shared rotation: same IoU
    assert polygon_iou(np.roll(a[::-1], 2, axis=0), b) == pytest.approx(iou, abs=1e-9)
    rot = np.array([[0.6, -0.8], [0.8, 0.6]])
    assert polygon_iou(a @ rot.T, b @ rot.T) == pytest.approx(iou, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(0, 3))
def test_identical_polygons_fuse_to_that_polygon_with_full_confidence(seed, n, label):
    poly = star(np.random.default_rng(seed), (50, 50), 15, 6)
    X = np.column_stack([np.zeros(n, int), np.arange(n), np.full(n, label)])
    f = PolygonFusion().fit(X, [poly] * n, weights=np.linspace(0.5, 2, n))
    assert len(f.polygons_) == 1
    np.testing.assert_array_equal(f.polygons_[0], poly)
    assert f.labels_.tolist() == [label]
    assert f.confidence_ == pytest.approx([1.0])
    assert f.support_.tolist() == [n]
    assert f.worker_precision_.tolist() == [1.0] * n
    assert f.worker_recall_.tolist() == [1.0] * n


def _scene():
    """Three workers, two objects on task 0; worker 2 adds a spurious polygon; task 1 has one."""
    tri = np.array([[60, 60], [70, 60], [65, 70]], dtype=float)
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0],   # object A (label 0)
                  [0, 0, 1], [0, 1, 1], [0, 2, 1],   # object B (label 1)
                  [0, 2, 0],                         # extra polygon drawn only by worker 2
                  [1, 0, 0], [1, 1, 0]])             # task 1: both workers agree
    P = [SQUARE, SQUARE + [1, 0], SQUARE + [3, 0],
         tri, tri + [0, 1], tri + [1, 0],
         SQUARE + [80, 80],
         SQUARE * 3, SQUARE * 3]
    return X, P


def test_matches_by_iou_drops_a_polygon_few_workers_drew_and_picks_the_medoid():
    X, P = _scene()
    f = PolygonFusion().fit(X, P)
    assert f.tasks_.tolist() == [0, 0, 1]
    assert f.labels_.tolist() == [0, 1, 0]
    # the square shifted by 1 overlaps both others most: it is the medoid
    np.testing.assert_array_equal(f.polygons_[0], SQUARE + [1, 0])
    assert f.support_.tolist() == [3, 3, 2]
    assert f.cluster_.tolist() == [0, 0, 0, 1, 1, 1, -1, 2, 2]
    iou = [polygon_iou(SQUARE + [1, 0], q) for q in P[:3]]
    assert f.confidence_[0] == pytest.approx(np.mean(iou))
    assert f.confidence_[2] == pytest.approx(1.0)
    np.testing.assert_allclose(f.worker_precision_, [1, 1, 2 / 3])
    np.testing.assert_allclose(f.worker_recall_, [1, 1, 1])


def test_min_share_decides_whether_a_minority_polygon_is_kept():
    X, P = _scene()
    f = PolygonFusion(min_share=0.3).fit(X, P)
    assert len(f.polygons_) == 4
    extra = f.cluster_[6]
    assert f.support_[extra] == 1
    assert f.confidence_[extra] == pytest.approx(1 / 3)
    np.testing.assert_allclose(f.worker_recall_, [3 / 4, 3 / 4, 1])


def test_weights_move_the_medoid_and_set_the_share():
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 3, 0]])
    P = [SQUARE + [d, 0] for d in range(4)]  # every pair has IoU >= 7/13: one object

    def medoid(weights):
        return PolygonFusion().fit(X, P, weights=weights).polygons_[0][0, 0]

    # squares 1 and 2 are equally central; the tie goes to the smaller vertex list
    assert medoid(None) == 1
    assert medoid([1, 1, 1, 2]) == 2  # pulled towards a heavier worker's square
    assert medoid([1, 1, 1, 10]) == 3  # a heavy worker's own square counts
    assert medoid([10, 1, 1, 1]) == 0
    iou = np.array([[polygon_iou(p, q) for q in P] for p in P])
    w = np.array([1, 1, 1, 2.0])
    f = PolygonFusion().fit(X, P, weights=w)
    assert f.confidence_ == pytest.approx([iou[2] @ w / w.sum()])
    # two members: the heavier worker's polygon wins
    X2 = np.array([[0, 0, 0], [0, 1, 0]])
    assert PolygonFusion().fit(X2, P[:2], weights=[1, 3]).polygons_[0].tolist() == P[1].tolist()
    assert PolygonFusion().fit(X2, P[:2], weights=[3, 1]).polygons_[0].tolist() == P[0].tolist()
    # a polygon only the weight-1 worker drew has share 1/4 < 0.5: dropped
    X3 = np.array([[0, 0, -1], [0, 1, 0]])
    assert PolygonFusion().fit(X3, [[], SQUARE], weights=[3.0, 1.0]).polygons_ == []
    assert len(PolygonFusion().fit(X3, [[], SQUARE], weights=[1.0, 3.0]).polygons_) == 1


def test_one_worker_never_contributes_two_polygons_to_one_object_and_labels_separate():
    X = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    f = PolygonFusion(min_share=0.0).fit(X, [SQUARE, SQUARE + [1, 0], SQUARE])
    assert len(f.polygons_) == 2 and f.cluster_[0] != f.cluster_[1]
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 1]])
    assert PolygonFusion(min_share=0.0).fit(X, [SQUARE] * 3).labels_.tolist() == [0, 1]
    g = PolygonFusion(match_labels=False).fit(X, [SQUARE] * 3, weights=[1, 1, 5])
    assert g.labels_.tolist() == [1] and g.support_.tolist() == [3]


def test_a_worker_who_saw_the_item_and_drew_nothing_has_zero_recall():
    X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, -1]])
    f = PolygonFusion().fit(X, [SQUARE, SQUARE, None])
    assert f.confidence_ == pytest.approx([2 / 3])
    assert f.worker_recall_.tolist() == [1.0, 1.0, 0.0]
    assert np.isnan(f.worker_precision_[2])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_renaming_workers_and_shuffling_rows_change_nothing(seed):
    rng = np.random.default_rng(seed)
    n_workers, shapes = 4, [star(rng, rng.uniform(20, 80, 2), 12, 6) for _ in range(3)]
    rows, polys = [], []
    for wk in range(n_workers):
        for o, shape in enumerate(shapes):
            if rng.random() < 0.8:
                rows.append((o % 2, wk, 0))
                polys.append(shape + rng.normal(0, 1, shape.shape))
    if not rows:
        return
    X = np.array(rows)
    w = rng.uniform(0.5, 2, n_workers)
    a = PolygonFusion().fit(X, polys, weights=w)
    perm, order = rng.permutation(n_workers), rng.permutation(len(X))
    w2 = np.empty(n_workers)
    w2[perm] = w
    X2 = X.copy()
    X2[:, 1] = perm[X[:, 1]]
    b = PolygonFusion().fit(X2[order], [polys[i] for i in order], weights=w2)
    assert len(a.polygons_) == len(b.polygons_)
    for p, q in zip(a.polygons_, b.polygons_):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_allclose(a.confidence_, b.confidence_)
    np.testing.assert_array_equal(a.cluster_[order], b.cluster_)
    np.testing.assert_allclose(a.worker_precision_, b.worker_precision_[perm])
    np.testing.assert_allclose(a.worker_recall_, b.worker_recall_[perm])


@pytest.mark.parametrize(
    "X, P, params, message",
    [
        (np.zeros((0, 3), int), [], {}, "empty"),
        ([[0, 0, 0]], [[[0, 0], [1, 0], [np.nan, 1]]], {}, "finite"),
        ([[0, 0, 0]], [[[0, 0], [1, 0]]], {}, "k >= 3"),
        ([[0, 0, 0]], [[[0, 0, 0], [1, 0, 0], [1, 1, 0]]], {}, "k >= 3"),
        ([[0, 0, 0]], [[[0, 0], [1, 0], [1]]], {}, "vertices"),
        ([[0, 0, 0], [0, 1, 0]], [SQUARE], {}, "one entry per answer"),
        ([[0, 0]], [SQUARE], {}, "shape"),
        ([[0, 0, -2]], [SQUARE], {}, "-1"),
        ([[0, 0, 0]], [SQUARE], {"iou_threshold": 0}, "iou_threshold"),
        ([[0, 0, 0]], [SQUARE], {"min_share": 1.5}, "min_share"),
    ],
)
def test_bad_input_raises_invalid_answers(X, P, params, message):
    with pytest.raises(InvalidAnswers, match=message):
        PolygonFusion(**params).fit(np.asarray(X), P)


def test_polygon_iou_refuses_bad_shapes():
    with pytest.raises(InvalidAnswers, match="polygon b"):
        polygon_iou(SQUARE, [[0, 0], [1, 1]])
