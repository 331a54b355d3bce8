"""Polygons: exact polygon IoU, and consensus polygons matched across workers by IoU."""

from __future__ import annotations

import numpy as np

from consensus.boxes import _check_matching, _check_region_codes, _cluster, _region_clusters, _set_fitted
from consensus.errors import InvalidAnswers


def _as_polygon(p, what: str = "a polygon") -> np.ndarray:
    """``p`` as a finite float ``(k, 2)`` array with ``k >= 3``, or raise InvalidAnswers."""
    try:
        a = np.asarray(p, dtype=float)
    except (TypeError, ValueError) as exc:  # ragged vertex lists, non-numbers
        raise InvalidAnswers(f"{what} must be a (k, 2) array of vertices: {exc}") from exc
    if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 3:
        raise InvalidAnswers(f"{what} must be a (k, 2) array of k >= 3 vertices, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InvalidAnswers(f"{what} must have finite coordinates (found NaN or infinity)")
    return a


def _sections(start: np.ndarray, stop: np.ndarray, xm: np.ndarray) -> tuple[np.ndarray, ...]:
    """Where the vertical lines ``x = xm`` cut a polygon's edges, as inside intervals.

    ``start``/``stop`` ``(k, 2)``: the edges. Returns ``lo, hi`` ``(s, ceil(k/2))``:
    the even-odd inside intervals of each line, padded with empty ``[0, 0]``.
    """
    x0, y0, x1, y1 = start[:, 0], start[:, 1], stop[:, 0], stop[:, 1]
    cross = (np.minimum(x0, x1) < xm[:, None]) & (xm[:, None] < np.maximum(x0, x1))
    with np.errstate(divide="ignore", invalid="ignore"):
        y = y0 + (xm[:, None] - x0) * (y1 - y0) / (x1 - x0)
    y = np.sort(np.where(cross, y, np.inf), axis=1)
    if y.shape[1] % 2:
        y = np.column_stack([y, np.full(len(y), np.inf)])
    lo, hi = y[:, 0::2], y[:, 1::2]
    pad = ~np.isfinite(hi)
    return np.where(pad, 0.0, lo), np.where(pad, 0.0, hi)


def _crossing_xs(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """x of every point where two edges (of either polygon) cross."""
    p, r = start, stop - start
    cross = r[:, None, 0] * r[None, :, 1] - r[:, None, 1] * r[None, :, 0]
    q = p[None, :, :] - p[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (q[..., 0] * r[None, :, 1] - q[..., 1] * r[None, :, 0]) / cross
        u = (q[..., 0] * r[:, None, 1] - q[..., 1] * r[:, None, 0]) / cross
    hit = (cross != 0) & (t > 0) & (t < 1) & (u > 0) & (u < 1)
    i, j = np.nonzero(hit)
    return p[i, 0] + t[i, j] * r[i, 0]


def _areas(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Exact ``area(a), area(b), area(a & b)`` of two polygons (even-odd filling)."""
    start = np.concatenate([a, b])
    stop = np.concatenate([np.roll(a, -1, axis=0), np.roll(b, -1, axis=0)])
    xs = np.unique(np.concatenate([start[:, 0], _crossing_xs(start, stop)]))
    if len(xs) < 2:
        return 0.0, 0.0, 0.0
    width = np.diff(xs)
    xm = (xs[:-1] + xs[1:]) / 2
    ka = len(a)
    lo_a, hi_a = _sections(start[:ka], stop[:ka], xm)
    lo_b, hi_b = _sections(start[ka:], stop[ka:], xm)
    # Intervals inside one polygon are disjoint, so pairwise overlaps add up to the intersection.
    over = np.clip(np.minimum(hi_a[:, :, None], hi_b[:, None, :])
                   - np.maximum(lo_a[:, :, None], lo_b[:, None, :]), 0, None).sum(axis=(1, 2))
    return (float(width @ (hi_a - lo_a).sum(axis=1)), float(width @ (hi_b - lo_b).sum(axis=1)),
            float(width @ over))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    if (a[:, 0].min() > b[:, 0].max() or b[:, 0].min() > a[:, 0].max()
            or a[:, 1].min() > b[:, 1].max() or b[:, 1].min() > a[:, 1].max()):
        return 0.0  # bounding boxes apart: no need to integrate
    area_a, area_b, inter = _areas(a, b)
    union = area_a + area_b - inter
    if union <= 1e-12 * max(1.0, float(np.abs(np.concatenate([a, b])).max()) ** 2):
        return float(a.shape == b.shape and np.array_equal(a, b))
    return min(max(inter / union, 0.0), 1.0)


def polygon_iou(a, b) -> float:
    """Intersection over union of two polygons given as ``(k, 2)`` vertex arrays.

    Exact, not rasterized: the plane is cut into vertical strips at every
    vertex and at every point where two edges cross; inside a strip each
    polygon's cross-section is a fixed set of intervals whose ends move
    linearly with x, so the area of each polygon and of their intersection is
    the strip width times the section length at the strip's middle. A raster
    (say 256 x 256 over the union's bounding box) would err by about one cell
    along every edge, which for a small or thin polygon next to a large one is
    enough to move an IoU across the matching threshold, and would make the
    result depend on the grid. Interiors follow the even-odd rule (a
    self-intersecting outline counts its doubly-wound parts as outside, as a
    canvas fill with ``evenodd`` does). Two degenerate (zero-area) polygons have
    IoU 1 if they are the same vertex list, else 0.

    >>> square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    >>> round(polygon_iou(square, [[5, 0], [15, 0], [15, 10], [5, 10]]), 4)
    0.3333
    >>> round(polygon_iou(square, [[0, 0], [10, 0], [0, 10]]), 4)
    0.5
    """
    return _iou(_as_polygon(a, "polygon a"), _as_polygon(b, "polygon b"))


def _pairwise_iou(polys: list[np.ndarray]) -> np.ndarray:
    """``(n, n)`` IoU matrix of a list of validated polygons."""
    n = len(polys)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = _iou(polys[i], polys[j])
    return out


class PolygonFusion:
    """Consensus polygons from several workers per item.

    Model: the same as :class:`consensus.boxes.BoxFusion`, with polygon IoU
    (:func:`polygon_iou`) in place of box IoU. Per item, polygons of one label
    are grouped by complete-linkage clustering on ``1 - IoU`` with a
    cannot-link between two polygons of the same worker, cut at
    ``iou_threshold``; a cluster is one object, kept when the workers who drew
    it hold at least ``min_share`` of the weight of the workers who saw the
    item. A row with label ``-1`` records that a worker saw the item and drew
    nothing (its polygon is ignored).

    The fused polygon is a member, not an average: vertex lists of different
    workers have different lengths and starting points, so there is no
    meaningful vertex-wise mean. It is the skill-weighted medoid: the member
    ``i`` with the smallest ``sum_j w_j (1 - IoU(i, j))`` over the members
    ``j`` (itself included, at distance 0), i.e. the largest weighted mean IoU
    with the cluster, a medoid in the sense of Kaufman & Rousseeuw ("Finding
    Groups in Data", Wiley 1990) as :class:`consensus.transcripts.TextMedoid`
    is for transcripts. Counting the member itself is what lets skill choose
    between similar drawings: of two members the heavier worker's wins, where
    a mean over the *other* members alone would tie. Ties go to the heavier
    worker, then to the shorter vertex list in lexicographic order, so the
    choice never depends on worker codes or row order.

    Confidence of a fused polygon = (weighted share of the item's workers who
    drew it) x (weighted mean IoU of the members with the fused polygon); it is
    1 exactly when every worker drew the same polygon.

    Parameters
    ----------
    iou_threshold : float in (0, 1], default 0.5
    min_share : float in [0, 1], default 0.5
    match_labels : bool, default True
        Only polygons with the same label can match. If False, polygons of any
        label match and the fused label is the weighted vote of the members.

    Attributes
    ----------
    polygons_ : list of m (k, 2) float arrays, in the input units (Label Studio: percent)
    tasks_, labels_ : (m,) int
    confidence_ : (m,) float in [0, 1]
    support_ : (m,) int, workers who drew the polygon
    cluster_ : (n_answers,) int, index into ``polygons_`` of each input row, -1 if dropped or empty
    worker_precision_, worker_recall_ : (n_workers,) float, vs the fused polygons (NaN: undefined)

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 2, 0]])
    >>> P = [[[0, 0], [10, 0], [10, 10], [0, 10]], [[1, 0], [11, 0], [11, 10], [1, 10]],
    ...      [[0, 1], [10, 1], [10, 11], [0, 11]], [[50, 50], [60, 50], [55, 60]]]
    >>> f = PolygonFusion().fit(X, P)
    >>> f.polygons_[0].tolist(), f.support_.tolist(), f.cluster_.tolist()
    ([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]], [3], [0, 0, 0, -1])
    >>> f.worker_precision_.tolist()
    [1.0, 1.0, 0.5]
    """

    def __init__(self, *, iou_threshold: float = 0.5, min_share: float = 0.5,
                 match_labels: bool = True):
        self.iou_threshold = iou_threshold
        self.min_share = min_share
        self.match_labels = match_labels

    def _validate(self, X, polygons, weights):
        _check_matching(self.iou_threshold, self.min_share)
        X, w = _check_region_codes(X, weights)
        if isinstance(polygons, np.ndarray) and polygons.dtype != object:
            polygons = list(polygons)
        if len(polygons) != X.shape[0]:
            raise InvalidAnswers(
                f"polygons must have one entry per answer ({X.shape[0]}), got {len(polygons)}")
        P = [_as_polygon(p, f"polygon {i}") if X[i, 2] >= 0 else None
             for i, p in enumerate(polygons)]
        return X, P, w

    def fit(self, X, polygons, *, weights=None) -> PolygonFusion:
        """Fit on ``X`` int ``(n, 3)`` of ``(task, worker, label)`` and ``n`` ``(k_i, 2)`` polygons.

        ``weights``: optional ``(n_workers,)`` non-negative worker skills.
        """
        X, P, w = self._validate(X, polygons, weights)
        worker, label = X[:, 1], X[:, 2]
        last = {}  # the IoU matrix of the group being clustered, reused to pick medoids

        def cluster(rows):
            last["rows"], last["iou"] = rows, _pairwise_iou([P[r] for r in rows])
            return _cluster(1.0 - last["iou"], worker[rows], 1.0 - self.iou_threshold)

        cluster_of = np.full(X.shape[0], -1, dtype=np.int64)
        out_polys, out_tasks, out_labels, out_conf, out_support = [], [], [], [], []
        for t, members, mw, share in _region_clusters(
                X, w, min_share=self.min_share, match_labels=self.match_labels,
                cluster=cluster):
            at = np.searchsorted(last["rows"], members)
            iou = last["iou"][np.ix_(at, at)]
            best = self._medoid(iou, mw, [P[r] for r in members])
            cluster_of[members] = len(out_polys)
            out_polys.append(P[members[best]])
            out_tasks.append(t)
            out_labels.append(int(np.argmax(np.bincount(label[members], weights=mw))))
            out_conf.append(share * float(np.average(iou[best], weights=mw)))
            out_support.append(len(members))

        centre = np.array([p.mean(axis=0) for p in out_polys]).reshape(-1, 2)
        size = np.array([len(p) for p in out_polys])
        tasks_ = np.asarray(out_tasks, dtype=np.int64)
        labels_ = np.asarray(out_labels, dtype=np.int64)
        _set_fitted(self, X, w, cluster_of, (size, centre[:, 1], centre[:, 0], labels_, tasks_),
                    polygons_=out_polys, tasks_=tasks_, labels_=labels_,
                    confidence_=np.asarray(out_conf, dtype=float),
                    support_=np.asarray(out_support, dtype=np.int64))
        return self

    @staticmethod
    def _medoid(iou: np.ndarray, mw: np.ndarray, polys: list[np.ndarray]) -> int:
        """Member with the largest weighted mean IoU with the cluster (see the class doc)."""
        score = (iou @ mw) / mw.sum()
        order = sorted(range(len(polys)), key=lambda i: (-round(float(score[i]), 12), -mw[i],
                                                         len(polys[i]), polys[i].ravel().tolist()))
        return order[0]
