"""Inter-annotator agreement on categorical answers: Krippendorff's alpha, Fleiss' and Cohen's kappa.

All functions take the encoded answers ``X`` int ``(n_answers, 3)`` of
``(task, worker, label)`` codes: a sparse design where any worker may skip any task.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from consensus._base import check_answers
from consensus.errors import InvalidAnswers


def _counts(X, n_classes):
    """Validated X plus the ``(n_tasks, K)`` matrix of how many workers chose each label."""
    X, n_tasks, n_workers, k = check_answers(X, n_classes)
    n = np.zeros((n_tasks, k))
    np.add.at(n, (X[:, 0], X[:, 2]), 1.0)
    return X, n, n_workers, k


def krippendorff_alpha(X, *, n_classes: int | None = None) -> float:
    """Krippendorff's alpha for nominal data, with missing answers allowed.

    ``alpha = 1 - D_o / D_e`` from the coincidence matrix
    ``o[c, k] = sum_u n_uc (n_uk - [c == k]) / (m_u - 1)`` over units with
    ``m_u >= 2`` answers (units with one answer are not pairable and are left
    out), ``D_o = sum_{c != k} o[c, k]`` and
    ``D_e = sum_{c != k} n_c n_k / (n - 1)``. Krippendorff, "Computing
    Krippendorff's Alpha-Reliability", 2011 (Annenberg School working paper).
    Returns 1.0 when there is no expected disagreement (one label used
    throughout) and raises InvalidAnswers when no unit has two answers.

    >>> import numpy as np
    >>> X = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 1], [2, 0, 0], [2, 1, 1]])
    >>> round(krippendorff_alpha(X), 4)
    0.4444
    """
    _, n, _, _ = _counts(X, n_classes)
    m = n.sum(axis=1)
    pairable = m >= 2
    if not pairable.any():
        raise InvalidAnswers("Krippendorff's alpha needs at least one task with two answers")
    n, m = n[pairable], m[pairable]
    inv = 1.0 / (m - 1.0)
    o = (n * inv[:, None]).T @ n - np.diag((n * inv[:, None]).sum(axis=0))
    nc = o.sum(axis=1)
    total = nc.sum()
    observed = o.sum() - np.trace(o)
    expected = (nc.sum() ** 2 - (nc**2).sum()) / (total - 1.0)
    if expected <= 0:
        return 1.0
    return float(1.0 - observed / expected)


def fleiss_kappa(X, *, n_classes: int | None = None, unequal: str = "raise") -> float:
    """Fleiss' kappa (Fleiss, "Measuring nominal scale agreement among many raters",
    Psychological Bulletin 76(5), 1971).

    ``P_i = (sum_k n_ik^2 - m) / (m (m - 1))``, ``P_bar`` their mean,
    ``p_k`` the label shares, ``P_e = sum_k p_k^2``, ``kappa = (P_bar - P_e) / (1 - P_e)``.
    The statistic assumes the same number ``m >= 2`` of ratings on every item.
    When counts differ: ``unequal="raise"`` (default) raises InvalidAnswers;
    ``unequal="modal"`` keeps only the items with the most common count among
    counts >= 2 (ties: the larger count) and ignores the rest. Returns 1.0 when
    ``P_e == 1`` (everyone used one label).
    """
    if unequal not in ("raise", "modal"):
        raise InvalidAnswers(f"unequal must be 'raise' or 'modal', got {unequal!r}")
    _, n, _, _ = _counts(X, n_classes)
    m = n.sum(axis=1)
    if unequal == "raise":
        if np.unique(m).size != 1:
            raise InvalidAnswers(
                "Fleiss' kappa needs the same number of ratings per task, got "
                f"{int(m.min())} to {int(m.max())}; pass unequal='modal' or use krippendorff_alpha"
            )
    else:
        sizes, freq = np.unique(m[m >= 2], return_counts=True)
        if sizes.size:
            modal = sizes[freq == freq.max()].max()
            n, m = n[m == modal], m[m == modal]
    if m.size == 0 or m[0] < 2:
        raise InvalidAnswers("Fleiss' kappa needs at least two ratings per task")
    r = m[0]
    p_item = ((n**2).sum(axis=1) - r) / (r * (r - 1))
    p_bar = p_item.mean()
    p_k = n.sum(axis=0) / n.sum()
    p_e = (p_k**2).sum()
    if np.isclose(p_e, 1.0):
        return 1.0
    return float((p_bar - p_e) / (1.0 - p_e))


def pairwise_cohen_kappa(X, *, n_classes: int | None = None, min_shared: int = 10) -> float:
    """Mean Cohen's kappa over every pair of workers with at least ``min_shared`` tasks in common.

    Each pair's kappa is Cohen's (1960) unweighted kappa over the tasks both
    answered, the value ``sklearn.metrics.cohen_kappa_score`` gives (the tests
    check that), but computed for all pairs at once: with ``L_c`` the sparse
    worker x task indicator of label ``c``, ``L_c @ L_d.T`` holds every pair's
    count of (c, d) answers, so the cost follows the overlapping pairs, not a
    Python call per pair. A pair whose kappa is undefined (both always gave one
    and the same label: chance agreement 1) is skipped. Returns NaN when no
    pair qualifies.
    """
    if int(min_shared) < 1:
        raise InvalidAnswers(f"min_shared must be >= 1, got {min_shared}")
    X, n_tasks, n_workers, k = check_answers(X, n_classes)
    # One answer per (task, worker): duplicates are dropped, the first kept.
    _, first = np.unique(X[:, 0] * n_workers + X[:, 1], return_index=True)
    X = X[np.sort(first)]
    shape = (n_workers, n_tasks)
    inc = sp.csr_matrix((np.ones(len(X)), (X[:, 1], X[:, 0])), shape=shape)
    shared = sp.triu(inc @ inc.T, k=1).tocoo()
    keep = shared.data >= min_shared
    a, b = shared.row[keep], shared.col[keep]
    if a.size == 0:
        return float("nan")
    by_label = [sp.csr_matrix((np.ones(int(m.sum())), (X[m, 1], X[m, 0])), shape=shape)
                for m in (X[:, 2] == c for c in range(k))]
    conf = np.empty((a.size, k, k))  # conf[p, c, d]: tasks where a said c and b said d
    for c in range(k):
        for d in range(k):
            conf[:, c, d] = np.asarray((by_label[c] @ by_label[d].T)[a, b]).ravel()
    n = conf.sum(axis=(1, 2))
    observed = np.trace(conf, axis1=1, axis2=2) / n
    chance = (conf.sum(axis=2) * conf.sum(axis=1)).sum(axis=1) / n**2
    defined = ~np.isclose(chance, 1.0)
    if not defined.any():
        return float("nan")
    kappa = (observed[defined] - chance[defined]) / (1.0 - chance[defined])
    return float(kappa.mean())
