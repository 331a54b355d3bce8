"""`Choices`: one choice or several from a list, on any object.

A single choice is one categorical question. A multiple choice is one yes/no question per
choice, so each choice is decided by the job's method on its own (a set of choices is not one
class: "cat, dog" and "cat" agree about the cat).
"""
from __future__ import annotations

import json
from typing import Any

from annotation.controls.base import (
    ControlKind,
    ControlSpec,
    ItemContext,
    ObjectSpec,
    check_labels,
    check_value_keys,
    config_flag,
    short,
)
from annotation.errors import InvalidAnswer, InvalidConfig

CHOSEN, NOT_CHOSEN = "true", "false"  # the two classes of a multiple choice's per-choice facet


def class_key(value: Any) -> str:
    """A normalized categorical value as one comparable class name."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Choices(ControlKind):
    kind = "choices"
    tags = ("Choices",)
    targets = ("text", "hypertext", "paragraphs", "image", "audio")
    categorical = True

    def build(self, tag: str, attrs: dict[str, str], labels: tuple[str, ...],
              targets: list[ObjectSpec]) -> ControlSpec:
        name = attrs["name"]
        check_labels(tag, name, labels, least=2)
        mode = attrs.get("choice", "single")
        if mode not in ("single", "single-radio", "multiple"):
            raise InvalidConfig(f'<Choices name="{name}"> has choice="{mode}"; use single or multiple.')
        required = config_flag(attrs, "required", True)
        return ControlSpec(name=name, kind=self.kind, to_name=attrs["toName"], multiple=mode == "multiple",
                           choices=labels, result_type="choices", required=required, scored=required,
                           target_kind=targets[0].kind)

    def from_result(self, control: ControlSpec, regions: list[tuple[int, dict[str, Any]]], context: ItemContext) -> Any:
        if len(regions) != 1:
            raise InvalidAnswer(f"Control {control.name!r} is answered twice.")
        value = check_value_keys(regions[0][1].get("value"), {"choices"}, regions[0][0])
        choices = value.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise InvalidAnswer(f"{control.name!r}: value.choices must be a list of strings.")
        unknown = [c for c in choices if c not in control.choices]
        if unknown:
            raise InvalidAnswer(f"{short(unknown[0])} is not a choice of {control.name!r}.")
        if len(set(choices)) != len(choices):
            raise InvalidAnswer(f"Control {control.name!r} repeats a choice.")
        if not choices and control.required:
            raise InvalidAnswer(f"Choose at least one option for {control.name!r}.")
        if not control.multiple and len(choices) > 1:
            raise InvalidAnswer(f"Choose exactly one option for {control.name!r}.")
        return sorted(choices, key=control.choices.index)

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {"choices": list(value)}}]

    def facets(self, control: ControlSpec) -> list[tuple[str, list[str]]]:
        if control.multiple:
            return [(class_key([control.name, c]), [NOT_CHOSEN, CHOSEN]) for c in control.choices]
        return [(control.name, [class_key([c]) for c in control.choices])]

    def facet_values(self, control: ControlSpec, value: Any) -> dict[str, str]:
        if control.multiple:
            return {class_key([control.name, c]): CHOSEN if c in value else NOT_CHOSEN for c in control.choices}
        return {control.name: class_key(value)}

    def label_from_facets(self, control: ControlSpec, labels: dict[str, str]) -> Any:
        if control.multiple:
            return [c for c in control.choices if labels[class_key([control.name, c])] == CHOSEN]
        return json.loads(labels[control.name])

    def categorical_rejection(self, control: ControlSpec, value: Any, accepted: dict[str, frozenset[str]],
                              label: Any, thresholds: dict[str, float]) -> str | None:
        """Single: the answer's class must be among the most probable. Multiple: label F1 with the
        consensus set, a tied choice counting as agreeing, at least `min_f1`."""
        if not control.multiple:
            return None if class_key(value) in accepted[control.name] else "disagrees"
        consensus = set()
        for c in control.choices:
            tied = len(accepted[class_key([control.name, c])]) > 1  # a tie is resolved in the answer's favour
            if (c in value) if tied else (c in label):
                consensus.add(c)
        chosen = set(value)
        f1 = 1.0 if not chosen and not consensus else 2 * len(chosen & consensus) / (len(chosen) + len(consensus))
        if f1 + 1e-9 >= thresholds["min_f1"]:
            return None
        return f"label F1 {f1:.2f} against the consensus (at least {thresholds['min_f1']:.2f} is accepted)"

    threshold_defaults = {"min_f1": 0.5}
