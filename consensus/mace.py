"""MACE: Multi-Annotator Competence Estimation.

Model (Hovy, Berg-Kirkpatrick, Vaswani & Hovy, "Learning Whom to Trust with MACE",
NAACL 2013)::

    z_t ~ Categorical(priors)
    s_tw ~ Bernoulli(1 - theta_w)             is worker w spamming on task t?
    l_tw = z_t if s_tw == 0 else ~ Categorical(xi_w)   (the spammer's own label habits)

so ``P(l | z = k) = theta_w [l = k] + (1 - theta_w) xi_w[l]`` -- a confusion matrix with
two parameters per worker that captures both uniform spammers and always-the-same-label
spammers.  Fitted by variational Bayes as the paper recommends, with
``theta_w ~ Beta(a, b)`` and ``xi_w ~ Dirichlet(gamma)``, starting from majority vote
(deterministic, instead of the paper's random restarts).

Per answer, the expected "not spamming" indicator is
``P(z_t = l_a) * T / (T + (1 - T) X[l_a])`` with ``T = exp E[log theta_w]`` and
``X = exp E[log xi_w]``: all vectorized with gathers and ``np.bincount``.  Numerics:
digamma of positive pseudo-counts is finite; the E step is a max-shifted log-sum-exp
through :class:`consensus._base.AnswerIndex`.

Example:

>>> import numpy as np
>>> from consensus import MACE
>>> X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 0], [1, 0, 0], [1, 1, 0], [1, 2, 0]])
>>> MACE().fit_predict(X).tolist()
[1, 0]
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from ._base import AnswerIndex, ConfusionAggregator, task_mask
from .ibcc import dirichlet_expected_log

__all__ = ["MACE"]


def _confusion(theta, xi):
    """(W, K, K): theta on the diagonal plus (1 - theta) * xi in every row."""
    k = xi.shape[1]
    errors = (1.0 - theta)[:, None, None] * np.repeat(xi[:, None, :], k, axis=1)
    errors += theta[:, None, None] * np.eye(k)
    return errors


class MACE(ConfusionAggregator):
    """Variational MACE (hyperparameters: ``a``, ``b`` (Beta prior on theta), ``gamma``
    (Dirichlet prior on xi), ``n_iter``, ``tol``)."""

    title = "MACE"  # how the platform offers it

    def __init__(self, *, a=0.5, b=0.5, gamma=0.5, n_iter=100, tol=1e-6):
        self.a = a
        self.b = b
        self.gamma = gamma
        self.n_iter = n_iter
        self.tol = tol

    def _fit(self, X, y, n_tasks, n_workers, n_classes):
        index = AnswerIndex(X, n_tasks, n_workers, n_classes)
        mask = task_mask(X, y, n_tasks)
        w, l = X[:, 1], X[:, 2]
        n_w = np.bincount(w, minlength=n_workers).astype(float)
        state = {}

        def posterior(probas):
            # q(theta), q(xi) given q(z), using the current "not spamming" responsibilities
            if "log_t" in state:
                t_ = np.exp(state["log_t"])[w]
                s_ = np.exp(state["log_s"])[w] * np.exp(state["log_xi"][w, l])
                keep = probas[X[:, 0], l] * t_ / (t_ + s_)
            else:  # first pass: trust the majority vote
                keep = probas[X[:, 0], l]
            good = np.bincount(w, weights=keep, minlength=n_workers)
            spam_labels = np.bincount(
                w * n_classes + l, weights=1.0 - keep, minlength=n_workers * n_classes
            ).reshape(n_workers, n_classes)
            theta_ab = np.column_stack([self.a + good, self.b + n_w - good])
            xi_g = self.gamma + spam_labels
            nu = 1.0 + probas[mask].sum(axis=0)
            return theta_ab, xi_g, nu

        def vb_step(probas):
            theta_ab, xi_g, nu = posterior(probas)
            e_log = dirichlet_expected_log(theta_ab)
            state["log_t"], state["log_s"] = e_log[:, 0], e_log[:, 1]
            state["log_xi"] = dirichlet_expected_log(xi_g)
            # exp E[log] parameters define a sub-normalised confusion; its log is exact VB
            conf = np.exp(state["log_s"])[:, None, None] * np.exp(state["log_xi"])[:, None, :]
            conf = conf + np.exp(state["log_t"])[:, None, None] * np.eye(n_classes)
            return np.log(conf), digamma(nu) - digamma(nu.sum()), 0.0

        probas = self._run_em(index, X, y, vb_step)
        theta_ab, xi_g, nu = posterior(probas)
        self.competence_ = theta_ab[:, 0] / theta_ab.sum(axis=1)
        self.spam_labels_ = xi_g / xi_g.sum(axis=1, keepdims=True)
        self.errors_ = _confusion(self.competence_, self.spam_labels_)
        self.priors_ = nu / nu.sum()
        self.probas_ = probas
        self._set_skills_from_errors()
