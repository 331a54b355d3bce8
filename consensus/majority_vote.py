"""Majority vote: each task's label is the most chosen one.

Model: every answer is one equal vote.  ``probas_[t, k]`` is the share of task ``t``'s
answers that chose ``k`` (uniform for a task code with no answers); ``labels_`` is the
argmax, ties going to the **lowest class code**.  ``skills_[w]`` is worker ``w``'s soft
agreement with the consensus (mean of ``probas_[t, label]`` over its answers, with gold
clamped where given); a worker code with no answers gets the mean skill.

Example:

>>> import numpy as np
>>> from consensus import MajorityVote
>>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 0], [1, 0, 0]])
>>> MajorityVote().fit_predict(X).tolist()
[1, 0]
"""

from __future__ import annotations

import numpy as np

from ._base import BaseAggregator, clamp_gold, vote_shares

__all__ = ["MajorityVote"]


def agreement_skills(X, probas, n_workers):
    """Mean posterior mass each worker's answers put on their own label."""
    agree = np.bincount(X[:, 1], weights=probas[X[:, 0], X[:, 2]], minlength=n_workers)
    n = np.bincount(X[:, 1], minlength=n_workers)
    skills = np.full(n_workers, np.nan)
    np.divide(agree, n, out=skills, where=n > 0)
    skills[n == 0] = np.nanmean(skills) if np.any(n > 0) else 0.5
    return skills


class MajorityVote(BaseAggregator):
    """Unweighted majority vote (no hyperparameters)."""

    title = "majority vote"  # how the platform offers it

    def _fit(self, X, y, n_tasks, n_workers, n_classes):
        self.probas_ = vote_shares(X, n_tasks, n_classes)
        self.priors_ = np.full(n_classes, 1.0 / n_classes)
        self.skills_ = agreement_skills(X, clamp_gold(self.probas_.copy(), y), n_workers)
        self.n_iter_ = 1
        self.loss_history_ = []

    def _predict_proba(self, X, n_tasks):
        return vote_shares(X, n_tasks, self.n_classes_)
