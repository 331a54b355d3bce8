"""Frozen worker models: what a fitted aggregator knows about workers, as plain arrays.

A platform that decides items one at a time must decide each from a fixed, recorded state —
never from whatever model a process happens to hold in memory — so that any process, and a
replay years later, reaches the same decision. :class:`FrozenModel` is that state:

* ``confusion`` (Dawid–Skene, one-coin DS, IBCC, GLAD, MACE, auto): the class prior and each
  worker's confusion matrix; an item's posterior is the E step with the workers held fixed,
  ``log p(z) + Σ log errors[w, z, l]``, max-shifted and normalised (log-sum-exp). A worker the
  fit never saw gets the answer-weighted pooled confusion matrix.
* ``weighted_vote`` (Wawa): vote shares with each answer weighted by its worker's skill; an
  unseen worker gets the mean skill; all-zero weights fall back to plain shares.
* ``vote`` (majority vote): plain vote shares; nothing is fitted.

``to_bytes``/``from_bytes`` round-trip the arrays exactly (float64 in an ``.npz``), so the
posterior computed from a stored model is bit-for-bit the one computed when it was stored.

>>> import numpy as np
>>> from consensus import DawidSkene
>>> X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 0], [1, 1, 0], [2, 0, 1], [2, 1, 0]])
>>> frozen = FrozenModel.from_fitted(DawidSkene().fit(X))
>>> p = frozen.posterior([0, 1], [1, 1])
>>> int(p.argmax()), bool(abs(p.sum() - 1) < 1e-12)
(1, True)
>>> FrozenModel.from_bytes(frozen.to_bytes()).posterior([0, 1], [1, 1]).tolist() == p.tolist()
True
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._base import ConfusionAggregator
from .errors import InvalidAnswers, NotFittedError
from .majority_vote import MajorityVote
from .wawa import Wawa

__all__ = ["FrozenModel"]

KINDS = ("confusion", "weighted_vote", "vote")


@dataclass(frozen=True, eq=False)
class FrozenModel:
    """Worker models frozen from a fit (see the module docstring)."""

    kind: str
    n_classes: int
    priors: np.ndarray  # (K,)
    errors: np.ndarray | None = None  # (W, K, K), confusion only
    pooled: np.ndarray | None = None  # (K, K), confusion only: for workers the fit never saw
    weights: np.ndarray | None = None  # (W,), weighted_vote only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidAnswers(f"unknown frozen model kind {self.kind!r}")

    @property
    def n_workers(self) -> int:
        if self.errors is not None:
            return int(self.errors.shape[0])
        return 0 if self.weights is None else int(self.weights.size)

    @classmethod
    def votes(cls, n_classes: int) -> FrozenModel:
        """Plain majority vote over `n_classes`: nothing to fit."""
        return cls("vote", int(n_classes), np.full(int(n_classes), 1.0 / n_classes))

    @classmethod
    def from_fitted(cls, model) -> FrozenModel:
        """Freeze a fitted aggregator of this package."""
        if not hasattr(model, "probas_"):
            raise NotFittedError(f"{type(model).__name__} is not fitted yet; call fit first")
        k = int(model.n_classes_)
        if isinstance(model, ConfusionAggregator) or hasattr(model, "errors_"):
            errors = np.array(model.errors_, dtype=np.float64)
            pooled = model._pooled_errors() if hasattr(model, "_pooled_errors") else errors.mean(axis=0)
            return cls("confusion", k, np.array(model.priors_, dtype=np.float64), errors,
                       np.array(pooled, dtype=np.float64))
        if isinstance(model, Wawa):
            return cls("weighted_vote", k, np.full(k, 1.0 / k), weights=np.array(model.skills_, dtype=np.float64))
        if isinstance(model, MajorityVote):
            return cls.votes(k)
        raise InvalidAnswers(f"{type(model).__name__} has no frozen form")

    def posterior(self, workers: Sequence[int], labels: Sequence[int]) -> np.ndarray:
        """One item's posterior over classes from its answers: worker codes (``-1`` or any code
        the fit never saw: an unseen worker) and label codes in ``0..K-1``."""
        workers = np.asarray(workers, dtype=np.int64).reshape(-1)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        k = self.n_classes
        if workers.shape != labels.shape:
            raise InvalidAnswers("workers and labels must have the same length")
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise InvalidAnswers(f"label codes must be in 0..{k - 1}")
        seen = (workers >= 0) & (workers < self.n_workers)
        if self.kind == "confusion":
            log_p = np.log(np.clip(self.priors, 1e-300, None))
            rows = self.pooled[:, labels].T.copy()  # (n_answers, K): P(label | class) per answer
            rows[seen] = self.errors[workers[seen], :, labels[seen]]
            log_p = log_p + np.log(np.clip(rows, 1e-300, None)).sum(axis=0)
            log_p -= log_p.max()
            p = np.exp(log_p)
            return p / p.sum()
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        if self.kind == "weighted_vote":
            mean = float(np.nanmean(self.weights)) if self.weights.size else 1.0
            w = np.full(labels.size, mean)
            w[seen] = self.weights[workers[seen]]
            weighted = np.bincount(labels, weights=w, minlength=k).astype(np.float64)
            if weighted.sum() > 0:
                counts = weighted
        total = counts.sum()
        return counts / total if total > 0 else np.full(k, 1.0 / k)

    def to_bytes(self) -> bytes:
        arrays = {"priors": self.priors, "kind": np.array(self.kind), "n_classes": np.array(self.n_classes)}
        for name in ("errors", "pooled", "weights"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = value
        out = io.BytesIO()
        np.savez_compressed(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FrozenModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            get = {name: stored[name] for name in stored.files}
        return cls(str(get["kind"]), int(get["n_classes"]), get["priors"], get.get("errors"),
                   get.get("pooled"), get.get("weights"))

    def allclose(self, other: FrozenModel, *, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
        """Same kind and classes, and every array equal within tolerance (for replays that
        refit on another machine, where the last floating-point bits may differ)."""
        if (self.kind, self.n_classes) != (other.kind, other.n_classes):
            return False
        for name in ("priors", "errors", "pooled", "weights"):
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None):
                return False
            if a is not None and (a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol)):
                return False
        return True
