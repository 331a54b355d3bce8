"""Transcriptions: ROVER word-network voting, a skill-weighted medoid, and word error rate."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from consensus.errors import InvalidAnswers
from consensus.numeric import _check_codes, _check_weights


def _tokens(text) -> list[str]:
    if isinstance(text, str):
        return text.split()
    if isinstance(text, Sequence) and all(isinstance(t, str) for t in text):
        return list(text)
    raise InvalidAnswers(f"a transcript must be a string or a sequence of words, got {text!r}")


def _dp_table(sub_cost: np.ndarray, del_cost: np.ndarray, ins_cost: float) -> np.ndarray:
    """Levenshtein table ``D`` for ``n`` reference slots x ``m`` hypothesis words.

    ``sub_cost`` (n, m): cost of pairing slot i with word j; ``del_cost`` (n,): cost of
    skipping slot i; each unpaired hypothesis word costs ``ins_cost``. Rows are
    computed as vectors: the in-row insertion recurrence
    ``D[i, j] = min(D[i, j-1] + c, t[j])`` is a running minimum of ``t[j] - c*j``
    (plus ``c*j``), so there is no Python loop over columns.
    """
    n, m = sub_cost.shape
    ramp = ins_cost * np.arange(m + 1)
    D = np.empty((n + 1, m + 1))
    D[0] = ramp
    for i in range(1, n + 1):
        t = np.empty(m + 1)
        t[0] = D[i - 1, 0] + del_cost[i - 1]
        t[1:] = np.minimum(D[i - 1, 1:] + del_cost[i - 1], D[i - 1, :-1] + sub_cost[i - 1])
        D[i] = np.minimum.accumulate(t - ramp) + ramp
    return D


def edit_distance(a, b) -> int:
    """Word-level Levenshtein distance between two transcripts (strings are split on whitespace)."""
    a, b = _tokens(a), _tokens(b)
    if not a or not b:
        return max(len(a), len(b))
    vocab = {w: i for i, w in enumerate(dict.fromkeys(a + b))}
    ai = np.array([vocab[w] for w in a])
    bi = np.array([vocab[w] for w in b])
    sub = (ai[:, None] != bi[None, :]).astype(float)
    return int(round(_dp_table(sub, np.ones(len(a)), 1.0)[-1, -1]))


def word_error_rate(hypothesis, reference) -> float:
    """WER = (substitutions + deletions + insertions) / number of reference words.

    Can exceed 1 when the hypothesis is longer. An empty reference has WER 0
    against an empty hypothesis and is an error otherwise (WER is undefined).

    >>> word_error_rate("the cat sat", "the cat sat down")
    0.25
    """
    ref = _tokens(reference)
    hyp = _tokens(hypothesis)
    if not ref:
        if not hyp:
            return 0.0
        raise InvalidAnswers("word_error_rate: the reference is empty, WER is undefined")
    return edit_distance(hyp, ref) / len(ref)


def _group(X, texts):
    """Validate and group transcripts by task: ``{task: [(worker, tokens), ...]}``."""
    X = _check_codes(X, 2)
    if len(texts) != X.shape[0]:
        raise InvalidAnswers(f"texts must have one entry per answer ({X.shape[0]}), got {len(texts)}")
    groups: dict[int, list[tuple[int, list[str]]]] = {}
    for (t, w), text in zip(X.tolist(), texts):
        groups.setdefault(t, []).append((w, _tokens(text)))
    return X, groups


def _weighted_medoid(hyps: list[list[str]], w: np.ndarray) -> tuple[int, np.ndarray]:
    """Index of the hypothesis minimising the weighted sum of normalised edit distances.

    Also returns the normalised distance matrix (distance / longer length).
    Ties go to the heavier worker, then to the lexicographically smaller text,
    so the choice does not depend on worker codes or row order.
    """
    n = len(hyps)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            longest = max(len(hyps[i]), len(hyps[j]), 1)
            d[i, j] = d[j, i] = edit_distance(hyps[i], hyps[j]) / longest
    cost = d @ w
    order = sorted(range(n), key=lambda i: (round(cost[i], 12), -w[i], hyps[i]))
    return order[0], d


class _TextAggregator:
    """Shared ``fit``: group transcripts by task and run ``_fit_one`` on each group.

    ``_fit_one(hyps, w) -> (tokens, confidence)`` gets the task's word lists and
    their workers' weights (all ones when every weight is 0).

    Fitted attributes: ``texts_`` (list[str], one per task, "" where nobody
    answered) and ``confidence_`` ((n_tasks,) float, NaN where nobody answered).
    """

    _fit_one: Callable[[list[list[str]], np.ndarray], tuple[list[str], float]]

    def fit(self, X, texts, *, weights=None, n_tasks=None):
        """``X`` int ``(n, 2)`` of ``(task, worker)``; ``texts`` one string (or word list) per row.

        ``weights``: optional ``(n_workers,)`` non-negative worker skills;
        ``n_tasks``: report at least this many tasks (unanswered ones get "" and NaN).
        """
        X, groups = _group(X, texts)
        w = _check_weights(weights, int(X[:, 1].max()) + 1)
        n_tasks = max(int(X[:, 0].max()) + 1, n_tasks or 0)
        out = [""] * n_tasks
        conf = np.full(n_tasks, np.nan)
        for t, rows in groups.items():
            hyps = [toks for _, toks in rows]
            ww = np.array([w[k] for k, _ in rows], dtype=float)
            if ww.sum() <= 0:  # nobody has weight: count everyone equally
                ww = np.ones(len(rows))
            tokens, conf[t] = type(self)._fit_one(hyps, ww)
            out[t] = " ".join(tokens)
        self.texts_, self.confidence_ = out, conf
        return self

    def fit_predict(self, X, texts, *, weights=None, n_tasks=None) -> list[str]:
        """Fit, then return ``texts_``."""
        return self.fit(X, texts, weights=weights, n_tasks=n_tasks).texts_


class TextMedoid(_TextAggregator):
    """Skill-weighted medoid transcript: the worker text closest to all the others.

    Model: pick, per item, the answer ``i`` minimising ``sum_j w_j d(i, j)`` where
    ``d`` is word edit distance divided by the longer length (a weighted
    1-medoid; the "medoid" baseline of crowd text aggregation, e.g. Li & Fukumoto,
    "A dataset of crowdsourced word sequences", 2019, and crowd-kit's text
    aggregators). It always returns a text some worker wrote.
    ``confidence_ = 1 - weighted mean normalised distance`` of the others to it
    (1 when everyone agrees).

    Fitted attributes: see :class:`_TextAggregator`.

    Example
    -------
    >>> texts = ["a cat sat", "the cat sat", "the cat sat down"]
    >>> TextMedoid().fit_predict([[0, 0], [0, 1], [0, 2]], texts)
    ['the cat sat']
    >>> TextMedoid().fit_predict([[0, 0], [0, 1], [0, 2]], texts, weights=[4, 1, 1])
    ['a cat sat']
    """

    @staticmethod
    def _fit_one(hyps, w):
        best, d = _weighted_medoid(hyps, w)
        return hyps[best], 1.0 - float(np.average(d[best], weights=w))


_NULL = None  # the null arc of a word transition network slot


def _align_to_network(slots: list[dict], words: list[str]) -> list[tuple[int | None, int | None]]:
    """Optimal alignment of ``words`` to the network's slots (edit-distance DP + backtrace).

    Pairing a word with a slot costs 0 if some hypothesis already put that word
    in the slot, else 1; skipping a slot costs 1 (a null arc); a word with no
    slot costs 1 (a new slot). Returns ``(slot, word)`` pairs with None for a gap.
    """
    n, m = len(slots), len(words)
    sub = np.array([[0.0 if wd in s else 1.0 for wd in words] for s in slots]).reshape(n, m)
    D = _dp_table(sub, np.ones(n), 1.0)
    path = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and np.isclose(D[i, j], D[i - 1, j - 1] + sub[i - 1, j - 1]):
            path.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and np.isclose(D[i, j], D[i - 1, j] + 1.0):
            path.append((i - 1, None))
            i -= 1
        else:
            path.append((None, j - 1))
            j -= 1
    return path[::-1]


def _rover_one(hyps, w):
    """Build the word transition network hypothesis by hypothesis, then vote per slot."""
    # Order: heaviest first, ties by how central (medoid cost), then text — so the
    # backbone and tie-breaks do not depend on worker codes or row order.
    _, d = _weighted_medoid(hyps, w)
    cost = d @ w
    order = sorted(range(len(hyps)), key=lambda i: (-w[i], round(cost[i], 12), hyps[i]))
    slots: list[dict] = []  # each slot: {word or _NULL: total weight}, insertion order = rank
    seen_weight = 0.0
    for rank, h in enumerate(order):
        words = hyps[h]
        if rank == 0:
            slots = [{wd: w[h]} for wd in words]
        else:
            new_slots = []
            for si, wi in _align_to_network(slots, words):
                if si is None:  # a word no earlier hypothesis had: new slot, earlier ones null
                    slot = {_NULL: seen_weight} if seen_weight > 0 else {}
                    slot[words[wi]] = slot.get(words[wi], 0.0) + w[h]
                else:
                    slot = slots[si]
                    key = _NULL if wi is None else words[wi]
                    slot[key] = slot.get(key, 0.0) + w[h]
                new_slots.append(slot)
            slots = new_slots
        seen_weight += w[h]
    out, shares = [], []
    for slot in slots:
        # max() keeps the first maximum: ties go to the arc added first (heavier hypothesis).
        best = max(slot, key=slot.get)
        shares.append(slot[best] / seen_weight)
        if best is not _NULL:
            out.append(best)
    return out, float(np.mean(shares)) if shares else 1.0


class ROVER(_TextAggregator):
    """ROVER: Recognizer Output Voting Error Reduction for crowd transcriptions.

    Model (Fiscus, "A post-processing system to yield reduced word error rates:
    Recognizer Output Voting Error Reduction (ROVER)", IEEE ASRU 1997): the
    hypotheses of one item are aligned one by one into a word transition
    network with edit-distance dynamic programming — the first (heaviest,
    then most central) hypothesis is the backbone; a word that matches no slot
    opens a new slot in which earlier hypotheses hold a null arc, and a
    hypothesis that skips a slot adds a null arc there. Each slot then votes:
    the arc (a word or null) with the largest total worker weight wins, and
    null winners are dropped from the output. ``confidence_`` is the mean
    winning weight share over the slots (1 when all transcripts agree).

    Fitted attributes: see :class:`_TextAggregator`.

    Example
    -------
    >>> rover = ROVER().fit([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]],
    ...                     ["the cat sat", "the bat sat down", "a cat sat down", "hi", "hi"])
    >>> rover.texts_, rover.confidence_.round(2).tolist()
    (['the cat sat down', 'hi'], [0.75, 1.0])
    """

    _fit_one = staticmethod(_rover_one)
