"""Dawid–Skene: one full confusion matrix per worker, fitted by EM.

Model (Dawid & Skene, "Maximum likelihood estimation of observer error-rates using the
EM algorithm", Applied Statistics 28(1), 1979)::

    z_t ~ Categorical(priors)                      true class of task t
    l_tw | z_t = k ~ Categorical(errors[w, k, :])  worker w's answer on task t

EM starts from majority-vote shares.  The M step is the closed form
``errors[w, k, l] ∝ alpha + diag_alpha [k = l] + Σ_t P(z_t = k) [l_tw = l]`` -- the MAP
estimate under a weak diagonal-leaning Dirichlet prior.  ``alpha`` (default 0.01) keeps
every log finite; ``diag_alpha`` (default 1, one pseudo-answer "worker is right") stops
the classic maximum-likelihood collapse where a worker with one or two answers is fitted
as "always says l whatever the truth", which lets the class prior overrule a unanimous
item.  ``alpha=0, diag_alpha=0`` gives the textbook ML estimate (zeros are floored at
1e-12).  Gold ``y``
clamps the posteriors of known tasks, which then train the worker matrices.

Example:

>>> import numpy as np
>>> from consensus import DawidSkene
>>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 0], [1, 0, 0], [1, 1, 0], [1, 2, 0]])
>>> DawidSkene().fit_predict(X).tolist()
[1, 0]
"""

from __future__ import annotations

import numpy as np

from ._base import AnswerIndex, ConfusionAggregator, task_mask

__all__ = ["DawidSkene"]

_FLOOR = 1e-12


def _normalize_rows(counts):
    """Normalise the last axis; all-zero rows become uniform."""
    total = counts.sum(axis=-1, keepdims=True)
    k = counts.shape[-1]
    return np.where(total > 0, counts / np.where(total > 0, total, 1.0), 1.0 / k)


def _m_step(index, probas, mask, alpha, diag_alpha):
    """Closed-form M step: smoothed confusion counts and class frequencies."""
    k = index.n_classes
    errors = _normalize_rows(index.confusion_counts(probas) + alpha + diag_alpha * np.eye(k))
    priors = _normalize_rows(probas[mask].sum(axis=0) + 1.0)  # Laplace: no class vanishes
    return errors, priors


class DawidSkene(ConfusionAggregator):
    """Full-confusion Dawid–Skene EM (hyperparameters: ``n_iter``, ``tol``, ``alpha``,
    ``diag_alpha``)."""

    title = "Dawid–Skene"  # how the platform offers it

    def __init__(self, *, n_iter=100, tol=1e-6, alpha=0.01, diag_alpha=1.0):
        self.n_iter = n_iter
        self.tol = tol
        self.alpha = alpha
        self.diag_alpha = diag_alpha

    def _fit(self, X, y, n_tasks, n_workers, n_classes):
        index = AnswerIndex(X, n_tasks, n_workers, n_classes)
        mask = task_mask(X, y, n_tasks)

        def m_step(probas):
            errors, priors = _m_step(index, probas, mask, self.alpha, self.diag_alpha)
            return np.log(np.maximum(errors, _FLOOR)), np.log(np.maximum(priors, _FLOOR)), 0.0

        probas = self._run_em(index, X, y, m_step)
        # final parameters consistent with the returned posteriors
        self.errors_, self.priors_ = _m_step(index, probas, mask, self.alpha, self.diag_alpha)
        self.probas_ = probas
        self._set_skills_from_errors()
