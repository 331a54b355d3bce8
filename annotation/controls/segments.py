"""`Labels` on `Audio`: labeled time segments in seconds, decided by time-level skill-weighted
voting (consensus.SegmentVote) and accepted by segment F1 at a time IoU."""
from __future__ import annotations

from typing import Any

import numpy as np

from annotation.controls.base import (
    ControlSpec,
    ItemContext,
    check_value_keys,
    number_in,
    one_label,
)
from annotation.controls.regions import RegionKind, label_codes, label_of
from annotation.errors import InvalidAnswer
from consensus.matching import match_regions
from consensus.segments import SegmentVote

MAX_AUDIO_SECONDS = 6 * 3600.0  # when the item's duration is unknown (an audio URL)


def audio_duration(control: ControlSpec, context: ItemContext) -> float | None:
    obj = context.objects.get(control.targets[0])
    meta = (context.data.get("_media") or {}).get(obj.variable) if obj else None
    duration = meta.get("duration") if isinstance(meta, dict) else None
    return float(duration) if isinstance(duration, (int, float)) and duration > 0 else None


class Segments(RegionKind):
    kind = "segments"
    tags = ("Labels",)
    targets = ("audio",)
    labels_key = "labels"
    noun = "segment"
    threshold_defaults = {"min_f1": 0.5, "iou": 0.5}

    def region_value(self, control: ControlSpec, region: dict[str, Any], context: ItemContext,
                     index: int) -> dict[str, Any]:
        value = check_value_keys(region.get("value"), {"start", "end", "labels", "channel"}, index)
        duration = audio_duration(control, context)
        limit = duration if duration is not None else MAX_AUDIO_SECONDS
        start = number_in(value.get("start"), 0.0, limit, f"result[{index}].value.start", index)
        end = number_in(value.get("end"), 0.0, limit, f"result[{index}].value.end", index)
        if end <= start:
            raise InvalidAnswer(f"result[{index}]: a segment must end after it starts.", index=index)
        return {"start": round(start, 3), "end": round(end, 3),
                "label": one_label(control, value, "labels", index)}

    def sort_key(self, value: dict[str, Any]) -> tuple:
        return (value["start"], value["end"], value["label"] or "")

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        return [{"value": {"start": s["start"], "end": s["end"], "channel": 0,
                           **self.label_value(control, s["label"])}} for s in value]

    def decide(self, control: ControlSpec, values: list[Any], weights: list[float],
               context: ItemContext, thresholds: dict[str, float]) -> Any:
        rows = label_codes(control, values)
        X = np.array([(0, worker, code) for worker, code, _ in rows], dtype=np.int64)
        segments = [[r["start"], r["end"]] if r else [0.0, 0.0] for _, _, r in rows]
        duration = audio_duration(control, context) or max([r["end"] for _, _, r in rows if r] or [0.0])
        vote = SegmentVote().fit(X, segments, durations=[duration], weights=weights,
                                 n_classes=max(len(control.choices), 1))
        return [{"start": round(float(s), 3), "end": round(float(e), 3), "label": label_of(control, int(code))}
                for (s, e), code in zip(vote.segments_, vote.labels_)]

    def match(self, control, value, reference, context, thresholds):
        return match_regions("segments", value, reference, threshold=thresholds["iou"])

    def describe(self, control: ControlSpec, value: dict[str, Any], context: ItemContext) -> str:
        return f"{value['label'] or 'a segment'} {value['start']:.1f}–{value['end']:.1f} s"
