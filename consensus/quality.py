"""Worker quality: gold accuracy, agreement with consensus, Beta-posterior skill, spammer score."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.stats import beta

from consensus._base import check_answers, check_gold
from consensus.errors import InvalidAnswers


@dataclass(frozen=True, eq=False)
class WorkerQuality:
    """Per-worker scores: every field is a numpy array of length ``n_workers`` (index = worker code).

    NaN marks an undefined score (no gold answers for ``gold_accuracy``).
    """

    n_answers: np.ndarray  # int, answers given
    gold_total: np.ndarray  # int, answers on tasks with gold
    gold_correct: np.ndarray  # int, of which correct
    gold_accuracy: np.ndarray  # float, gold_correct / gold_total (NaN if no gold)
    agreement: np.ndarray  # float, share of answers equal to the consensus label
    skill: np.ndarray  # float, posterior mean P(answer is correct)
    skill_low: np.ndarray  # float, lower end of the equal-tailed credible interval
    skill_high: np.ndarray  # float, upper end
    spammer_score: np.ndarray  # float in [0, 1]: 0 = answers independent of the truth

    def to_dict(self) -> dict[str, np.ndarray]:
        """The fields as a dict of equal-length arrays (e.g. for a table or CSV)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def spammer_score(errors) -> np.ndarray:
    """Raykar & Yu spammer score of confusion matrices ``(..., K, K)`` (rows: true class).

    A spammer's answer does not depend on the true class, so all rows of their
    confusion matrix are equal (a rank-one matrix ``1 a^T``). Raykar & Yu,
    "Eliminating spammers and ranking annotators for crowdsourced labeling
    tasks", JMLR 13, 2012, measure the distance from that set as
    ``S = 1/(K(K-1)) sum_{c<c'} sum_k (A[c,k] - A[c',k])^2``. We return
    ``sqrt(S)``, which for K = 2 is exactly their binary score
    ``|sensitivity + specificity - 1|``: 0 for a spammer, 1 for a perfect (or
    perfectly inverted) worker.

    >>> spammer_score([[0.9, 0.1], [0.2, 0.8]]).round(6).item()
    0.7
    """
    A = np.asarray(errors, dtype=float)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise InvalidAnswers(f"confusion matrices must have shape (..., K, K), got {A.shape}")
    k = A.shape[-1]
    if k < 2:
        return np.zeros(A.shape[:-2])
    # sum over ordered pairs c != c' counts each unordered pair twice
    diff = A[..., :, None, :] - A[..., None, :, :]
    S = (diff**2).sum(axis=(-3, -2, -1)) / 2.0 / (k * (k - 1))
    return np.sqrt(S)


def worker_quality(X, probas, *, y=None, errors=None, n_workers: int | None = None,
                   credibility: float = 0.95, prior: tuple[float, float] = (1.0, 1.0)
                   ) -> WorkerQuality:
    """Score every worker from encoded answers and a consensus posterior.

    Parameters
    ----------
    X : int (n_answers, 3) of ``(task, worker, label)`` codes
    probas : (n_tasks, n_classes) consensus posterior (e.g. an aggregator's ``probas_``)
    y : optional gold ``(n_tasks,)`` with -1 for unknown; where known it replaces the posterior
    errors : optional ``(n_workers, K, K)`` confusion matrices (``errors_`` of a model);
        otherwise they are estimated from soft counts ``sum probas[task, true] * [label]``
        with ``prior[0]`` pseudo-counts per cell
    credibility : mass of the equal-tailed credible interval (0.95 -> 2.5% and 97.5% quantiles)
    prior : ``(a, b)`` of the Beta prior on skill (default uniform)

    Skill model: each answer is correct with the worker's probability ``p``; a
    Beta(a, b) prior updated with the expected numbers of correct and incorrect
    answers (soft counts ``sum probas[task, label]``, gold rows being one-hot)
    gives the posterior Beta(a + correct, b + incorrect); ``skill`` is its mean
    and ``skill_low``/``skill_high`` its quantiles via ``scipy.stats.beta.ppf``
    (the Bayesian estimate of a binomial proportion, e.g. Gelman et al.,
    Bayesian Data Analysis, ch. 2).

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 0], [1, 1, 1]])
    >>> q = worker_quality(X, np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> q.agreement.tolist(), q.skill.round(3).tolist()
    ([1.0, 0.5], [0.75, 0.5])
    """
    X, n_tasks, nw, _ = check_answers(X)
    P = np.asarray(probas, dtype=float)
    if P.ndim != 2 or P.shape[0] < n_tasks or not np.all(np.isfinite(P)) or np.any(P < 0):
        raise InvalidAnswers(
            f"probas must be a finite non-negative (n_tasks >= {n_tasks}, n_classes) array, "
            f"got shape {P.shape}"
        )
    k = P.shape[1]
    if X[:, 2].max() >= k:
        raise InvalidAnswers(f"label code {int(X[:, 2].max())} is >= n_classes={k} of probas")
    if not 0 < credibility < 1:
        raise InvalidAnswers(f"credibility must be in (0, 1), got {credibility}")
    a0, b0 = prior
    if not (a0 > 0 and b0 > 0):
        raise InvalidAnswers(f"prior must be two positive numbers, got {prior}")
    n_workers = max(nw, n_workers or 0)
    y = check_gold(y, P.shape[0], k)
    if y is None:
        y = np.full(P.shape[0], -1, dtype=np.int64)
    task, worker, label = X[:, 0], X[:, 1], X[:, 2]

    P = P / np.where(P.sum(axis=1, keepdims=True) > 0, P.sum(axis=1, keepdims=True), 1.0)
    known = y >= 0
    P[known] = 0.0
    P[np.flatnonzero(known), y[known]] = 1.0

    def count(per_answer=None):
        return np.bincount(worker, weights=per_answer, minlength=n_workers)

    n_answers = count().astype(np.int64)
    on_gold = known[task]
    gold_total = np.bincount(worker[on_gold], minlength=n_workers)
    gold_correct = np.bincount(worker[on_gold & (label == y[task])], minlength=n_workers)
    consensus = P.argmax(axis=1)
    agree = count((label == consensus[task]).astype(float))

    correct = count(P[task, label])
    a, b = a0 + correct, b0 + (n_answers - correct)
    tail = (1.0 - credibility) / 2.0

    if errors is None:
        conf = np.full((n_workers, k, k), a0)  # pseudo-counts keep empty rows uniform
        np.add.at(conf, (worker, slice(None), label), P[task])
        errors = conf / conf.sum(axis=2, keepdims=True)
    else:
        errors = np.asarray(errors, dtype=float)
        if errors.shape[0] < n_workers or errors.shape[1:] != (k, k):
            raise InvalidAnswers(
                f"errors must have shape (n_workers={n_workers}, {k}, {k}), got {errors.shape}"
            )

    with np.errstate(divide="ignore", invalid="ignore"):
        return WorkerQuality(
            n_answers=n_answers,
            gold_total=gold_total.astype(np.int64),
            gold_correct=gold_correct.astype(np.int64),
            gold_accuracy=np.where(gold_total > 0, gold_correct / gold_total, np.nan),
            agreement=np.where(n_answers > 0, agree / n_answers, np.nan),
            skill=a / (a + b),
            skill_low=beta.ppf(tail, a, b),
            skill_high=beta.ppf(1.0 - tail, a, b),
            spammer_score=spammer_score(errors[:n_workers]),
        )
