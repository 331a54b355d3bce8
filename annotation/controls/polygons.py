"""`PolygonLabels` / `Polygon`: outlines on an image in percent, fused by consensus.PolygonFusion
(matched by IoU, the skill-weighted medoid of each match) and accepted by polygon F1."""
from __future__ import annotations

from typing import Any

import numpy as np

from annotation.controls.base import ControlSpec, ItemContext, check_value_keys, one_label
from annotation.controls.regions import RegionKind, coordinate, label_codes, label_of
from annotation.errors import InvalidAnswer
from consensus.matching import match_regions
from consensus.polygons import PolygonFusion

MAX_POINTS = 500


class Polygons(RegionKind):
    kind = "polygons"
    tags = ("PolygonLabels", "Polygon")
    unlabeled_tag = "Polygon"
    targets = ("image",)
    labels_key = "polygonlabels"
    noun = "polygon"
    threshold_defaults = {"min_f1": 0.5, "iou": 0.5}

    def region_value(self, control: ControlSpec, region: dict[str, Any], context: ItemContext,
                     index: int) -> dict[str, Any]:
        value = check_value_keys(region.get("value"), {"points", "closed", self.labels_key}, index)
        points = value.get("points")
        if not isinstance(points, list) or not 3 <= len(points) <= MAX_POINTS:
            raise InvalidAnswer(f"result[{index}].value.points must list 3 to {MAX_POINTS} [x, y] points.",
                                index=index)
        clean = []
        for point in points:
            if not isinstance(point, list) or len(point) != 2:
                raise InvalidAnswer(f"result[{index}].value.points holds something that is not an [x, y] pair.",
                                    index=index)
            clean.append([coordinate(point[0], "points x", index), coordinate(point[1], "points y", index)])
        xs, ys = [p[0] for p in clean], [p[1] for p in clean]
        area = 0.5 * abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(clean))))
        if area <= 0:
            raise InvalidAnswer(f"result[{index}]: the polygon encloses no area.", index=index)
        return {"points": clean, "label": one_label(control, value, self.labels_key, index)}

    def sort_key(self, value: dict[str, Any]) -> tuple:
        return (value["label"] or "", tuple(map(tuple, value["points"])))

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {"points": [list(p) for p in p_["points"]], "closed": True,
                           **self.label_value(control, p_["label"])}} for p_ in value]

    def decide(self, control: ControlSpec, values: list[Any], weights: list[float],
               context: ItemContext, thresholds: dict[str, float]) -> Any:
        rows = label_codes(control, values)
        X = np.array([(0, worker, code) for worker, code, _ in rows], dtype=np.int64)
        shapes = [np.asarray(r["points"], dtype=float) if r else np.zeros((3, 2)) for _, _, r in rows]
        fused = PolygonFusion(iou_threshold=thresholds["iou"]).fit(X, shapes, weights=weights)
        return self.canonical([{"points": [[round(float(x), 4), round(float(y), 4)] for x, y in polygon],
                                "label": label_of(control, int(code))}
                               for polygon, code in zip(fused.polygons_, fused.labels_)])

    def match(self, control, value, reference, context, thresholds):
        return match_regions("polygons", value, reference, threshold=thresholds["iou"])

    def describe(self, control: ControlSpec, value: dict[str, Any], context: ItemContext) -> str:
        xs = [p[0] for p in value["points"]]
        ys = [p[1] for p in value["points"]]
        what = f"{value['label']} outline" if value["label"] else "an outline"
        return f"{what} around {sum(xs) / len(xs):.0f}%, {sum(ys) / len(ys):.0f}%"
