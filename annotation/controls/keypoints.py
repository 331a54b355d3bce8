"""`KeyPointLabels` / `KeyPoint`: points on an image in percent, fused by consensus.KeypointFusion
(points within `distance` percent match) and accepted by point F1 at that distance."""
from __future__ import annotations

from typing import Any

import numpy as np

from annotation.controls.base import ControlSpec, ItemContext, check_value_keys, one_label
from annotation.controls.regions import RegionKind, coordinate, label_codes, label_of
from consensus.keypoints import KeypointFusion
from consensus.matching import match_regions


class Keypoints(RegionKind):
    kind = "keypoints"
    tags = ("KeyPointLabels", "KeyPoint")
    unlabeled_tag = "KeyPoint"
    targets = ("image",)
    labels_key = "keypointlabels"
    noun = "point"
    threshold_defaults = {"min_f1": 0.5, "distance": 5.0}

    def region_value(self, control: ControlSpec, region: dict[str, Any], context: ItemContext,
                     index: int) -> dict[str, Any]:
        value = check_value_keys(region.get("value"), {"x", "y", "width", self.labels_key}, index)
        return {"x": coordinate(value.get("x"), "x", index), "y": coordinate(value.get("y"), "y", index),
                "label": one_label(control, value, self.labels_key, index)}

    def sort_key(self, value: dict[str, Any]) -> tuple:
        return (value["label"] or "", value["x"], value["y"])

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {"x": p["x"], "y": p["y"], "width": 1, **self.label_value(control, p["label"])}}
                for p in value]

    def decide(self, control: ControlSpec, values: list[Any], weights: list[float],
               context: ItemContext, thresholds: dict[str, float]) -> Any:
        rows = label_codes(control, values)
        X = np.array([(0, worker, code) for worker, code, _ in rows], dtype=np.int64)
        points = [[r["x"], r["y"]] if r else [0, 0] for _, _, r in rows]
        fused = KeypointFusion(distance=thresholds["distance"]).fit(X, points, weights=weights)
        return self.canonical([{"x": round(float(p[0]), 4), "y": round(float(p[1]), 4),
                                "label": label_of(control, int(code))}
                               for p, code in zip(fused.points_, fused.labels_)])

    def match(self, control, value, reference, context, thresholds):
        return match_regions("keypoints", value, reference, threshold=thresholds["distance"])

    def describe(self, control: ControlSpec, value: dict[str, Any], context: ItemContext) -> str:
        what = f"the {value['label']} point" if value["label"] else "a point"
        return f"{what} at {value['x']:.0f}%, {value['y']:.0f}%"
