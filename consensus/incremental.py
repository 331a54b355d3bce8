"""Cheap posterior update for one new answer, on a fitted confusion model.

After a model with ``errors_`` (Dawid–Skene, one-coin DS, IBCC, GLAD, MACE, auto) has
been fitted, the posterior of a single item after one more answer ``(worker, label)`` is,
by Bayes' rule with the worker models held fixed::

    log p(z | answers + new) = log p(z | answers) + log errors_[worker, z, label] + const

which is O(n_classes) -- cheap enough to run on every submission (e.g. to stop
collecting answers once an item is confident).  Folding the answers of an item one by
one from the class prior gives exactly the E step of a full refit with frozen worker
models (tested).  A worker code the model has never seen uses the answer-weighted
pooled confusion matrix.

>>> import numpy as np
>>> from consensus import DawidSkene, update_posterior
>>> X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 0], [1, 1, 0], [2, 0, 1], [2, 1, 0]])
>>> model = DawidSkene().fit(X)
>>> p = update_posterior(model, None, worker=0, label=1)   # from the class prior
>>> p = update_posterior(model, p, worker=1, label=1)
>>> int(p.argmax()), bool(abs(p.sum() - 1) < 1e-12)
(1, True)
"""

from __future__ import annotations

import numpy as np

from .errors import ConsensusError, InvalidAnswers, NotFittedError

__all__ = ["update_posterior"]


def _worker_log_row(model, worker, label):
    errors = model.errors_
    if worker < errors.shape[0]:
        row = errors[worker, :, label]
    else:
        row = model._pooled_errors()[:, label]
    return np.log(np.maximum(row, 1e-300))


def update_posterior(model, posterior, worker, label, *, log=False):
    """Posterior of one item after one more answer ``(worker, label)``.

    ``posterior``: the item's current posterior over classes (probabilities summing to 1),
    or ``None`` to start from the model's class prior ``priors_``.  With ``log=True`` the
    input and the result are log-probabilities instead (normalised).
    """
    if not hasattr(model, "errors_"):
        if hasattr(model, "probas_"):
            raise ConsensusError(
                f"{type(model).__name__} has no per-worker confusion model (errors_); "
                "incremental updates need a confusion-based aggregator"
            )
        raise NotFittedError(f"{type(model).__name__} is not fitted yet; call fit first")
    k = model.errors_.shape[1]
    worker, label = int(worker), int(label)
    if worker < 0:
        raise InvalidAnswers(f"worker code must be >= 0, got {worker}")
    if not 0 <= label < k:
        raise InvalidAnswers(f"label code {label} is outside 0..{k - 1}")
    if posterior is None:
        log_p = np.log(np.maximum(model.priors_, 1e-300))
    else:
        p = np.asarray(posterior, dtype=np.float64)
        if p.shape != (k,):
            raise InvalidAnswers(f"posterior must have shape ({k},), got {p.shape}")
        if not np.all(np.isfinite(p) | (log & (p == -np.inf))):
            raise InvalidAnswers("posterior contains NaN or infinity")
        log_p = p if log else np.log(np.maximum(p, 1e-300))
    log_p = log_p + _worker_log_row(model, worker, label)
    log_p -= log_p.max()
    log_p -= np.log(np.exp(log_p).sum())  # log-sum-exp normalisation, max-shifted
    return log_p if log else np.exp(log_p)
