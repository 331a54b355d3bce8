"""Numbers and ratings: a robust, skill-weighted median per item.

Also home of the small input checks shared by the non-categorical aggregators
(boxes, spans, transcripts): codes arrays and per-worker weights.
"""

from __future__ import annotations

import numpy as np

from consensus.errors import InvalidAnswers

#: Scale that makes the median absolute deviation a consistent estimate of the
#: standard deviation under a normal model (1 / Phi^-1(3/4)).
MAD_TO_SD = 1.482602218505602


def _check_codes(X, n_cols: int, what: str = "X") -> np.ndarray:
    """Return ``X`` as a non-empty ``(n, n_cols)`` int64 array of codes, or raise InvalidAnswers.

    Columns are ``task, worker[, label]``; task and worker codes must be >= 0
    (a label may be -1 where a module gives that a meaning).
    """
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[1] != n_cols:
        raise InvalidAnswers(f"{what} must have shape (n_answers, {n_cols}), got {arr.shape}")
    if arr.shape[0] == 0:
        raise InvalidAnswers(f"{what} is empty: there are no answers to aggregate")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InvalidAnswers(f"{what} must hold integer codes (no NaN or fractions)")
    elif arr.dtype.kind not in "iub":
        raise InvalidAnswers(f"{what} must hold integer codes, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any(arr[:, :2] < 0):
        raise InvalidAnswers(f"{what}: task and worker codes must be >= 0")
    return arr


def _check_weights(weights, n_workers: int) -> np.ndarray:
    """Per-worker weights as a float array of length ``n_workers`` (default: all ones)."""
    if weights is None:
        return np.ones(n_workers)
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.shape[0] < n_workers:
        raise InvalidAnswers(
            f"weights must be a 1-d array with one entry per worker ({n_workers}), got {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidAnswers("weights must be finite and >= 0")
    return w


def _check_values(values, n: int, what: str, *, cols: int | None = None) -> np.ndarray:
    """A finite float array with ``n`` rows (and ``cols`` columns, if given)."""
    v = np.asarray(values, dtype=float)
    shape = (n,) if cols is None else (n, cols)
    if v.shape != shape:
        raise InvalidAnswers(f"{what} must have shape {shape}, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidAnswers(f"{what} must be finite (found NaN or infinity)")
    return v


def grouped_weighted_median(groups, values, weights, n_groups: int) -> np.ndarray:
    """Weighted median of ``values`` within each group, vectorized (NaN for an empty group).

    The weighted median is the value where the cumulative weight, in sorted
    order, reaches half the group's total; where it lands exactly on one half
    the two middle values are averaged, so with equal weights this is the usual
    median. Zero-weight answers are ignored unless every answer in the group has
    zero weight, in which case the group falls back to equal weights.
    """
    groups = np.asarray(groups, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    total = np.bincount(groups, weights=weights, minlength=n_groups)
    # Groups whose answers all carry zero weight: count every answer equally.
    zero = total[groups] <= 0
    weights = np.where(zero, 1.0, weights)
    total = np.bincount(groups, weights=weights, minlength=n_groups)

    keep = weights > 0  # zero-weight answers take no part once a group has positive weight
    groups, values, weights = groups[keep], values[keep], weights[keep]
    order = np.lexsort((values, groups))
    g, v, w = groups[order], values[order], weights[order]
    n = len(g)
    cum = np.cumsum(w)
    start = np.searchsorted(g, np.arange(n_groups), side="left")
    offset = np.concatenate(([0.0], cum))[start]
    within = cum - offset[g]  # cumulative weight inside the group
    half = total[g] / 2.0
    # Relative tolerance so that float sums that "equal" one half count as equal.
    eps = 1e-9 * np.maximum(total[g], 1.0)
    # First sorted position per group where half the weight is reached.
    idx = np.where(within >= half - eps, np.arange(n), n)
    first = np.full(n_groups, n)
    np.minimum.at(first, g, idx)
    out = np.full(n_groups, np.nan)
    has = first < n
    f = first[has]
    med = v[f]
    # Exactly half reached: average with the next value of the same group.
    nxt = np.minimum(f + 1, n - 1)
    use = (np.abs(within[f] - half[f]) <= eps[f]) & (f + 1 < n) & (g[nxt] == g[f])
    med = np.where(use, (med + v[nxt]) / 2.0, med)
    out[has] = med
    return out


def weighted_median(values, weights=None) -> float:
    """Weighted median of a 1-d array (see :func:`grouped_weighted_median`).

    >>> weighted_median([1, 2, 10], [1, 1, 5])
    10.0
    >>> weighted_median([1, 2, 3, 4])
    2.5
    """
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise InvalidAnswers("weighted_median of an empty array")
    if not np.all(np.isfinite(v)):
        raise InvalidAnswers("values must be finite (found NaN or infinity)")
    w = _check_weights(weights, v.size) if weights is not None else np.ones(v.size)
    if w.shape != v.shape:
        raise InvalidAnswers(f"weights must match values: {w.shape} != {v.shape}")
    return float(grouped_weighted_median(np.zeros(v.size, int), v, w, 1)[0])


class WeightedMedian:
    """Robust consensus for numbers and ratings: the skill-weighted median per item.

    Model: each item has a true value; each worker reports it with noise and
    occasionally a gross error. The weighted median (worker weights, e.g. skills
    from a categorical model or gold accuracy) has a 50% breakdown point, so a
    minority of outliers cannot move it. Its spread is the weighted median
    absolute deviation scaled by 1.4826, a robust standard deviation
    (Hampel 1974; Rousseeuw & Croux 1993, "Alternatives to the median absolute
    deviation", JASA 88(424)). An answer whose robust z-score
    ``|x - median| / spread`` exceeds ``outlier_threshold`` (3.5 after
    Iglewicz & Hoaglin 1993) is an outlier; where the spread is 0 any answer
    different from the median is one. ``confidence_`` is the weighted share of
    a task's answers that are not outliers.

    Parameters
    ----------
    outlier_threshold : float, default 3.5
        Robust z-score above which an answer counts as an outlier.

    Attributes
    ----------
    values_ : (n_tasks,) float, the weighted median (NaN for a task nobody answered)
    spread_ : (n_tasks,) float, 1.4826 x weighted MAD
    confidence_ : (n_tasks,) float in [0, 1], weighted share of inlier answers
    outliers_ : (n_answers,) bool, per input row
    n_answers_ : (n_tasks,) int

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]])
    >>> m = WeightedMedian().fit(X, [3.0, 3.5, 40.0, 1.0, 1.0])
    >>> m.values_.tolist(), m.outliers_.tolist()
    ([3.5, 1.0], [False, False, True, False, False])
    """

    def __init__(self, *, outlier_threshold: float = 3.5):
        self.outlier_threshold = outlier_threshold

    def fit(self, X, values, *, weights=None, n_tasks: int | None = None) -> WeightedMedian:
        """Fit on ``X`` = int ``(n, 2)`` of ``(task, worker)`` codes and ``values`` ``(n,)``.

        ``weights`` is an optional ``(n_workers,)`` array of non-negative worker weights.
        """
        X = _check_codes(X, 2)
        v = _check_values(values, X.shape[0], "values")
        if not self.outlier_threshold > 0:
            raise InvalidAnswers("outlier_threshold must be > 0")
        t, wk = X[:, 0], X[:, 1]
        n_tasks = max(int(t.max()) + 1, n_tasks or 0)
        w = _check_weights(weights, int(wk.max()) + 1)[wk]
        med = grouped_weighted_median(t, v, w, n_tasks)
        dev = np.abs(v - med[t])
        spread = MAD_TO_SD * grouped_weighted_median(t, dev, w, n_tasks)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(dev == 0, 0.0, dev / spread[t])
        outliers = z > self.outlier_threshold
        total = np.bincount(t, weights=w, minlength=n_tasks)
        inlier = np.bincount(t, weights=w * ~outliers, minlength=n_tasks)
        count = np.bincount(t, minlength=n_tasks)
        # Tasks whose answers all carry zero weight: fall back to counts, as the median does.
        zero = total <= 0
        inlier_n = np.bincount(t, weights=(~outliers).astype(float), minlength=n_tasks)
        with np.errstate(divide="ignore", invalid="ignore"):
            conf = np.where(zero, inlier_n / count, inlier / total)
        self.values_ = med
        self.spread_ = spread
        self.confidence_ = np.where(count > 0, conf, np.nan)
        self.outliers_ = outliers
        self.n_answers_ = count
        return self

    def fit_predict(self, X, values, *, weights=None, n_tasks: int | None = None) -> np.ndarray:
        """Fit, then return ``values_``."""
        return self.fit(X, values, weights=weights, n_tasks=n_tasks).values_
