"""``auto``: the platform default -- hierarchical Bayesian Dawid–Skene (variational Bayes).

Model (IBCC of Kim & Ghahramani 2012 with an empirical-Bayes population prior, in the
spirit of the "community" and hierarchical models of Venanzi et al., WWW 2014, and of
EBCC, Li et al., ICML 2019)::

    kappa ~ Dirichlet(1)                             class proportions
    pi_w[k, :] ~ Dirichlet(strength * m[k, :])       worker confusion, shrunk to m
    z_t ~ Categorical(kappa),   l_tw | z_t = k ~ Categorical(pi_w[k, :])

``m`` is the *population* confusion matrix, re-estimated every iteration from the
pooled expected counts of all workers plus a diagonal-leaning base prior
(``base_diag`` extra pseudo-counts on the diagonal per row, ``base_off`` everywhere).
So:

* a worker with few answers behaves like the average worker (no collapse on sparse
  workers, sensible with 1-3 answers per item);
* a worker with many answers gets its own full confusion matrix: spammers become
  uninformative, "always the same label" workers and adversarial (label-permuting)
  workers are learned and even used;
* variational Bayes uses ``E[log pi]`` rather than ``log E[pi]``, which discounts
  uncertain (sparse) workers further.

Initialised from majority-vote shares; no randomness, so ``random_state`` is accepted
only for interface symmetry and ignored (results are deterministic).

Safety net: if the final consensus agrees *less* with the workers' answers
(posterior-weighted agreement) than majority vote does, by more than ``fallback_margin``,
the fit is judged degenerate and majority vote is returned instead (``fallback_`` says
so).  On healthy data this never triggers: EM only moves away from MV when the worker
models explain the answers better.

Example:

>>> import numpy as np
>>> from consensus import Auto
>>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 0], [1, 0, 0], [1, 1, 0], [1, 2, 0]])
>>> Auto().fit_predict(X).tolist()
[1, 0]
"""

from __future__ import annotations

import numpy as np

from ._base import AnswerIndex, ConfusionAggregator, mv_init, run_em, task_mask
from .ibcc import diagonal_prior, dirichlet_expected_log

__all__ = ["Auto"]


def _eb_strength(counts, mean, per_row=False, init=1.0, n_steps=20):
    """Empirical-Bayes Dirichlet-multinomial precision (Minka 2000 fixed point)."""
    from scipy.special import digamma
    n = counts.sum(-1)  # (W, K)
    s = np.full(counts.shape[1], float(np.mean(init))) if per_row else float(np.mean(init))
    active = n > 0
    for _ in range(n_steps):
        sk = s if np.ndim(s) == 0 else s[None, :]
        a = sk[..., None] * mean if np.ndim(s) else s * mean
        num = (mean * (digamma(counts + a) - digamma(a))).sum(-1) * active
        den = (digamma(n + sk) - digamma(sk)) * active
        if per_row:
            new = s * num.sum(0) / np.maximum(den.sum(0), 1e-12)
        else:
            new = s * num.sum() / max(den.sum(), 1e-12)
        new = np.clip(new, 1e-2, 1e4)
        if np.allclose(new, s, rtol=1e-4):
            s = new
            break
        s = new
    return s


class Auto(ConfusionAggregator):
    """Hierarchical VB Dawid–Skene (hyperparameters: ``strength``, ``base_diag``,
    ``base_off``, ``n_iter``, ``tol``, ``fallback_margin``, ``random_state`` (unused))."""

    def __init__(
        self, *, strength=None, base_diag=1.0, base_off=0.1, n_iter=100, tol=1e-6,
        fallback_margin=0.05, random_state=None,
    ):
        self.strength = strength
        self.base_diag = base_diag
        self.base_off = base_off
        self.n_iter = n_iter
        self.tol = tol
        self.fallback_margin = fallback_margin
        self.random_state = random_state

    def _strength(self, n_classes):
        # default: one pseudo-answer per class per row, i.e. K per confusion row
        return float(n_classes) if self.strength is None else float(self.strength)

    def _posterior_params(self, index, probas, mask):
        k = index.n_classes
        counts = index.confusion_counts(probas)
        pooled = counts.sum(axis=0) + diagonal_prior(k, self.base_diag, self.base_off)
        population = pooled / pooled.sum(axis=1, keepdims=True)
        if getattr(self, "mode", "pop") == "pop" or k == 1:
            mean = population[None]
        else:
            eye = np.eye(k, dtype=bool)
            pop_acc = np.diag(population)
            pattern = np.where(eye, 0.0, population) / np.maximum(1 - pop_acc, 1e-12)[:, None]
            overall = np.trace(pooled) / pooled.sum()
            c = getattr(self, "c", 2.0)
            n_w = counts.sum(axis=(1, 2))
            acc_w = (np.trace(counts, axis1=1, axis2=2) + c * overall) / (n_w + c)
            lg = lambda p: np.log(p) - np.log1p(-p)
            z = lg(np.clip(acc_w, 1e-6, 1 - 1e-6))[:, None] + (lg(np.clip(pop_acc, 1e-6, 1 - 1e-6)) - lg(np.clip(overall, 1e-6, 1 - 1e-6)))[None]
            acc_wk = 1 / (1 + np.exp(-z))  # (W, K)
            mean = (1 - acc_wk)[:, :, None] * pattern[None] + acc_wk[:, :, None] * eye[None]
        st = getattr(self, "eb", None)
        if st is not None:
            strength = _eb_strength(counts, mean if mean.shape[0] > 1 else np.broadcast_to(mean, counts.shape), per_row=(st == "row"), init=self._state.get("s", float(k)))
            self._state["s"] = strength
            alpha = np.asarray(strength)[..., None] * mean + counts if np.ndim(strength) else strength * mean + counts
        else:
            alpha = self._strength(k) * mean + counts
        nu = 1.0 + probas[mask].sum(axis=0)
        return alpha, nu, population

    def _fit(self, X, y, n_tasks, n_workers, n_classes):
        index = AnswerIndex(X, n_tasks, n_workers, n_classes)
        mask = task_mask(X, y, n_tasks)
        self._state = {}

        def vb_step(probas):
            alpha, nu, _ = self._posterior_params(index, probas, mask)
            if getattr(self, "vb", True):
                return dirichlet_expected_log(alpha), dirichlet_expected_log(nu), 0.0
            return np.log(alpha / alpha.sum(-1, keepdims=True)), np.log(nu / nu.sum()), 0.0

        init = mv_init(X, y, n_tasks, n_classes)
        probas, self.n_iter_, self.loss_history_ = run_em(
            index, init, y, vb_step, n_iter=self.n_iter, tol=self.tol
        )
        self.fallback_ = False
        if self.fallback_margin is not None:
            agree_em = probas[X[:, 0], X[:, 2]].mean()
            agree_mv = init[X[:, 0], X[:, 2]].mean()
            if agree_em < agree_mv - self.fallback_margin:
                probas, self.fallback_ = init, True
        alpha, nu, self.population_errors_ = self._posterior_params(index, probas, mask)
        self.errors_ = alpha / alpha.sum(axis=-1, keepdims=True)
        self.priors_ = nu / nu.sum()
        self.probas_ = probas
        self._worker_weight = np.bincount(X[:, 1], minlength=n_workers).astype(float)
        self._set_skills_from_errors()
