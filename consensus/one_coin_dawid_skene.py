"""One-coin Dawid–Skene: each worker has a single accuracy ``s_w``.

Model (the "one-coin" restriction of Dawid & Skene 1979, as in Zhang et al.,
"Spectral methods meet EM", NIPS 2014)::

    z_t ~ Categorical(priors)
    P(l_tw = l | z_t = k) = s_w            if l == k
                          = (1 - s_w)/(K-1) otherwise

EM from majority-vote shares.  M step: ``s_w = (Σ_a P(z_t = l_a) + a) / (n_w + a + b)``,
a Beta(a, b) prior (default ``a = 2, b = 1``: "workers are right more often than not")
that keeps a worker with one answer away from 0 or 1 and, by leaning to the diagonal,
breaks the symmetric fixed point ``s_w = 1/2`` that symmetric smoothing falls into when
workers have only a few answers each.  With few parameters per worker it is robust on sparse
data but cannot model class-specific confusions.

The class prior is uniform unless ``learn_priors=True``: with one symmetric accuracy per
worker, a learned prior can run away to the majority class (it explains answers "for
free" when workers look mediocre), overruling even unanimous items.

Example:

>>> import numpy as np
>>> from consensus import OneCoinDawidSkene
>>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 0], [1, 0, 0], [1, 1, 0], [1, 2, 1],
...               [2, 0, 1], [2, 1, 1], [2, 2, 1], [3, 0, 0], [3, 1, 0], [3, 2, 0]])
>>> OneCoinDawidSkene().fit_predict(X).tolist()
[1, 0, 1, 0]
"""

from __future__ import annotations

import numpy as np

from ._base import AnswerIndex, ConfusionAggregator, task_mask

__all__ = ["OneCoinDawidSkene", "one_coin_errors"]

_FLOOR = 1e-12


def one_coin_errors(skills, n_classes):
    """(n_workers, K, K) confusion with ``skills`` on the diagonal, the rest spread evenly."""
    if n_classes == 1:
        return np.ones((skills.size, 1, 1))
    off = (1.0 - skills) / (n_classes - 1)
    errors = np.repeat(off[:, None, None], n_classes, axis=1).repeat(n_classes, axis=2)
    idx = np.arange(n_classes)
    errors[:, idx, idx] = skills[:, None]
    return errors


def _m_step(X, probas, mask, n_workers, a, b, learn_priors):
    agree = np.bincount(X[:, 1], weights=probas[X[:, 0], X[:, 2]], minlength=n_workers)
    n = np.bincount(X[:, 1], minlength=n_workers)
    skills = (agree + a) / (n + a + b)
    if not learn_priors:
        return skills, np.full(probas.shape[1], 1.0 / probas.shape[1])
    priors = probas[mask].sum(axis=0) + 1e-2
    return skills, priors / priors.sum()


class OneCoinDawidSkene(ConfusionAggregator):
    """One accuracy per worker, EM (hyperparameters: ``n_iter``, ``tol``, ``a``, ``b``,
    ``learn_priors``)."""

    title = "one-coin Dawid–Skene"  # how the platform offers it

    def __init__(self, *, n_iter=100, tol=1e-6, a=2.0, b=1.0, learn_priors=False):
        self.learn_priors = learn_priors
        self.n_iter = n_iter
        self.tol = tol
        self.a = a
        self.b = b

    def _fit(self, X, y, n_tasks, n_workers, n_classes):
        index = AnswerIndex(X, n_tasks, n_workers, n_classes)
        mask = task_mask(X, y, n_tasks)

        def m_step(probas):
            skills, priors = _m_step(X, probas, mask, n_workers, self.a, self.b, self.learn_priors)
            errors = one_coin_errors(skills, n_classes)
            return np.log(np.maximum(errors, _FLOOR)), np.log(priors), 0.0

        probas = self._run_em(index, X, y, m_step)
        skills, self.priors_ = _m_step(X, probas, mask, n_workers, self.a, self.b, self.learn_priors)
        self.errors_ = one_coin_errors(skills, n_classes)
        self.probas_ = probas
        self.skills_ = skills
