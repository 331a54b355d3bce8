"""`TextArea`: free text and transcription. A scored text area is decided by ROVER (word
transition network voting, skill-weighted) and accepted by word error rate against the
consensus; an optional one is a comment, stored and exported per answer, never decided."""
from __future__ import annotations

from typing import Any

import numpy as np

from annotation.controls.base import (
    ControlKind,
    ControlSpec,
    ItemContext,
    ObjectSpec,
    check_value_keys,
    config_flag,
    config_number,
)
from annotation.errors import InvalidAnswer, InvalidConfig
from consensus.transcripts import ROVER

MAX_TEXT_CHARS = 10_000


class TextArea(ControlKind):
    kind = "textarea"
    tags = ("TextArea",)
    targets = ("text", "hypertext", "paragraphs", "image", "audio")
    threshold_defaults = {"max_wer": 0.5}

    def build(self, tag: str, attrs: dict[str, str], labels: tuple[str, ...],
              targets: list[ObjectSpec]) -> ControlSpec:
        name = attrs["name"]
        if config_flag(attrs, "perRegion", False):
            raise InvalidConfig(f'<TextArea name="{name}" perRegion="true"> is not supported yet; '
                                "a text area answers the whole item.")
        transcription = targets[0].kind == "audio"
        required = config_flag(attrs, "required", transcription)
        max_chars = config_number(attrs, "maxlength", MAX_TEXT_CHARS, tag, name)
        return ControlSpec(name=name, kind=self.kind, to_name=attrs["toName"], result_type="textarea",
                           required=required, scored=required, target_kind=targets[0].kind,
                           options={"max_chars": int(min(max_chars, MAX_TEXT_CHARS)),
                                    "rows": int(config_number(attrs, "rows", 3, tag, name)),
                                    "placeholder": attrs.get("placeholder", "")})

    def from_result(self, control: ControlSpec, regions: list[tuple[int, dict[str, Any]]], context: ItemContext) -> Any:
        if len(regions) != 1:
            raise InvalidAnswer(f"Control {control.name!r} is answered twice.")
        index, region = regions[0]
        value = check_value_keys(region.get("value"), {"text"}, index)
        lines = value.get("text")
        if isinstance(lines, str):
            lines = [lines]
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise InvalidAnswer(f"result[{index}].value.text must be a list of strings.", index=index)
        text = "\n".join(line.strip() for line in lines).strip()
        if len(text) > control.options["max_chars"]:
            raise InvalidAnswer(f"{control.name!r}: at most {control.options['max_chars']} characters.", index=index)
        if not text and control.required:
            raise InvalidAnswer(f"Write something in {control.name!r}.", index=index)
        return text

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {"text": [value]}}]

    def decide(self, control: ControlSpec, values: list[Any], weights: list[float],
               context: ItemContext, thresholds: dict[str, float]) -> Any:
        X = np.array([(0, worker) for worker in range(len(values))], dtype=np.int64)
        return ROVER().fit(X, [_words(v) for v in values], weights=weights).texts_[0]

    def score(self, control, value, reference, context, thresholds) -> float:
        return max(0.0, 1.0 - wer(value, reference))

    def rejection(self, control, value, reference, context, thresholds) -> str | None:
        rate = wer(value, reference)
        if rate <= thresholds["max_wer"] + 1e-9:
            return None
        shown = reference if len(reference) <= 200 else reference[:199] + "…"
        return (f"word error rate {rate:.2f} against the consensus transcript “{shown}” "
                f"(at most {thresholds['max_wer']:.2f} is accepted)")


def _words(text: str) -> list[str]:
    return text.lower().split()


def wer(hypothesis: str, reference: str) -> float:
    """Word error rate, case-insensitive; against an empty reference: 0 if empty, else 1."""
    from consensus.transcripts import word_error_rate

    ref, hyp = _words(reference), _words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return word_error_rate(hyp, ref)
