"""Shared validation, sparse answer indexing and the aggregator base class.

Conventions every aggregator follows (design.md section 3):

* ``X`` is an integer array ``(n_answers, 3)`` of ``(task, worker, label)`` codes,
  normally from :func:`consensus.encode_answers`.  ``n_tasks = X[:, 0].max() + 1`` and
  ``n_workers = X[:, 1].max() + 1``: a task code with no answers still gets a row (its
  posterior is the fitted class prior, uniform for vote-based methods) and a worker code
  with no answers still gets a skill (the prior / pooled value).
* ``y`` (optional gold) is ``(n_tasks,)`` with ``-1`` for unknown.  A shorter ``y`` is
  padded with ``-1``; a known gold label for a task code ``>= n_tasks`` is an error.
* ``n_classes`` defaults to ``max(label) + 1`` over answers and gold.
* Ties are broken deterministically towards the **lowest class code** (``np.argmax``);
  no aggregator uses randomness unless its docstring says so.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from .errors import InvalidAnswers, NotFittedError

__all__ = ["BaseAggregator", "ConfusionAggregator", "check_answers", "check_gold"]


# --------------------------------------------------------------------------- validation


def check_answers(X, n_classes=None):
    """Validate answers and return ``(X, n_tasks, n_workers, n_classes)``.

    ``X`` comes back as a C-contiguous int64 array.  Raises :class:`InvalidAnswers`
    (a ``ValueError``) with a message that says what is wrong.
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:  # ragged lists, ...
        raise InvalidAnswers(f"answers must be an array of shape (n_answers, 3): {exc}") from exc
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InvalidAnswers(
            f"answers must have shape (n_answers, 3) of (task, worker, label) codes, "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise InvalidAnswers("no answers: need at least one (task, worker, label) row")
    _check_integral(arr, "answer codes")
    if np.any(arr < 0):
        col = ("task", "worker", "label")[int(np.argwhere(arr < 0)[0, 1])]
        raise InvalidAnswers(f"answer codes must be >= 0; found a negative {col} code")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    n_tasks = int(out[:, 0].max()) + 1
    n_workers = int(out[:, 1].max()) + 1
    max_label = int(out[:, 2].max())
    n_classes = _check_n_classes(n_classes, max_label)
    return out, n_tasks, n_workers, n_classes


def _check_integral(arr, what):
    """Integer dtype, or floats that are finite whole numbers; else InvalidAnswers."""
    if arr.dtype.kind not in "iuf":
        raise InvalidAnswers(f"{what} must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidAnswers(f"{what} contain NaN or infinity")
        if np.any(arr != np.round(arr)):
            raise InvalidAnswers(f"{what} must be whole numbers")


def _check_n_classes(n_classes, max_label):
    if n_classes is None:
        return max_label + 1
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral):
        raise InvalidAnswers(f"n_classes must be an integer, got {n_classes!r}")
    n_classes = int(n_classes)
    if n_classes < 1:
        raise InvalidAnswers(f"n_classes must be >= 1, got {n_classes}")
    if max_label >= n_classes:
        raise InvalidAnswers(f"label code {max_label} is >= n_classes={n_classes}")
    return n_classes


def check_gold(y, n_tasks, n_classes):
    """Validate gold labels; return int64 ``(n_tasks,)`` with ``-1`` for unknown, or None."""
    if y is None:
        return None
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InvalidAnswers(f"gold y must be 1-D (n_tasks,), got shape {arr.shape}")
    if arr.size:
        _check_integral(arr, "gold y (-1 for unknown)")
    arr = arr.astype(np.int64)
    if np.any(arr < -1):
        raise InvalidAnswers("gold y codes must be >= 0, or -1 for unknown")
    if np.any(arr >= n_classes):
        raise InvalidAnswers(f"gold label code {int(arr.max())} is >= n_classes={n_classes}")
    if arr.size > n_tasks:
        extra = np.flatnonzero(arr[n_tasks:] >= 0)
        if extra.size:
            raise InvalidAnswers(
                f"gold given for task code {n_tasks + int(extra[0])} >= n_tasks={n_tasks} "
                f"(no answers for it)"
            )
        arr = arr[:n_tasks]
    out = np.full(n_tasks, -1, dtype=np.int64)
    out[: arr.size] = arr
    return out


def fit_inputs(X, y, n_classes):
    """Validate ``X`` and ``y`` together (gold labels may raise the inferred n_classes)."""
    X, n_tasks, n_workers, k = check_answers(X, n_classes)
    if y is not None and n_classes is None:
        gold = np.asarray(y)
        if gold.size and gold.dtype.kind in "iuf" and np.all(np.isfinite(gold)):
            k = max(k, int(gold.max()) + 1)
    return X, check_gold(y, n_tasks, k), n_tasks, n_workers, k


# --------------------------------------------------------------------------- numerics


def normalize_log(log_p):
    """Row-normalise log-probabilities into probabilities (max-shifted, so no overflow)."""
    log_p = log_p - log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p)
    p /= p.sum(axis=1, keepdims=True)
    return p


def clamp_gold(probas, y):
    """Overwrite rows with known gold by the one-hot gold label (in place)."""
    if y is not None:
        known = y >= 0
        if known.any():
            probas[known] = 0.0
            probas[np.flatnonzero(known), y[known]] = 1.0
    return probas


def vote_counts(X, n_tasks, n_classes, weights=None):
    """(n_tasks, n_classes) sum of ``weights`` (default 1) per task and chosen label."""
    flat = X[:, 0] * n_classes + X[:, 2]
    counts = np.bincount(flat, weights=weights, minlength=n_tasks * n_classes)
    return counts.reshape(n_tasks, n_classes).astype(np.float64, copy=False)


class AnswerIndex:
    """Sparse one-hot view of the answers used by every E and M step.

    ``A`` is a CSR matrix ``(n_tasks, n_workers * n_classes)`` whose entry
    ``[t, w * K + l]`` counts the answers of worker ``w`` on task ``t`` with label ``l``.
    Because an answer's likelihood under a confusion model depends only on
    ``(worker, label)``, both EM steps become one sparse-dense product each:

    * E step: ``log p(answers of t | z=k) = A @ L`` with ``L[w*K+l, k] = log pi_w[k, l]``;
    * M step: ``counts[w, k, l] = (A.T @ posterior)[w*K+l, k]``.

    That is O(n_answers * K) per iteration with no Python loop over answers.
    """

    def __init__(self, X, n_tasks, n_workers, n_classes):
        self.n_tasks, self.n_workers, self.n_classes = n_tasks, n_workers, n_classes
        col = X[:, 1] * n_classes + X[:, 2]
        data = np.ones(X.shape[0], dtype=np.float64)
        self.A = sp.csr_matrix(
            (data, (X[:, 0], col)), shape=(n_tasks, n_workers * n_classes)
        )
        self.A.sum_duplicates()
        self.AT = self.A.T.tocsr()

    def task_loglik(self, log_conf):
        """``(n_tasks, K)`` sum over each task's answers of ``log_conf[w, :, l]``."""
        k = self.n_classes
        L = np.ascontiguousarray(log_conf.transpose(0, 2, 1).reshape(self.n_workers * k, k))
        return np.asarray(self.A @ L)

    def confusion_counts(self, probas):
        """``(n_workers, K_true, K_label)`` expected answer counts given task posteriors."""
        k = self.n_classes
        M = np.asarray(self.AT @ probas)  # rows (w, l), columns true class
        return M.reshape(self.n_workers, k, k).transpose(0, 2, 1).copy()


# --------------------------------------------------------------------------- base classes


class BaseAggregator:
    """scikit-learn style contract shared by all aggregators.

    Subclasses implement ``_fit(X, y, n_tasks, n_workers, n_classes)`` which must set
    ``probas_`` (before gold clamping is fine: the base clamps), ``skills_``, ``priors_``,
    ``n_iter_`` and ``loss_history_``.  ``labels_`` is derived here (argmax, lowest class
    code wins ties).
    """

    def __init__(self):
        pass

    # sklearn-style introspection, handy for the registry / CLI
    def get_params(self):
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def fit(self, X, y=None, *, n_classes=None):
        X, y, n_tasks, n_workers, k = fit_inputs(X, y, n_classes)
        self.n_tasks_, self.n_workers_, self.n_classes_ = n_tasks, n_workers, k
        self._fit(X, y, n_tasks, n_workers, k)
        probas = np.array(self.probas_, dtype=np.float64)
        # a task code with no answers (and no gold) gets exactly the fitted class prior
        probas[~task_mask(X, y, n_tasks)] = self.priors_
        self.probas_ = clamp_gold(probas, y)
        self.labels_ = self.probas_.argmax(axis=1)
        return self

    def fit_predict(self, X, y=None, *, n_classes=None):
        return self.fit(X, y, n_classes=n_classes).labels_

    def fit_predict_proba(self, X, y=None, *, n_classes=None):
        return self.fit(X, y, n_classes=n_classes).probas_

    def _check_fitted(self):
        if not hasattr(self, "probas_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit first")

    def predict_proba(self, X=None):
        """Posteriors on fitted state.

        With ``X=None`` return ``probas_``.  With new answers ``X`` (task codes of a new
        batch, worker codes of the fitted model), score them with the fitted worker
        models and **without** refitting.  Workers unseen at fit time get the pooled
        worker model.
        """
        self._check_fitted()
        if X is None:
            return self.probas_
        X, n_tasks, _, _ = check_answers(X, self.n_classes_)
        return self._predict_proba(X, n_tasks)

    def predict(self, X=None):
        self._check_fitted()
        if X is None:
            return self.labels_
        return self.predict_proba(X).argmax(axis=1)

    def _predict_proba(self, X, n_tasks):  # pragma: no cover - overridden
        raise NotImplementedError


class ConfusionAggregator(BaseAggregator):
    """Base for models that end up as per-worker confusion matrices ``errors_``.

    ``errors_[w, k, l] = P(worker w answers l | true class k)``; ``priors_`` is the class
    prior.  ``predict_proba(X)`` and :func:`consensus.update_posterior` only need these.
    """

    def _pooled_errors(self):
        counts = getattr(self, "_worker_weight", None)
        if counts is None or counts.sum() <= 0:
            return self.errors_.mean(axis=0)
        return np.tensordot(counts / counts.sum(), self.errors_, axes=1)

    def _predict_proba(self, X, n_tasks):
        k = self.n_classes_
        errors = self.errors_
        if X[:, 1].max() >= errors.shape[0]:
            extra = int(X[:, 1].max()) + 1 - errors.shape[0]
            errors = np.concatenate([errors, np.repeat(self._pooled_errors()[None], extra, 0)])
        index = AnswerIndex(X, n_tasks, errors.shape[0], k)
        log_p = np.log(np.clip(self.priors_, 1e-300, None)) + index.task_loglik(
            np.log(np.clip(errors, 1e-300, None))
        )
        return normalize_log(log_p)

    def _run_em(self, index, X, y, m_step, init=None):
        """Run :func:`run_em` from majority vote; record ``n_iter_``, ``loss_history_``."""
        if init is None:
            init = mv_init(X, y, index.n_tasks, index.n_classes)
        probas, self.n_iter_, self.loss_history_ = run_em(
            index, init, y, m_step, n_iter=self.n_iter, tol=self.tol
        )
        self._worker_weight = np.bincount(X[:, 1], minlength=index.n_workers).astype(float)
        return probas

    def _set_skills_from_errors(self):
        # accuracy under the class prior: P(answer == truth) for a random task
        diag = np.diagonal(self.errors_, axis1=1, axis2=2)
        self.skills_ = np.clip(diag @ self.priors_, 0.0, 1.0)


# --------------------------------------------------------------------------- EM driver


def task_mask(X, y, n_tasks):
    """Tasks that carry information: at least one answer, or a gold label."""
    mask = np.bincount(X[:, 0], minlength=n_tasks) > 0
    if y is not None:
        mask |= y >= 0
    return mask


def run_em(index, probas, y, m_step, *, n_iter, tol):
    """Alternate ``m_step(probas) -> (log_conf, log_prior, log_penalty)`` and the E step.

    Numerics: the E step adds log-probabilities (``log prior + A @ log confusion``) and
    normalises with a max-shift (log-sum-exp), so hundreds of answers per task cannot
    underflow.  Every log confusion is taken of a strictly positive matrix (the M steps
    smooth their counts), so no ``log(0)`` appears.  The objective tracked in the returned
    history is the negative (penalised) marginal log-likelihood per answer; iteration
    stops when it changes by less than ``tol`` (relative).
    """
    history = []
    n_answers = max(index.A.sum(), 1.0)
    it = 0
    for it in range(1, n_iter + 1):
        log_conf, log_prior, penalty = m_step(probas)
        log_post = log_prior + index.task_loglik(log_conf)
        shift = log_post.max(axis=1, keepdims=True)
        norm = np.log(np.exp(log_post - shift).sum(axis=1, keepdims=True)) + shift
        probas = clamp_gold(np.exp(log_post - norm), y)
        history.append(float(-(norm.sum() + penalty) / n_answers))
        if it > 1 and abs(history[-2] - history[-1]) <= tol * max(1.0, abs(history[-1])):
            break
    return probas, it, history


def vote_shares(X, n_tasks, n_classes, weights=None):
    """Row-normalised (weighted) vote counts; tasks without votes are uniform."""
    counts = vote_counts(X, n_tasks, n_classes, weights)
    total = counts.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    counts[empty] = 1.0
    total[empty] = n_classes
    return counts / total


def mv_init(X, y, n_tasks, n_classes):
    """Majority-vote shares with gold clamped: the deterministic start of every EM."""
    return clamp_gold(vote_shares(X, n_tasks, n_classes), y)
