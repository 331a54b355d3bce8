"""`Labels` on `Text` / `HyperText`: named-entity spans, decided by character-level skill-weighted
voting (consensus.SpanVote) and accepted by exact-boundary span F1.

Offsets are Unicode code points into the text (for HyperText: into the text content of the
sanitized HTML), half-open [start, end). The browser counts in UTF-16 units and converts.
"""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import numpy as np

from annotation.controls.base import ControlSpec, ItemContext, check_value_keys, one_label, short
from annotation.controls.regions import RegionKind, label_codes, label_of
from annotation.errors import InvalidAnswer
from consensus.matching import MatchResult
from consensus.spans import SpanVote


class _TextContent(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_content(html: str) -> str:
    """What a browser's `textContent` gives for (sanitized) HTML: the text nodes, joined."""
    parser = _TextContent()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def object_text(control: ControlSpec, context: ItemContext) -> str:
    value = context.value_of(control.targets[0])
    if control.target_kind == "hypertext":
        return text_content(str(value or ""))
    return str(value if value is not None else "")


class Spans(RegionKind):
    kind = "spans"
    tags = ("Labels",)
    targets = ("text", "hypertext")
    labels_key = "labels"
    noun = "span"

    def region_value(self, control: ControlSpec, region: dict[str, Any], context: ItemContext,
                     index: int) -> dict[str, Any]:
        value = check_value_keys(region.get("value"), {"start", "end", "text", "labels", "globalOffsets",
                                                       "startOffset", "endOffset"}, index)
        offsets = value.get("globalOffsets") if control.target_kind == "hypertext" else None
        if offsets is not None:
            if not isinstance(offsets, dict):
                raise InvalidAnswer(f"result[{index}].value.globalOffsets must be an object.", index=index)
            start, end = offsets.get("start"), offsets.get("end")
        else:
            start, end = value.get("start"), value.get("end")
        text = object_text(control, context)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise InvalidAnswer(f"result[{index}].value.start and end must be whole character offsets.",
                                index=index)
        if not 0 <= start < end <= len(text):
            raise InvalidAnswer(f"result[{index}]: the span {start}–{end} is not inside the text "
                                f"(0–{len(text)} characters).", index=index)
        if "text" in value and value["text"] != text[start:end]:
            raise InvalidAnswer(f"result[{index}].value.text {short(value['text'])} is not the text at "
                                f"{start}–{end} ({short(text[start:end])}); offsets count Unicode code points.",
                                index=index)
        return {"start": start, "end": end, "label": one_label(control, value, "labels", index)}

    def sort_key(self, value: dict[str, Any]) -> tuple:
        return (value["start"], value["end"], value["label"] or "")

    def canonical(self, values):
        unique = {self.sort_key(v): v for v in values}
        return [unique[k] for k in sorted(unique)]

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {"start": s["start"], "end": s["end"], **self.label_value(control, s["label"])}}
                for s in value]

    def decide(self, control: ControlSpec, values: list[Any], weights: list[float],
               context: ItemContext, thresholds: dict[str, float]) -> Any:
        rows = label_codes(control, values)
        X = np.array([(0, worker, code) for worker, code, _ in rows], dtype=np.int64)
        spans = [[r["start"], r["end"]] if r else [0, 0] for _, _, r in rows]
        vote = SpanVote().fit(X, spans, text_lengths=[len(object_text(control, context))], weights=weights,
                              n_classes=max(len(control.choices), 1))
        return [{"start": int(s), "end": int(e), "label": label_of(control, int(code))}
                for s, e, code in vote.spans_]

    def match(self, control, value, reference, context, thresholds):
        mine = {self.sort_key(v): i for i, v in enumerate(value)}
        theirs = {self.sort_key(v): i for i, v in enumerate(reference)}
        both = set(mine) & set(theirs)
        total = len(mine) + len(theirs)
        f1 = 1.0 if total == 0 else 2 * len(both) / total
        return MatchResult(f1=f1, matched=[(mine[k], theirs[k]) for k in sorted(both)],
                           missed=[i for k, i in sorted(theirs.items()) if k not in both],
                           extra=[i for k, i in sorted(mine.items()) if k not in both])

    def describe(self, control: ControlSpec, value: dict[str, Any], context: ItemContext) -> str:
        words = object_text(control, context)[value["start"]:value["end"]]
        return f"{value['label'] or 'span'} “{words[:40]}{'…' if len(words) > 40 else ''}”"
