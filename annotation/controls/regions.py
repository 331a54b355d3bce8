"""What the kinds that draw many regions share (boxes, polygons, points, spans, segments):
labels from the config, a bound on how many, a canonical order, and acceptance by object F1
against the consensus with the missed and extra objects named."""
from __future__ import annotations

from typing import Any, ClassVar

from annotation.controls.base import (
    MAX_REGIONS,
    ControlKind,
    ControlSpec,
    ItemContext,
    ObjectSpec,
    check_labels,
    config_flag,
    number_in,
)
from annotation.errors import InvalidAnswer


class RegionKind(ControlKind):
    regions = True
    labels_key: ClassVar[str]  # "rectanglelabels", "labels", …: where a region's label sits in its value
    unlabeled_tag: ClassVar[str | None] = None  # "Rectangle", "Polygon", "KeyPoint": the tool without labels
    threshold_defaults: ClassVar[dict[str, float]] = {"min_f1": 0.5}
    noun: ClassVar[str] = "region"

    def build(self, tag: str, attrs: dict[str, str], labels: tuple[str, ...],
              targets: list[ObjectSpec]) -> ControlSpec:
        name = attrs["name"]
        unlabeled = tag == self.unlabeled_tag
        if not unlabeled:
            check_labels(tag, name, labels, least=1)
        return ControlSpec(name=name, kind=self.kind, to_name=attrs["toName"], choices=() if unlabeled else labels,
                           result_type=tag.lower(), required=config_flag(attrs, "required", False), scored=True,
                           target_kind=targets[0].kind, options=self.options_of(attrs, name))

    def options_of(self, attrs: dict[str, str], name: str) -> dict[str, Any]:
        return {}

    def from_result(self, control: ControlSpec, regions: list[tuple[int, dict[str, Any]]], context: ItemContext) -> Any:
        if len(regions) > MAX_REGIONS:
            raise InvalidAnswer(f"{control.name!r} holds {len(regions)} {self.noun}s; at most {MAX_REGIONS} are taken.")
        values = [self.region_value(control, region, context, index) for index, region in regions]
        if control.required and not values:
            raise InvalidAnswer(f"Mark at least one {self.noun} for {control.name!r}.")
        return self.canonical(values)

    def region_value(self, control: ControlSpec, region: dict[str, Any], context: ItemContext,
                     index: int) -> dict[str, Any]:
        raise NotImplementedError

    def canonical(self, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
        unique = {self.sort_key(v): v for v in values}  # the same region twice counts once
        return [unique[k] for k in sorted(unique)]

    def sort_key(self, value: dict[str, Any]) -> tuple:
        raise NotImplementedError

    def label_value(self, control: ControlSpec, label: str | None) -> dict[str, Any]:
        return {self.labels_key: [label]} if control.choices else {}

    def is_empty(self, value: Any) -> bool:
        return not value

    # --- acceptance -----------------------------------------------------------------------------
    def match(self, control: ControlSpec, value: list, reference: list, context: ItemContext,
              thresholds: dict[str, float]):
        """A consensus.matching.MatchResult of `value` against `reference`."""
        raise NotImplementedError

    def score(self, control: ControlSpec, value: Any, reference: Any, context: ItemContext,
              thresholds: dict[str, float]) -> float:
        return float(self.match(control, value, reference, context, thresholds).f1)

    def rejection(self, control: ControlSpec, value: Any, reference: Any, context: ItemContext,
                  thresholds: dict[str, float]) -> str | None:
        result = self.match(control, value, reference, context, thresholds)
        if result.f1 + 1e-9 >= thresholds["min_f1"]:
            return None
        parts = [f"{self.noun} F1 {result.f1:.2f} (at least {thresholds['min_f1']:.2f} is accepted)"]
        if result.missed:
            parts.append("missed " + ", ".join(self.describe(control, reference[i], context) for i in result.missed[:5])
                         + (" and more" if len(result.missed) > 5 else ""))
        if result.extra:
            parts.append("not in the consensus: " + ", ".join(self.describe(control, value[i], context) for i in result.extra[:5])
                         + (" and more" if len(result.extra) > 5 else ""))
        return "; ".join(parts)

    def describe(self, control: ControlSpec, value: dict[str, Any], context: ItemContext) -> str:
        raise NotImplementedError


def label_codes(control: ControlSpec, values: list[list[dict[str, Any]]]):
    """Rows for a fusion estimator: (worker position, label code, region) with -1 for a worker
    who marked nothing (so their silence counts against the objects others marked)."""
    codes = {label: i for i, label in enumerate(control.choices)}
    rows = []
    for position, regions in enumerate(values):
        if not regions:
            rows.append((position, -1, None))
        for region in regions:
            rows.append((position, codes.get(region.get("label"), 0), region))
    return rows


def label_of(control: ControlSpec, code: int) -> str | None:
    return control.choices[code] if control.choices else None


def coordinate(value: Any, what: str, index: int, *, low: float = 0.0, high: float = 100.0) -> float:
    return round(number_in(value, low, high, f"result[{index}].value.{what}", index), 4)
