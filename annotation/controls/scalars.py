"""`Rating` and `Number`: one value per answer, decided by the skill-weighted median (robust to
a minority of wild answers) and accepted within a tolerance of it."""
from __future__ import annotations

import math
from typing import Any

from annotation.controls.base import (
    ControlKind,
    ControlSpec,
    ItemContext,
    ObjectSpec,
    check_value_keys,
    config_flag,
    config_number,
    number_in,
)
from annotation.errors import InvalidAnswer, InvalidConfig
from consensus.numeric import weighted_median

NUMBER_LIMIT = 1e15


class _Scalar(ControlKind):
    targets = ("text", "hypertext", "paragraphs", "image", "audio")
    value_key: str

    def from_result(self, control: ControlSpec, regions: list[tuple[int, dict[str, Any]]], context: ItemContext) -> Any:
        if len(regions) != 1:
            raise InvalidAnswer(f"Control {control.name!r} is answered twice.")
        index, region = regions[0]
        value = check_value_keys(region.get("value"), {self.value_key}, index)
        return self.check(control, value.get(self.value_key), index)

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {self.value_key: value}}]

    def decide(self, control: ControlSpec, values: list[Any], weights: list[float],
               context: ItemContext, thresholds: dict[str, float]) -> Any:
        median = weighted_median([float(v) for v in values], weights)
        return self.round(control, median)

    def distance(self, control, value, reference) -> float:
        return abs(float(value) - float(reference))

    def score(self, control, value, reference, context, thresholds) -> float:
        return 1.0 if self.distance(control, value, reference) <= self.tolerance(control, reference, thresholds) + 1e-9 else 0.0

    def rejection(self, control, value, reference, context, thresholds) -> str | None:
        tolerance = self.tolerance(control, reference, thresholds)
        if self.distance(control, value, reference) <= tolerance + 1e-9:
            return None
        return (f"you answered {value:g}; the consensus is {reference:g} "
                f"(answers within {tolerance:g} of it are accepted)")


class Rating(_Scalar):
    kind = "rating"
    tags = ("Rating",)
    value_key = "rating"
    threshold_defaults = {"tolerance": 1.0}

    def build(self, tag: str, attrs: dict[str, str], labels: tuple[str, ...],
              targets: list[ObjectSpec]) -> ControlSpec:
        name = attrs["name"]
        stars = config_number(attrs, "maxRating", 5, tag, name)
        if stars != int(stars) or not 2 <= stars <= 100:
            raise InvalidConfig(f'<Rating name="{name}"> needs maxRating between 2 and 100.')
        required = config_flag(attrs, "required", True)
        return ControlSpec(name=name, kind=self.kind, to_name=attrs["toName"], result_type="rating",
                           required=required, scored=required, target_kind=targets[0].kind,
                           options={"max": int(stars)})

    def check(self, control: ControlSpec, value: Any, index: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= control.options["max"]:
            raise InvalidAnswer(f"{control.name!r}: the rating must be a whole number from 1 to "
                                f"{control.options['max']}.", index=index)
        return value

    def round(self, control, median: float) -> int:
        return int(math.floor(median + 0.5))

    def tolerance(self, control, reference, thresholds) -> float:
        return thresholds["tolerance"]


class Number(_Scalar):
    kind = "number"
    tags = ("Number",)
    value_key = "number"
    threshold_defaults = {"tolerance": -1.0}  # -1: 5 % of the median's size or 1 % of the config's range

    def build(self, tag: str, attrs: dict[str, str], labels: tuple[str, ...],
              targets: list[ObjectSpec]) -> ControlSpec:
        name = attrs["name"]
        low = config_number(attrs, "min", -NUMBER_LIMIT, tag, name)
        high = config_number(attrs, "max", NUMBER_LIMIT, tag, name)
        step = config_number(attrs, "step", None, tag, name)
        if low >= high or low < -NUMBER_LIMIT or high > NUMBER_LIMIT:
            raise InvalidConfig(f'<Number name="{name}"> needs min below max, both within ±{NUMBER_LIMIT:g}.')
        if step is not None and step <= 0:
            raise InvalidConfig(f'<Number name="{name}"> needs a step above 0.')
        required = config_flag(attrs, "required", True)
        return ControlSpec(name=name, kind=self.kind, to_name=attrs["toName"], result_type="number",
                           required=required, scored=required, target_kind=targets[0].kind,
                           options={"min": low, "max": high, "step": step,
                                    "bounded": "min" in attrs and "max" in attrs})

    def check(self, control: ControlSpec, value: Any, index: int) -> float:
        number = number_in(value, control.options["min"], control.options["max"], f"{control.name!r}", index)
        return int(number) if number == int(number) and abs(number) < 2**53 else number

    def round(self, control, median: float) -> float:
        return int(median) if median == int(median) and abs(median) < 2**53 else round(median, 9)

    def tolerance(self, control, reference, thresholds) -> float:
        if thresholds["tolerance"] >= 0:
            return thresholds["tolerance"]
        span = control.options["max"] - control.options["min"] if control.options["bounded"] else 0.0
        return max(0.05 * abs(float(reference)), 0.01 * span)
