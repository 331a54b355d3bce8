"""Keypoints: match points across workers by distance, fuse them by worker skill."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from consensus.boxes import _check_region_codes, _cluster, _region_clusters, _set_fitted
from consensus.errors import InvalidAnswers
from consensus.numeric import _check_values


class KeypointFusion:
    """Consensus keypoints from several workers per item.

    Model: the same as :class:`consensus.boxes.BoxFusion`, with Euclidean
    distance in place of ``1 - IoU``. Per item, points of one label are grouped
    by complete-linkage clustering with a cannot-link between two points of the
    same worker, cut at ``distance``: every pair inside a cluster is at most
    ``distance`` apart and each worker contributes at most one point (the
    matching rule of keypoint evaluation with a fixed radius, e.g. PCK in
    Yang & Ramanan, "Articulated human detection with flexible mixtures of
    parts", TPAMI 2013). A cluster is one object, kept when the workers who
    placed it hold at least ``min_share`` of the weight of the workers who saw
    the item. Its fused point is the worker-weighted mean of the members. A row
    with label ``-1`` records that a worker saw the item and placed nothing.

    Confidence of a fused point = (weighted share of the item's workers who
    placed it) x ``max(0, 1 - d / distance)`` with ``d`` the weighted mean
    distance of the members to the fused point: 1 exactly when every worker
    put the same point, lower as they spread out towards the matching radius.

    Parameters
    ----------
    distance : float > 0, default 5.0
        Largest distance between two points of one object, in the input units
        (Label Studio: percent of the image).
    min_share : float in [0, 1], default 0.5
    match_labels : bool, default True
        Only points with the same label can match. If False, points of any
        label match and the fused label is the weighted vote of the members.

    Attributes
    ----------
    points_ : (m, 2) float, fused ``x, y``
    tasks_, labels_ : (m,) int
    confidence_ : (m,) float in [0, 1]
    support_ : (m,) int, workers who placed the point
    cluster_ : (n_answers,) int, index into ``points_`` of each input row, -1 if dropped or empty
    worker_precision_, worker_recall_ : (n_workers,) float, vs the fused points (NaN: undefined)

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 2, 0]])
    >>> P = [[10, 10], [12, 10], [11, 13], [80, 80]]
    >>> f = KeypointFusion().fit(X, P)
    >>> f.points_.tolist(), f.support_.tolist(), f.cluster_.tolist()
    ([[11.0, 11.0]], [3], [0, 0, 0, -1])
    >>> f.worker_precision_.tolist()
    [1.0, 1.0, 0.5]
    """

    def __init__(self, *, distance: float = 5.0, min_share: float = 0.5,
                 match_labels: bool = True):
        self.distance = distance
        self.min_share = min_share
        self.match_labels = match_labels

    def _validate(self, X, points, weights):
        if not (np.isfinite(self.distance) and self.distance > 0):
            raise InvalidAnswers(f"distance must be finite and > 0, got {self.distance}")
        if not 0 <= self.min_share <= 1:
            raise InvalidAnswers(f"min_share must be in [0, 1], got {self.min_share}")
        X, w = _check_region_codes(X, weights)
        P = _check_values(points, X.shape[0], "points", cols=2)
        return X, P, w

    def fit(self, X, points, *, weights=None) -> KeypointFusion:
        """Fit on ``X`` int ``(n, 3)`` of ``(task, worker, label)`` and ``points`` ``(n, 2)``.

        ``weights``: optional ``(n_workers,)`` non-negative worker skills.
        """
        X, P, w = self._validate(X, points, weights)
        worker, label = X[:, 1], X[:, 2]

        def cluster(rows):
            return _cluster(cdist(P[rows], P[rows]), worker[rows], float(self.distance))

        cluster_of = np.full(X.shape[0], -1, dtype=np.int64)
        out_points, out_tasks, out_labels, out_conf, out_support = [], [], [], [], []
        for t, members, mw, share in _region_clusters(
                X, w, min_share=self.min_share, match_labels=self.match_labels,
                cluster=cluster):
            fused = np.average(P[members], axis=0, weights=mw)
            spread = np.average(np.linalg.norm(P[members] - fused, axis=1), weights=mw)
            cluster_of[members] = len(out_points)
            out_points.append(fused)
            out_tasks.append(t)
            out_labels.append(int(np.argmax(np.bincount(label[members], weights=mw))))
            out_conf.append(share * max(0.0, 1.0 - float(spread) / self.distance))
            out_support.append(len(members))

        m = len(out_points)
        points_ = np.asarray(out_points, dtype=float).reshape(m, 2)
        tasks_ = np.asarray(out_tasks, dtype=np.int64)
        labels_ = np.asarray(out_labels, dtype=np.int64)
        _set_fitted(self, X, w, cluster_of, (points_[:, 1], points_[:, 0], labels_, tasks_),
                    points_=points_, tasks_=tasks_, labels_=labels_,
                    confidence_=np.asarray(out_conf, dtype=float),
                    support_=np.asarray(out_support, dtype=np.int64))
        return self
