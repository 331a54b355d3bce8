"""Object F1 of one annotation against a reference, by one-to-one matching of its regions.

Regions come in the shapes the platform stores (Label Studio's, normalized):
rectangles ``{"x", "y", "width", "height", "label"}``, polygons
``{"points": [[x, y], ...], "label"}``, keypoints ``{"x", "y", "label"}``
(image coordinates in percent) and audio segments ``{"start", "end", "label"}``
(seconds). ``label`` may be None (an unlabeled ``Rectangle``, ``Polygon`` or
``KeyPoint`` tool).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from consensus.boxes import box_iou
from consensus.errors import InvalidAnswers
from consensus.polygons import _as_polygon, _iou

KINDS = ("rectangles", "polygons", "keypoints", "segments")
_FIELDS = {"rectangles": ("x", "y", "width", "height"), "keypoints": ("x", "y"),
           "segments": ("start", "end"), "polygons": ("points",)}


class MatchResult(NamedTuple):
    """One-to-one matching of predicted regions to reference regions.

    ``f1`` = 2 |matched| / (|pred| + |ref|), 1 when both are empty;
    ``matched``: ``(pred_index, ref_index)`` pairs in pred order; ``missed``:
    reference regions no prediction matched; ``extra``: predictions that
    matched nothing.
    """

    f1: float
    matched: list[tuple[int, int]]
    missed: list[int]
    extra: list[int]


def segment_iou(a, b) -> np.ndarray:
    """Pairwise time IoU (overlap / union) of ``(start, end)`` segments: ``(n, 2), (m, 2) -> (n, m)``.

    Two zero-length segments at the same time have IoU 1.

    >>> segment_iou([[0, 2]], [[1, 3], [0, 2], [5, 6]]).round(3).tolist()
    [[0.333, 1.0, 0.0]]
    """
    a = np.asarray(a, dtype=float).reshape(-1, 2)[:, None, :]
    b = np.asarray(b, dtype=float).reshape(-1, 2)[None, :, :]
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    same = np.all(a == b, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, same.astype(float))


def _one_to_one(score: np.ndarray, ok: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of a matching of rows to columns over the allowed pairs ``ok``.

    The matching has as many pairs as possible, and among those the largest
    total ``score`` (in [0, 1]): each allowed pair is worth ``M + score`` with
    ``M`` larger than any possible score total, so one more pair always wins
    (maximizing total IoU alone can trade two matches for one better one).
    """
    if not ok.any():
        return []
    big = min(ok.shape) + 1.0
    gain = np.where(ok, big + score, 0.0)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    keep = ok[rows, cols]
    return sorted(zip(rows[keep].tolist(), cols[keep].tolist()))


def _result(pairs: list[tuple[int, int]], n_pred: int, n_ref: int) -> MatchResult:
    f1 = 1.0 if n_pred + n_ref == 0 else 2.0 * len(pairs) / (n_pred + n_ref)
    got_p = {p for p, _ in pairs}
    got_r = {r for _, r in pairs}
    return MatchResult(f1, pairs, [r for r in range(n_ref) if r not in got_r],
                       [p for p in range(n_pred) if p not in got_p])


def _parse(kind: str, regions, what: str):
    """``(geometry, labels)`` of a list of region dicts; geometry an array, or a list of polygons."""
    if not isinstance(regions, Sequence) or isinstance(regions, str | bytes):
        raise InvalidAnswers(f"{what} must be a list of {kind} dicts, got {type(regions).__name__}")
    fields = _FIELDS[kind]
    geometry, labels = [], []
    for i, region in enumerate(regions):
        if not isinstance(region, dict) or not all(f in region for f in fields):
            raise InvalidAnswers(f"{what}[{i}] must be a dict with keys {', '.join(fields)}"
                                 f" (and label), got {region!r}")
        labels.append(region.get("label"))
        if kind == "polygons":
            geometry.append(_as_polygon(region["points"], f"{what}[{i}]['points']"))
            continue
        try:
            geometry.append([float(region[f]) for f in fields])
        except (TypeError, ValueError) as exc:
            raise InvalidAnswers(f"{what}[{i}]: coordinates must be numbers: {exc}") from exc
    if kind == "polygons":
        return geometry, labels
    g = np.asarray(geometry, dtype=float).reshape(-1, len(fields))
    if not np.all(np.isfinite(g)):
        raise InvalidAnswers(f"{what}: coordinates must be finite (found NaN or infinity)")
    if kind == "rectangles" and np.any(g[:, 2:] < 0):
        raise InvalidAnswers(f"{what}: width and height must be >= 0")
    if kind == "segments" and np.any(g[:, 1] < g[:, 0]):
        raise InvalidAnswers(f"{what}: every segment needs end >= start")
    return g, labels


def _similarity(kind: str, gp, gr, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(score, ok)``, both ``(n_pred, n_ref)``: score in [0, 1], ok = close enough to match."""
    if kind == "keypoints":
        d = cdist(gp, gr) if len(gp) and len(gr) else np.zeros((len(gp), len(gr)))
        return 1.0 - d / threshold, d <= threshold * (1 + 1e-12)
    if kind == "polygons":
        sim = np.array([[_iou(p, r) for r in gr] for p in gp]).reshape(len(gp), len(gr))
    elif kind == "rectangles":
        sim = box_iou(gp, gr)
    else:
        sim = segment_iou(gp, gr)
    return sim, sim >= threshold - 1e-12


def match_regions(kind: str, pred, ref, *, threshold: float) -> MatchResult:
    """Match the regions of one annotation (``pred``) one to one with a reference's (``ref``).

    ``kind`` is ``"rectangles"``, ``"polygons"``, ``"keypoints"`` or
    ``"segments"``; ``pred`` and ``ref`` are lists of region dicts (see the
    module docstring). A pair may match when its IoU is at least ``threshold``
    (keypoints: their distance is at most ``threshold``) and their labels are
    equal; a None label matches any label (an unlabeled tool has nothing to
    compare). Among the allowed pairs, the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`; Kuhn, "The Hungarian method
    for the assignment problem", 1955) picks the largest one-to-one matching,
    and of those the one with the largest total IoU (keypoints:
    ``1 - distance / threshold``) — the matching of detection metrics such as
    Pascal VOC's (Everingham et al., IJCV 2010), without its greedy order.

    >>> pred = [{"x": 0, "y": 0, "width": 10, "height": 10, "label": "cat"},
    ...         {"x": 50, "y": 50, "width": 10, "height": 10, "label": "cat"}]
    >>> ref = [{"x": 1, "y": 0, "width": 10, "height": 10, "label": "cat"},
    ...        {"x": 80, "y": 80, "width": 5, "height": 5, "label": "dog"}]
    >>> match_regions("rectangles", pred, ref, threshold=0.5)
    MatchResult(f1=0.5, matched=[(0, 0)], missed=[1], extra=[1])
    """
    if kind not in KINDS:
        raise InvalidAnswers(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not (np.isfinite(threshold) and threshold > 0) or (kind != "keypoints" and threshold > 1):
        bound = "> 0" if kind == "keypoints" else "in (0, 1]"
        raise InvalidAnswers(f"threshold for {kind} must be {bound}, got {threshold}")
    gp, lp = _parse(kind, pred, "pred")
    gr, lr = _parse(kind, ref, "ref")
    if not len(lp) or not len(lr):
        return _result([], len(lp), len(lr))
    score, ok = _similarity(kind, gp, gr, threshold)
    same = np.array([[a is None or b is None or a == b for b in lr] for a in lp])
    return _result(_one_to_one(np.clip(score, 0.0, 1.0), ok & same), len(lp), len(lr))


def box_f1(pred, ref, *, iou: float = 0.5) -> float:
    """Object F1 of rectangles at IoU >= ``iou`` (see :func:`match_regions`).

    >>> box_f1([{"x": 0, "y": 0, "width": 10, "height": 10, "label": None}], [])
    0.0
    """
    return match_regions("rectangles", pred, ref, threshold=iou).f1


def polygon_f1(pred, ref, *, iou: float = 0.5) -> float:
    """Object F1 of polygons at polygon IoU >= ``iou`` (see :func:`match_regions`).

    >>> square = {"points": [[0, 0], [10, 0], [10, 10], [0, 10]], "label": "roof"}
    >>> polygon_f1([square], [square, {**square, "label": "wall"}])
    0.6666666666666666
    """
    return match_regions("polygons", pred, ref, threshold=iou).f1


def keypoint_f1(pred, ref, *, distance: float = 5.0) -> float:
    """Object F1 of keypoints within ``distance`` (see :func:`match_regions`).

    >>> keypoint_f1([{"x": 10, "y": 10, "label": "eye"}], [{"x": 13, "y": 14, "label": "eye"}])
    1.0
    """
    return match_regions("keypoints", pred, ref, threshold=distance).f1


def segment_f1(pred, ref, *, iou: float = 0.5) -> float:
    """Object F1 of audio segments at time IoU >= ``iou`` (see :func:`match_regions`).

    >>> segment_f1([{"start": 0.0, "end": 2.0, "label": "speech"}],
    ...            [{"start": 0.5, "end": 2.0, "label": "speech"}])
    1.0
    """
    return match_regions("segments", pred, ref, threshold=iou).f1
