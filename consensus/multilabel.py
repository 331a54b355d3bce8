"""Multi-label answers (a worker picks a *set* of labels): one binary aggregation per label.

Input format:

* ``X``: int array ``(n_rows, 3)`` of ``(task, worker, label)`` -- **one row per chosen
  label** (a worker who ticked labels 0 and 3 on task 7 gives two rows);
* ``answered``: int array ``(n_pairs, 2)`` of the ``(task, worker)`` pairs that submitted an
  answer, *including those that chose no label at all*.  Without it a label that is not
  ticked cannot be told from a task that was never seen.  ``None`` means "exactly the
  pairs present in X"; pairs in ``X`` missing from ``answered`` are added.

For label ``j`` every answered pair becomes a binary answer (1 = ticked ``j``) and the
base aggregator (``AGGREGATORS[base]``, default ``"auto"``) is fitted on it, so worker
reliabilities are learned per label (one label may be easy, another confusing).
Results: ``probas_[t, j] = P(label j applies to task t)``, ``labels_`` the boolean
matrix ``probas_ > 0.5`` by the base model's argmax (an exact tie means "off", the lowest
class code), ``skills_[w, j]`` and ``estimators_[j]``.  Gold ``y`` is ``(n_tasks, n_labels)``
with 1 / 0 / -1 (unknown).

>>> import numpy as np
>>> from consensus import MultiLabelAggregator
>>> X = np.array([[0, 0, 0], [0, 1, 0], [0, 1, 2], [1, 0, 1], [1, 1, 1]])
>>> answered = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])
>>> MultiLabelAggregator(base="majority_vote").fit(X, answered, n_labels=3).labels_.tolist()
[[True, False, False], [False, True, False]]
"""

from __future__ import annotations

import numpy as np

from ._base import check_answers
from .errors import InvalidAnswers

__all__ = ["MultiLabelAggregator"]


def _check_pairs(answered, X):
    pairs = X[:, :2]
    if answered is not None:
        arr = np.asarray(answered)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "iu":
            raise InvalidAnswers(
                f"answered must be an int array (n_pairs, 2) of (task, worker), got "
                f"shape {arr.shape} dtype {arr.dtype}"
            )
        if np.any(arr < 0):
            raise InvalidAnswers("answered codes must be >= 0")
        pairs = np.concatenate([arr.astype(np.int64), pairs])
    return np.unique(pairs, axis=0)


class MultiLabelAggregator:
    """Per-label binary aggregation (hyperparameters: ``base`` name, ``params`` for it)."""

    def __init__(self, *, base="auto", params=None):
        self.base = base
        self.params = params

    def fit(self, X, answered=None, y=None, *, n_labels=None):
        from . import AGGREGATORS  # late import: the registry imports this module

        if self.base not in AGGREGATORS:
            raise InvalidAnswers(f"unknown base aggregator {self.base!r}; "
                                 f"choose from {sorted(AGGREGATORS)}")
        X, _, _, n_labels = check_answers(X, n_labels)
        pairs = _check_pairs(answered, X)
        n_tasks = int(pairs[:, 0].max()) + 1
        n_workers = int(pairs[:, 1].max()) + 1
        if y is not None:
            y = np.asarray(y)
            if y.ndim != 2 or y.shape[1] != n_labels:
                raise InvalidAnswers(f"gold y must have shape (n_tasks, {n_labels}), got {y.shape}")
        pair_key = pairs[:, 0] * n_workers + pairs[:, 1]
        row_key = X[:, 0] * n_workers + X[:, 1]
        self.estimators_, probas, skills = [], [], []
        for j in range(n_labels):  # a loop over labels, not over answers
            ticked = np.isin(pair_key, row_key[X[:, 2] == j])
            Xj = np.column_stack([pairs, ticked.astype(np.int64)])
            model = AGGREGATORS[self.base](**(self.params or {}))
            model.fit(Xj, None if y is None else y[:, j], n_classes=2)
            self.estimators_.append(model)
            probas.append(model.probas_[:n_tasks, 1])
            skills.append(model.skills_)
        self.probas_ = np.column_stack(probas)
        self.labels_ = np.column_stack([m.labels_ == 1 for m in self.estimators_])
        self.skills_ = np.column_stack(skills)
        self.n_labels_ = n_labels
        return self

    def fit_predict(self, X, answered=None, y=None, *, n_labels=None):
        return self.fit(X, answered, y, n_labels=n_labels).labels_

    def fit_predict_proba(self, X, answered=None, y=None, *, n_labels=None):
        return self.fit(X, answered, y, n_labels=n_labels).probas_
