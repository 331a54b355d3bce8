"""Text spans (NER): character-level weighted voting per label, spans rebuilt from the votes."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from consensus.errors import InvalidAnswers
from consensus.numeric import _check_codes, _check_values, _check_weights


def span_f1(predicted: Iterable, reference: Iterable) -> float:
    """Exact-match span F1 between two collections of ``(start, end, label)``.

    A span counts as correct only if start, end and label all match (CoNLL
    style). Two empty collections agree perfectly (F1 = 1).

    >>> span_f1([(0, 5, 1), (6, 9, 2)], [(0, 5, 1), (6, 9, 1)])
    0.5
    """
    p = {tuple(int(v) for v in s) for s in predicted}
    r = {tuple(int(v) for v in s) for s in reference}
    if not p and not r:
        return 1.0
    tp = len(p & r)
    return 2.0 * tp / (len(p) + len(r))


class SpanVote:
    """Consensus text spans by character-level weighted voting.

    Model: every worker who saw a text of length ``L`` casts, for each character,
    a vote for one of ``n_classes + 1`` options: each label or "outside" (no
    span). A character gets the option with the largest worker-weighted vote
    (ties: outside first, then the lower label code), and maximal runs of
    characters with the same label become the consensus spans — token-free
    majority voting as used for crowd NER (e.g. Rodrigues, Pereira & Ribeiro,
    "Sequence labeling with multiple annotators", Machine Learning 95, 2014, MV
    baseline). A span's confidence is the mean, over its characters, of the
    winning label's share of the weight of the workers who saw the text.
    Spans are half-open ``[start, end)`` character offsets (Label Studio style).
    A row with label ``-1`` records that a worker saw the text and marked nothing.

    Parameters
    ----------
    min_share : float in [0, 1), default 0.0
        A label must also hold more than this share of the weight to win a
        character (0 = plain plurality; 0.5 = strict majority).

    Attributes
    ----------
    spans_ : (m, 3) int, ``start, end, label``
    tasks_ : (m,) int
    confidence_ : (m,) float
    worker_f1_ : (n_workers,) float, mean span F1 of each worker against the
        consensus over the texts they saw (NaN if none)

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 1], [0, 2, 2]])
    >>> S = [[0, 5], [0, 4], [0, 5], [7, 9]]
    >>> v = SpanVote().fit(X, S, text_lengths=[10])
    >>> v.spans_.tolist()
    [[0, 5, 1]]
    """

    def __init__(self, *, min_share: float = 0.0):
        self.min_share = min_share

    def fit(self, X, spans, *, text_lengths, weights=None, n_classes=None) -> SpanVote:
        """Fit on ``X`` int ``(n, 3)`` of ``(task, worker, label)`` and ``spans`` int ``(n, 2)``.

        ``text_lengths``: ``(n_tasks,)`` length of each text in characters.
        ``weights``: optional ``(n_workers,)`` non-negative worker skills.
        """
        if not 0 <= self.min_share < 1:
            raise InvalidAnswers(f"min_share must be in [0, 1), got {self.min_share}")
        X = _check_codes(X, 3)
        S = _check_values(spans, X.shape[0], "spans", cols=2)
        if np.any(S != np.round(S)):
            raise InvalidAnswers("span offsets must be integers")
        S = S.astype(np.int64)
        task, worker, label = X[:, 0], X[:, 1], X[:, 2]
        n_tasks = int(task.max()) + 1
        lengths = np.asarray(text_lengths)
        if lengths.ndim != 1 or lengths.shape[0] < n_tasks:
            raise InvalidAnswers(f"text_lengths needs one length per task ({n_tasks})")
        if np.any(lengths < 0):
            raise InvalidAnswers("text_lengths must be >= 0")
        lengths = lengths.astype(np.int64)
        if np.any(label < -1):
            raise InvalidAnswers("labels must be >= 0, or -1 for 'saw the text, marked nothing'")
        marked = label >= 0
        start, end = S[:, 0], S[:, 1]
        if np.any(marked & (end <= start)):
            raise InvalidAnswers("every span needs end > start (offsets are [start, end))")
        if np.any(marked & ((start < 0) | (end > lengths[task]))):
            raise InvalidAnswers("span offsets must lie within [0, text length]")
        k = max(int(label.max()) + 1, n_classes or 0, 1)
        w = _check_weights(weights, int(worker.max()) + 1)
        n_workers = w.shape[0]

        # Character grid: all texts back to back; offset[t] is where text t starts.
        offset = np.concatenate(([0], np.cumsum(lengths)))
        n_chars = int(offset[-1])
        char_task = np.repeat(np.arange(len(lengths)), lengths)
        pairs = np.unique(X[:, :2], axis=0)
        seen = np.bincount(pairs[:, 0], weights=w[pairs[:, 1]], minlength=len(lengths))

        # Votes per label with a difference array: +w at start, -w at end, then cumsum.
        # A worker who overlaps their own spans votes twice there; the clip below caps a
    # label's votes at the weight of the workers who saw the text.
        diff = np.zeros((n_chars + 1, k))
        m = np.flatnonzero(marked)
        np.add.at(diff, (offset[task[m]] + start[m], label[m]), w[worker[m]])
        np.add.at(diff, (offset[task[m]] + end[m], label[m]), -w[worker[m]])
        votes = np.cumsum(diff, axis=0)[:n_chars]
        votes = np.clip(votes, 0, None)
        if n_chars:
            votes = np.minimum(votes, seen[char_task][:, None])
            outside = np.clip(seen[char_task] - votes.sum(axis=1), 0, None)
            table = np.column_stack([outside, votes])  # column 0 = outside
            winner = np.argmax(table, axis=1)  # argmax keeps the first maximum: outside, then low labels
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(seen[char_task] > 0, table[np.arange(n_chars), winner]
                                 / seen[char_task], 0.0)
            winner = np.where((winner > 0) & (share <= self.min_share), 0, winner)
        else:
            winner = np.zeros(0, dtype=np.int64)
            share = np.zeros(0)

        # Runs: a new run starts where the winner or the text changes.
        change = np.ones(n_chars, dtype=bool)
        change[1:] = (winner[1:] != winner[:-1]) | (char_task[1:] != char_task[:-1])
        run_start = np.flatnonzero(change)
        run_end = np.append(run_start[1:], n_chars)
        run_label = winner[run_start] if n_chars else winner
        keep = run_label > 0
        rs, re_, rl = run_start[keep], run_end[keep], run_label[keep]
        rt = char_task[rs] if rs.size else np.zeros(0, dtype=np.int64)
        csum = np.concatenate(([0.0], np.cumsum(share)))
        self.tasks_ = rt.astype(np.int64)
        self.spans_ = np.column_stack([rs - offset[rt], re_ - offset[rt], rl - 1]).astype(np.int64)
        self.confidence_ = (csum[re_] - csum[rs]) / np.maximum(re_ - rs, 1)
        self.worker_f1_ = self._worker_f1(task, worker, label, S, pairs, n_workers)
        return self

    def _worker_f1(self, task, worker, label, S, pairs, n_workers) -> np.ndarray:
        """Mean over each worker's texts of :func:`span_f1` against the consensus, vectorized.

        Spans are compared as whole rows ``(task, start, end, label)``; a worker's
        repeated span counts once, as in the set-based :func:`span_f1`.
        """
        marked = label >= 0
        own = np.unique(np.column_stack([task, worker, S, label])[marked], axis=0)
        cons = np.column_stack([self.tasks_, self.spans_])
        # Shared ids for span rows so membership is a 1-d isin.
        both = np.concatenate([own[:, [0, 2, 3, 4]], cons]).reshape(-1, 4)
        ids = np.unique(both, axis=0, return_inverse=True)[1].ravel()
        hit = np.isin(ids[: len(own)], ids[len(own):])
        # Per (task, worker) pair: predicted spans, true positives; per task: reference spans.
        n_tasks = int(max(task.max(), pairs[:, 0].max())) + 1
        pair_id = pairs[:, 0] * n_workers + pairs[:, 1]
        flat = own[:, 0] * n_workers + own[:, 1]
        predicted = np.bincount(flat, minlength=n_tasks * n_workers)[pair_id]
        tp = np.bincount(flat, weights=hit, minlength=n_tasks * n_workers)[pair_id]
        reference = np.bincount(self.tasks_, minlength=n_tasks)[pairs[:, 0]]
        denom = predicted + reference
        f1 = np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 1.0)
        scores = np.bincount(pairs[:, 1], weights=f1, minlength=n_workers)
        counts = np.bincount(pairs[:, 1], minlength=n_workers)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(counts > 0, scores / counts, np.nan)
