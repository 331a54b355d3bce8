"""`RectangleLabels` / `Rectangle`: boxes on an image, in percent of the image (Label Studio's
convention), fused across workers by consensus.BoxFusion and accepted by box F1 at an IoU."""
from __future__ import annotations

from typing import Any

import numpy as np

from annotation.controls.base import ControlSpec, ItemContext, check_value_keys, one_label
from annotation.controls.regions import RegionKind, coordinate, label_codes, label_of
from annotation.errors import InvalidAnswer
from consensus.boxes import BoxFusion
from consensus.matching import match_regions


class Rectangles(RegionKind):
    kind = "rectangles"
    tags = ("RectangleLabels", "Rectangle")
    unlabeled_tag = "Rectangle"
    targets = ("image",)
    labels_key = "rectanglelabels"
    noun = "box"
    threshold_defaults = {"min_f1": 0.5, "iou": 0.5}

    def region_value(self, control: ControlSpec, region: dict[str, Any], context: ItemContext,
                     index: int) -> dict[str, Any]:
        value = check_value_keys(region.get("value"), {"x", "y", "width", "height", "rotation",
                                                       self.labels_key}, index)
        if value.get("rotation", 0) not in (0, 0.0):
            raise InvalidAnswer(f"result[{index}]: rotated boxes are not supported; draw it with rotation 0.",
                                index=index)
        x, y = coordinate(value.get("x"), "x", index), coordinate(value.get("y"), "y", index)
        width = coordinate(value.get("width"), "width", index, high=100.0 - x)
        height = coordinate(value.get("height"), "height", index, high=100.0 - y)
        if width <= 0 or height <= 0:
            raise InvalidAnswer(f"result[{index}]: a box needs a width and a height above 0.", index=index)
        return {"x": x, "y": y, "width": width, "height": height,
                "label": one_label(control, value, self.labels_key, index)}

    def sort_key(self, value: dict[str, Any]) -> tuple:
        return (value["label"] or "", value["x"], value["y"], value["width"], value["height"])

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {"x": b["x"], "y": b["y"], "width": b["width"], "height": b["height"], "rotation": 0,
                           **self.label_value(control, b["label"])}} for b in value]

    def decide(self, control: ControlSpec, values: list[Any], weights: list[float],
               context: ItemContext, thresholds: dict[str, float]) -> Any:
        rows = label_codes(control, values)
        X = np.array([(0, worker, code) for worker, code, _ in rows], dtype=np.int64)
        boxes = [[r["x"], r["y"], r["width"], r["height"]] if r else [0, 0, 0, 0] for _, _, r in rows]
        fused = BoxFusion(iou_threshold=thresholds["iou"]).fit(X, boxes, weights=weights)
        return self.canonical([{"x": round(float(b[0]), 4), "y": round(float(b[1]), 4),
                                "width": round(float(b[2]), 4), "height": round(float(b[3]), 4),
                                "label": label_of(control, int(code))}
                               for b, code in zip(fused.boxes_, fused.labels_)])

    def match(self, control, value, reference, context, thresholds):
        return match_regions("rectangles", value, reference, threshold=thresholds["iou"])

    def describe(self, control: ControlSpec, value: dict[str, Any], context: ItemContext) -> str:
        what = f"{value['label']} box" if value["label"] else "a box"
        return f"{what} at {value['x']:.0f}%, {value['y']:.0f}% ({value['width']:.0f}×{value['height']:.0f}%)"
