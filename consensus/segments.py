"""Audio segments: time-level weighted voting, by way of the character-level span vote."""

from __future__ import annotations

import numpy as np

from consensus.errors import InvalidAnswers
from consensus.matching import _one_to_one, segment_iou
from consensus.numeric import _check_codes, _check_values, _check_weights
from consensus.spans import SpanVote


class SegmentVote:
    """Consensus time segments (audio ``Labels``) by time-level weighted voting.

    Model: :class:`consensus.spans.SpanVote` with time steps for characters.
    Time is cut into steps of ``resolution`` seconds; every worker who heard a
    clip votes, at each step, for a label or for "outside" (no segment); a step
    gets the option with the largest worker-weighted vote and maximal runs of
    one label become the consensus segments: the span vote's majority voting
    (Rodrigues, Pereira & Ribeiro, Machine Learning 95, 2014) on the frame-wise
    view of sound events that segment-based detection metrics take (Mesaros,
    Heittola & Virtanen, "Metrics for polyphonic sound event detection",
    Applied Sciences 6(6), 2016). Segment bounds are rounded to the nearest step, so
    the consensus is exact up to ``resolution / 2``. A segment's confidence is
    the mean, over its steps, of the winning label's share of the weight of the
    workers who heard the clip. A row with label ``-1`` records that a worker
    heard the clip and marked nothing.

    Parameters
    ----------
    resolution : float > 0, default 0.01
        Length of one time step in seconds.
    min_share : float in [0, 1), default 0.0
        A label must also hold more than this share of the weight to win a
        step (0 = plain plurality; 0.5 = strict majority).

    Attributes
    ----------
    segments_ : (m, 2) float, ``start, end`` in seconds
    labels_, tasks_ : (m,) int
    confidence_ : (m,) float
    worker_f1_ : (n_workers,) float, mean segment F1 (time IoU >= 0.5, same
        label, one-to-one) of each worker against the consensus over the clips
        they heard (NaN if none)

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 1], [0, 2, 0]])
    >>> S = [[0.5, 2.0], [0.52, 2.1], [0.48, 2.0], [5.0, 6.0]]
    >>> v = SegmentVote().fit(X, S, durations=[10.0])
    >>> v.segments_.tolist(), v.labels_.tolist(), v.worker_f1_.tolist()
    ([[0.5, 2.0]], [1], [1.0, 1.0, 0.6666666666666666])
    """

    def __init__(self, *, resolution: float = 0.01, min_share: float = 0.0):
        self.resolution = resolution
        self.min_share = min_share

    def fit(self, X, segments, *, durations, weights=None, n_classes=None) -> SegmentVote:
        """Fit on ``X`` int ``(n, 3)`` of ``(task, worker, label)`` and ``segments`` ``(n, 2)``.

        ``durations``: ``(n_tasks,)`` length of each clip in seconds.
        ``weights``: optional ``(n_workers,)`` non-negative worker skills.
        """
        res = self.resolution
        if not (np.isfinite(res) and res > 0):
            raise InvalidAnswers(f"resolution must be finite and > 0, got {res}")
        X = _check_codes(X, 3)
        S = _check_values(segments, X.shape[0], "segments", cols=2)
        task, worker, label = X[:, 0], X[:, 1], X[:, 2]
        n_tasks = int(task.max()) + 1
        dur = np.asarray(durations, dtype=float)
        if dur.ndim != 1 or dur.shape[0] < n_tasks:
            raise InvalidAnswers(f"durations needs one duration per task ({n_tasks})")
        if not np.all(np.isfinite(dur)) or np.any(dur < 0):
            raise InvalidAnswers("durations must be finite and >= 0")
        if np.any(label < -1):
            raise InvalidAnswers("labels must be >= 0, or -1 for 'heard the clip, marked nothing'")
        marked = label >= 0
        start, end = S[:, 0], S[:, 1]
        if np.any(marked & (end <= start)):
            raise InvalidAnswers("every segment needs end > start (seconds)")
        if np.any(marked & ((start < 0) | (end > dur[task] * (1 + 1e-9) + 1e-9))):
            raise InvalidAnswers("segments must lie within [0, clip duration]")
        w = _check_weights(weights, int(worker.max()) + 1)

        # Seconds -> steps; a segment shorter than one step still covers the step it starts in.
        steps = np.ceil(np.round(dur / res, 6)).astype(np.int64)
        s0 = np.clip(np.rint(start / res).astype(np.int64), 0, steps[task])
        s1 = np.clip(np.rint(end / res).astype(np.int64), 0, steps[task])
        short = marked & (s1 <= s0)
        s0 = np.where(short, np.minimum(s0, steps[task] - 1), s0)
        s1 = np.where(short, s0 + 1, s1)
        grid = np.where(marked[:, None], np.column_stack([s0, s1]), 0)
        votes = SpanVote(min_share=self.min_share).fit(
            X, grid, text_lengths=steps, weights=w, n_classes=n_classes)

        self.tasks_ = votes.tasks_
        self.labels_ = votes.spans_[:, 2]
        self.segments_ = np.minimum(votes.spans_[:, :2] * res,
                                    dur[self.tasks_][:, None]).astype(float).reshape(-1, 2)
        self.confidence_ = votes.confidence_
        self.worker_f1_ = self._worker_f1(X, S, w.shape[0])
        return self

    def _worker_f1(self, X, S, n_workers) -> np.ndarray:
        """Mean over each worker's clips of segment F1 against the consensus (one-to-one, IoU >= 0.5)."""
        task, worker, label = X[:, 0], X[:, 1], X[:, 2]
        pairs = np.unique(X[:, :2], axis=0)
        cons_order = np.argsort(self.tasks_, kind="stable")
        cons_at = np.searchsorted(self.tasks_[cons_order], np.arange(task.max() + 2))
        marked = np.flatnonzero(label >= 0)
        by_pair = marked[np.lexsort((worker[marked], task[marked]))]
        key = task[by_pair] * n_workers + worker[by_pair]
        pair_key = pairs[:, 0] * n_workers + pairs[:, 1]
        lo, hi = np.searchsorted(key, pair_key), np.searchsorted(key, pair_key, side="right")
        f1 = np.empty(len(pairs))
        for i, (t, a, b) in enumerate(zip(pairs[:, 0], lo, hi)):
            own = by_pair[a:b]
            cons = cons_order[cons_at[t]:cons_at[t + 1]]
            if len(own) + len(cons) == 0:
                f1[i] = 1.0
                continue
            ok = ((segment_iou(S[own], self.segments_[cons]) >= 0.5 - 1e-12)
                  & (label[own][:, None] == self.labels_[cons][None, :]))
            f1[i] = 2.0 * len(_one_to_one(np.zeros(ok.shape), ok)) / (len(own) + len(cons))
        scores = np.bincount(pairs[:, 1], weights=f1, minlength=n_workers)
        counts = np.bincount(pairs[:, 1], minlength=n_workers)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(counts > 0, scores / counts, np.nan)
