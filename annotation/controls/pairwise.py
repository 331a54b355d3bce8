"""`Pairwise`: which of two objects is better ("left" or "right"), decided by the job's method
as a two-class question — Dawid–Skene on the comparisons learns each worker's reliability."""
from __future__ import annotations

from typing import Any

from annotation.controls.base import (
    ControlKind,
    ControlSpec,
    ItemContext,
    ObjectSpec,
    check_value_keys,
    config_flag,
)
from annotation.controls.choices import class_key
from annotation.errors import InvalidAnswer, InvalidConfig

SIDES = ("left", "right")


class Pairwise(ControlKind):
    kind = "pairwise"
    tags = ("Pairwise",)
    targets = ("text", "hypertext", "paragraphs", "image", "audio")
    categorical = True
    threshold_defaults: dict[str, float] = {}

    def build(self, tag: str, attrs: dict[str, str], labels: tuple[str, ...],
              targets: list[ObjectSpec]) -> ControlSpec:
        name = attrs["name"]
        if len(targets) != 2:
            raise InvalidConfig(f'<Pairwise name="{name}"> compares two objects: write toName="left,right" '
                                "naming two objects.")
        required = config_flag(attrs, "required", True)
        return ControlSpec(name=name, kind=self.kind, to_name=attrs["toName"], choices=SIDES,
                           result_type="pairwise", required=required, scored=required,
                           target_kind=targets[0].kind)

    def from_result(self, control: ControlSpec, regions: list[tuple[int, dict[str, Any]]], context: ItemContext) -> Any:
        if len(regions) != 1:
            raise InvalidAnswer(f"Control {control.name!r} is answered twice.")
        value = check_value_keys(regions[0][1].get("value"), {"selected"}, regions[0][0])
        selected = value.get("selected")
        if selected not in SIDES:
            raise InvalidAnswer(f"{control.name!r}: value.selected must be \"left\" or \"right\".")
        return selected

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {"selected": value}}]

    def facets(self, control: ControlSpec) -> list[tuple[str, list[str]]]:
        return [(control.name, [class_key(s) for s in SIDES])]

    def facet_values(self, control: ControlSpec, value: Any) -> dict[str, str]:
        return {control.name: class_key(value)}

    def label_from_facets(self, control: ControlSpec, labels: dict[str, str]) -> Any:
        return labels[control.name].strip('"')

    def categorical_rejection(self, control: ControlSpec, value: Any, accepted: dict[str, frozenset[str]],
                              label: Any, thresholds: dict[str, float]) -> str | None:
        return None if class_key(value) in accepted[control.name] else "disagrees"
