"""``auto``: the platform default -- Dawid–Skene with a hierarchical, diagonal-leaning prior.

Model (Bayesian Dawid–Skene / IBCC, Kim & Ghahramani, AISTATS 2012, with an
empirical-Bayes prior in the spirit of community-based BCC, Venanzi et al., WWW 2014)::

    z_t ~ Categorical(kappa),          kappa ~ Dirichlet(1 + class_prior_tasks)
    pi_w[k, :] ~ Dirichlet(strength * m_w[k, :])
    l_tw | z_t = k ~ Categorical(pi_w[k, :])

The prior mean ``m_w`` of worker ``w``'s confusion row ``k`` combines

* the worker's **own overall accuracy** ``acc_w`` (one number, so it is estimable from a
  handful of answers; itself shrunk towards the population accuracy with ``skill_prior``
  pseudo-answers), adjusted per true class by how hard class ``k`` is for the whole
  crowd (on the logit scale), and
* the **population's error pattern** for class ``k`` (which wrong labels the crowd
  picks when the truth is ``k``), pooled over all workers plus a diagonal-leaning base
  prior (``base_diag``, ``base_off`` pseudo-counts), re-estimated every iteration.

So a worker with few answers behaves like a one-coin worker with the crowd's typical
confusions (no collapse on sparse workers, sensible with 1-3 answers per item), while a
worker with many answers gets a full confusion matrix of its own: uniform spammers
become uninformative, "always the same label" and adversarial (label-permuting)
workers are learned, the latter even used.  ``strength`` (pseudo-answers per confusion
row, default 2) sets how many answers per row a worker needs before its own matrix
dominates.

The class proportions get a symmetric Dirichlet worth ``class_prior_tasks`` (10)
pseudo-tasks per class: negligible on real jobs, but on a tiny job (a few items, one
answer each, no overlap) it stops the learned class prior from running away to the
majority class and overruling unanimous items -- a collapse hypothesis found.

Fitting: EM on the posterior-mean (MAP-like) confusion ``alpha / alpha.sum()`` with
``alpha = strength * m_w + expected counts``, starting from majority-vote shares, so it
is deterministic; ``random_state`` is accepted for interface symmetry and unused.  The
E step is the shared sparse log-space step of :func:`consensus._base.run_em`; all
probabilities entering a log are strictly positive because the base prior is.

Defaults were chosen among a few principled values (strength 1, 2 or K; point vs
variational estimates) on the nine development sets *and* on synthetic crowds with
spammers, adversaries, skewed activity and 1-9 answers per item (bench/synthetic.py);
nothing depends on a particular data set.

Example:

>>> import numpy as np
>>> from consensus import Auto
>>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 0], [1, 0, 0], [1, 1, 0], [1, 2, 0]])
>>> Auto().fit_predict(X).tolist()
[1, 0]
"""

from __future__ import annotations

import numpy as np

from ._base import AnswerIndex, ConfusionAggregator, mv_init, task_mask
from .ibcc import diagonal_prior

__all__ = ["Auto"]

_EPS = 1e-6


def _logit(p):
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def prior_mean(counts, base, skill_prior):
    """Per-worker prior mean confusion ``m_w`` (W, K, K) and the population matrix (K, K)."""
    k = counts.shape[1]
    pooled = counts.sum(axis=0) + base
    population = pooled / pooled.sum(axis=1, keepdims=True)
    if k == 1:
        return np.ones_like(counts), population
    eye = np.eye(k, dtype=bool)
    class_acc = np.diag(population)
    pattern = np.where(eye, 0.0, population) / np.maximum(1.0 - class_acc, _EPS)[:, None]
    overall = np.trace(pooled) / pooled.sum()
    n_w = counts.sum(axis=(1, 2))
    acc_w = (np.trace(counts, axis1=1, axis2=2) + skill_prior * overall) / (n_w + skill_prior)
    z = _logit(acc_w)[:, None] + (_logit(class_acc) - _logit(overall))[None, :]
    acc_wk = 1.0 / (1.0 + np.exp(-z))  # (W, K): worker skill adjusted per true class
    mean = (1.0 - acc_wk)[:, :, None] * pattern[None] + acc_wk[:, :, None] * eye[None]
    return mean, population


class Auto(ConfusionAggregator):
    """Hierarchical-prior Dawid–Skene (hyperparameters: ``strength``, ``skill_prior``,
    ``base_diag``, ``base_off``, ``n_iter``, ``tol``, ``class_prior_tasks``,
    ``random_state`` (unused))."""

    def __init__(
        self, *, strength=2.0, skill_prior=2.0, base_diag=1.0, base_off=0.1, n_iter=100,
        tol=1e-6, class_prior_tasks=10.0, random_state=None,
    ):
        self.class_prior_tasks = class_prior_tasks
        self.strength = strength
        self.skill_prior = skill_prior
        self.base_diag = base_diag
        self.base_off = base_off
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    def _posterior(self, index, probas, mask):
        counts = index.confusion_counts(probas)
        base = diagonal_prior(index.n_classes, self.base_diag, self.base_off)
        mean, population = prior_mean(counts, base, self.skill_prior)
        alpha = self.strength * mean + counts
        errors = alpha / alpha.sum(axis=-1, keepdims=True)
        # symmetric Dirichlet prior on class proportions worth ``class_prior_tasks``
        # pseudo-tasks per class: it keeps small jobs near uniform (where a learned prior
        # can run away and overrule unanimous items) and fades on big ones
        nu = self._class_prior + probas[mask].sum(axis=0)
        return errors, nu / nu.sum(), population

    def _fit(self, X, y, n_tasks, n_workers, n_classes):
        index = AnswerIndex(X, n_tasks, n_workers, n_classes)
        mask = task_mask(X, y, n_tasks)
        init = mv_init(X, y, n_tasks, n_classes)
        self._class_prior = 1.0 + self.class_prior_tasks

        def m_step(probas):
            errors, priors, _ = self._posterior(index, probas, mask)
            return np.log(errors), np.log(priors), 0.0

        probas = self._run_em(index, X, y, m_step, init)
        self.errors_, self.priors_, self.population_errors_ = self._posterior(index, probas, mask)
        self.probas_ = probas
        self._set_skills_from_errors()
