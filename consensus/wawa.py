"""Wawa ("worker agreement with aggregate"): majority vote weighted by agreement with MV.

Model: first an unweighted majority vote; each worker's skill is the fraction of its
answers equal to the majority label (gold labels replace the majority label where
known); the final ``probas_`` are vote shares with every answer weighted by its
worker's skill.  It is the heuristic of Appen / Figure Eight's "trust" score, as
implemented in crowd-kit (Ustalov et al., "Learning from Crowds with Crowd-Kit", 2021).
A task whose answers all have zero weight falls back to its unweighted shares.

Example:

>>> import numpy as np
>>> from consensus import Wawa
>>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 0], [1, 0, 0], [1, 1, 0], [1, 2, 1],
...               [2, 0, 1], [2, 1, 1], [2, 2, 1], [3, 0, 0], [3, 1, 0], [3, 2, 0]])
>>> Wawa().fit_predict(X).tolist()
[1, 0, 1, 0]
"""

from __future__ import annotations

import numpy as np

from ._base import BaseAggregator, clamp_gold, vote_shares

__all__ = ["Wawa"]


def _skills(X, labels, n_workers):
    agree = np.bincount(X[:, 1], weights=(X[:, 2] == labels[X[:, 0]]), minlength=n_workers)
    n = np.bincount(X[:, 1], minlength=n_workers)
    skills = np.full(n_workers, np.nan)
    np.divide(agree, n, out=skills, where=n > 0)
    skills[n == 0] = np.nanmean(skills)
    return skills


def _weighted_shares(X, skills, n_tasks, n_classes):
    weighted = vote_shares(X, n_tasks, n_classes, weights=skills[X[:, 1]])
    plain = vote_shares(X, n_tasks, n_classes)
    total = np.bincount(X[:, 0], weights=skills[X[:, 1]], minlength=n_tasks)
    answered = np.bincount(X[:, 0], minlength=n_tasks) > 0
    zero_weight = answered & (total <= 0)
    weighted[zero_weight] = plain[zero_weight]
    return weighted


class Wawa(BaseAggregator):
    """Agreement-weighted majority vote (no hyperparameters)."""

    title = "weighted majority vote (Wawa)"  # how the platform offers it

    def _fit(self, X, y, n_tasks, n_workers, n_classes):
        mv = clamp_gold(vote_shares(X, n_tasks, n_classes), y)
        self.skills_ = _skills(X, mv.argmax(axis=1), n_workers)
        self.probas_ = _weighted_shares(X, self.skills_, n_tasks, n_classes)
        self.priors_ = np.full(n_classes, 1.0 / n_classes)
        self.n_iter_ = 1
        self.loss_history_ = []

    def _predict_proba(self, X, n_tasks):
        skills = self.skills_
        if X[:, 1].max() >= skills.size:
            skills = np.concatenate([skills, np.full(X[:, 1].max() + 1 - skills.size, skills.mean())])
        return _weighted_shares(X, skills, n_tasks, self.n_classes_)
