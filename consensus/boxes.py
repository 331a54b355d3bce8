"""Bounding boxes: match boxes across workers by IoU, fuse them by worker skill."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from consensus.errors import InvalidAnswers
from consensus.numeric import _check_codes, _check_values, _check_weights


def _corners(boxes: np.ndarray) -> np.ndarray:
    """``(x, y, w, h)`` -> ``(x1, y1, x2, y2)``."""
    return np.concatenate([boxes[..., :2], boxes[..., :2] + boxes[..., 2:]], axis=-1)


def box_iou(a, b) -> np.ndarray:
    """Pairwise intersection over union of ``(x, y, w, h)`` boxes: ``(n, 4), (m, 4) -> (n, m)``.

    Two degenerate (zero-area) boxes at the same place have IoU 1.

    >>> box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10], [0, 0, 10, 10]]).round(3).tolist()
    [[0.333, 1.0]]
    """
    a = _corners(np.asarray(a, dtype=float).reshape(-1, 4))[:, None, :]
    b = _corners(np.asarray(b, dtype=float).reshape(-1, 4))[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    same = np.all(a == b, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, same.astype(float))


def _cluster(dist: np.ndarray, workers: np.ndarray, cut: float) -> np.ndarray:
    """Complete-linkage clusters in which every pair is within ``cut`` and no worker repeats.

    ``dist`` is the ``(n, n)`` distance matrix of one item's regions (``1 - IoU``
    for boxes and polygons, Euclidean for points). Two regions of the same worker
    get a distance above any cut, so complete linkage never puts them together
    (a cannot-link). Returns cluster ids ``0..k-1`` for the rows.
    """
    n = len(dist)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    dist = np.array(dist, dtype=float)
    dist[workers[:, None] == workers[None, :]] = 2.0 * max(float(dist.max()), cut) + 1.0
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="complete")
    # fcluster keeps merges with height <= t; nudge so a pair exactly at the cut matches.
    ids = fcluster(tree, t=cut + 1e-12 * max(1.0, cut), criterion="distance")
    return ids.astype(np.int64) - 1


def _check_matching(iou_threshold: float, min_share: float) -> None:
    """The matching parameters the region estimators share (boxes, polygons)."""
    if not 0 < iou_threshold <= 1:
        raise InvalidAnswers(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if not 0 <= min_share <= 1:
        raise InvalidAnswers(f"min_share must be in [0, 1], got {min_share}")


def _check_region_codes(X, weights):
    """``X`` as int ``(n, 3)`` codes with labels >= -1, and the per-worker weights."""
    X = _check_codes(X, 3)
    if np.any(X[:, 2] < -1):
        raise InvalidAnswers("labels must be >= 0, or -1 for 'saw the item, drew nothing'")
    return X, _check_weights(weights, int(X[:, 1].max()) + 1)


def _region_clusters(X, w, *, min_share, match_labels, cluster):
    """Yield ``(task, members, member_weights, share)`` for every kept cluster.

    Regions are grouped by task (and label if ``match_labels``); ``cluster(rows)``
    returns cluster ids for one group's rows. A cluster is kept when its drawers
    hold at least ``min_share`` of the weight of the workers who saw the task
    (counts when that weight is 0). ``member_weights`` are never all zero.
    """
    task, label = X[:, 0], X[:, 2]
    drawn = np.flatnonzero(label >= 0)
    # Weight of the workers who saw each task (one count per worker, however many regions).
    pairs = np.unique(X[:, :2], axis=0)
    seen_w = np.bincount(pairs[:, 0], weights=w[pairs[:, 1]], minlength=task.max() + 1)
    seen_n = np.bincount(pairs[:, 0], minlength=task.max() + 1)
    key = (task[drawn], label[drawn]) if match_labels else (task[drawn],)
    groups = np.unique(np.stack(key, axis=1), axis=0, return_inverse=True)[1].ravel()
    for gi in range(groups.max() + 1 if drawn.size else 0):
        rows = drawn[groups == gi]
        t = task[rows[0]]
        ids = cluster(rows)
        for c in range(ids.max() + 1):
            members = rows[ids == c]
            mw = w[X[members, 1]]
            if seen_w[t] > 0:
                share = mw.sum() / seen_w[t]
            else:  # every worker on the task has weight 0: fall back to counts
                share, mw = len(members) / seen_n[t], np.ones(len(members))
            if share < min_share - 1e-12:
                continue
            if mw.sum() <= 0:
                mw = np.ones(len(members))
            yield t, members, mw, min(share, 1.0)


def _worker_scores(X, cluster, tasks_, n_workers):
    """Precision = own regions in kept clusters / own regions; recall = kept regions
    on the worker's items that the worker drew / kept regions on those items."""
    task, worker, label = X[:, 0], X[:, 1], X[:, 2]
    pairs = np.unique(X[:, :2], axis=0)
    drawn = label >= 0
    n_boxes = np.bincount(worker[drawn], minlength=n_workers)
    hits = np.bincount(worker[drawn & (cluster >= 0)], minlength=n_workers)
    kept_per_task = np.bincount(tasks_, minlength=task.max() + 1)
    possible = np.bincount(pairs[:, 1], weights=kept_per_task[pairs[:, 0]],
                           minlength=n_workers)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_boxes > 0, hits / n_boxes, np.nan)
        recall = np.where(possible > 0, hits / possible, np.nan)
    return precision, recall


def _set_fitted(est, X, w, cluster, keys, **outputs):
    """Store fitted arrays in the canonical order of ``keys`` (lexsort, last key primary).

    The order (task, label, then coordinates) does not depend on row or worker
    order; ``cluster`` row -> output index is remapped to it, and the worker
    precision and recall are computed against the stored outputs.
    """
    m = len(outputs["tasks_"])
    order = np.lexsort(keys) if m else np.zeros(0, dtype=np.int64)
    remap = np.full(m + 1, -1)
    remap[order] = np.arange(m)
    for name, value in outputs.items():
        if isinstance(value, list):
            setattr(est, name, [value[i] for i in order])
        else:
            setattr(est, name, value[order])
    est.cluster_ = np.where(cluster >= 0, remap[cluster], -1)
    est.worker_precision_, est.worker_recall_ = _worker_scores(
        X, est.cluster_, est.tasks_, w.shape[0])


class BoxFusion:
    """Consensus bounding boxes from several workers per item.

    Model: per item (task) each worker draws the objects they see. Boxes of one
    label are grouped by complete-linkage agglomerative clustering on
    ``1 - IoU`` with a cannot-link between two boxes of the same worker, cut at
    ``iou_threshold``: every pair inside a cluster overlaps at least that much
    and each worker contributes at most one box to a cluster (the IoU-matching
    step of crowd box aggregation, e.g. Papadopoulos et al., "Extreme clicking
    for efficient object annotation", ICCV 2017; Label Studio / CVAT style
    consensus). A cluster is one object. Its fused box is the worker-weighted
    mean of the members' corners (weights: worker skill, default 1).

    Missing and extra boxes: a cluster is kept only if the weight of the workers
    who drew it is at least ``min_share`` of the weight of the workers who saw
    the item; clusters drawn by fewer (one worker's spurious box) are dropped,
    and a worker who missed a kept object simply lowers its confidence and
    their recall. A row with label ``-1`` records that a worker saw the item
    and drew nothing (its coordinates are ignored).

    Confidence of a fused box = (weighted share of the item's workers who drew
    it) x (mean IoU of the member boxes with the fused box); it is 1 exactly
    when every worker drew the same box.

    Parameters
    ----------
    iou_threshold : float in (0, 1], default 0.5
    min_share : float in [0, 1], default 0.5
    match_labels : bool, default True
        Only boxes with the same label can match. If False, boxes of any label
        match and the fused label is the weighted vote of the members.

    Attributes
    ----------
    boxes_ : (m, 4) float, fused ``x, y, w, h`` in the input units (Label Studio: percent)
    tasks_, labels_ : (m,) int
    confidence_ : (m,) float in [0, 1]
    support_ : (m,) int, workers who drew the box
    cluster_ : (n_answers,) int, index into ``boxes_`` of each input row, -1 if dropped or empty
    worker_precision_, worker_recall_ : (n_workers,) float, vs the fused boxes (NaN: undefined)

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 1], [0, 2, 1]])
    >>> B = [[10, 10, 20, 20], [11, 10, 20, 20], [10, 11, 20, 20], [70, 70, 5, 5]]
    >>> f = BoxFusion().fit(X, B)
    >>> f.boxes_.round(2).tolist(), f.labels_.tolist(), f.support_.tolist()
    ([[10.33, 10.33, 20.0, 20.0]], [1], [3])
    >>> f.worker_precision_.tolist()
    [1.0, 1.0, 0.5]
    """

    def __init__(self, *, iou_threshold: float = 0.5, min_share: float = 0.5,
                 match_labels: bool = True):
        self.iou_threshold = iou_threshold
        self.min_share = min_share
        self.match_labels = match_labels

    def _validate(self, X, boxes, weights):
        _check_matching(self.iou_threshold, self.min_share)
        X, w = _check_region_codes(X, weights)
        B = _check_values(boxes, X.shape[0], "boxes", cols=4)
        if np.any(B[X[:, 2] >= 0, 2:] < 0):
            raise InvalidAnswers("box width and height must be >= 0 (found a negative size)")
        return X, B, w

    def fit(self, X, boxes, *, weights=None) -> BoxFusion:
        """Fit on ``X`` int ``(n, 3)`` of ``(task, worker, label)`` and ``boxes`` ``(n, 4)``.

        ``weights``: optional ``(n_workers,)`` non-negative worker skills.
        """
        X, B, w = self._validate(X, boxes, weights)
        worker, label = X[:, 1], X[:, 2]

        def cluster(rows):
            return _cluster(1.0 - box_iou(B[rows], B[rows]), worker[rows],
                            1.0 - self.iou_threshold)

        cluster_of = np.full(X.shape[0], -1, dtype=np.int64)
        out_boxes, out_tasks, out_labels, out_conf, out_support = [], [], [], [], []
        for t, members, mw, share in _region_clusters(
                X, w, min_share=self.min_share, match_labels=self.match_labels,
                cluster=cluster):
            corners = np.average(_corners(B[members]), axis=0, weights=mw)
            fused = np.concatenate([corners[:2], corners[2:] - corners[:2]])
            iou = box_iou(B[members], fused[None, :])[:, 0]
            cluster_of[members] = len(out_boxes)
            out_boxes.append(fused)
            out_tasks.append(t)
            out_labels.append(int(np.argmax(np.bincount(label[members], weights=mw))))
            out_conf.append(share * float(np.average(iou, weights=mw)))
            out_support.append(len(members))

        m = len(out_boxes)
        boxes_ = np.asarray(out_boxes, dtype=float).reshape(m, 4)
        tasks_ = np.asarray(out_tasks, dtype=np.int64)
        labels_ = np.asarray(out_labels, dtype=np.int64)
        _set_fitted(self, X, w, cluster_of, (*boxes_.T[::-1], labels_, tasks_),
                    boxes_=boxes_, tasks_=tasks_, labels_=labels_,
                    confidence_=np.asarray(out_conf, dtype=float),
                    support_=np.asarray(out_support, dtype=np.int64))
        return self
