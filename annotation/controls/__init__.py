"""The control kinds Fairlabel serves, one module each, behind one registry.

Adding a kind: write `annotation/controls/<kind>.py` with a `ControlKind` subclass, list it in
`KINDS` below, and add `static/js/controls/<kind>.js` for the labeling page. Nothing else
dispatches on the kind by name.
"""
from __future__ import annotations

from annotation.controls.base import ControlKind, ControlSpec, ItemContext, KindDecision, ObjectSpec
from annotation.controls.choices import Choices, class_key
from annotation.controls.keypoints import Keypoints
from annotation.controls.pairwise import Pairwise
from annotation.controls.polygons import Polygons
from annotation.controls.rectangles import Rectangles
from annotation.controls.scalars import Number, Rating
from annotation.controls.segments import Segments
from annotation.controls.spans import Spans, text_content
from annotation.controls.textarea import TextArea

KINDS: dict[str, ControlKind] = {kind.kind: kind for kind in (
    Choices(), Pairwise(), Spans(), Segments(), Rectangles(), Polygons(), Keypoints(), TextArea(), Rating(),
    Number())}


def kind_for_tag(tag: str, target_kind: str | None) -> ControlKind | None:
    """The kind serving a control tag on an object kind (`Labels` spans text, segments audio)."""
    for kind in KINDS.values():
        if tag in kind.tags and (target_kind is None or target_kind in kind.targets):
            return kind
    return None


def tags_for(target_kind: str) -> list[str]:
    return sorted({tag for kind in KINDS.values() if target_kind in kind.targets for tag in kind.tags})


def kind_of(control: ControlSpec) -> ControlKind:
    return KINDS[control.kind]


__all__ = ["KINDS", "ControlKind", "ControlSpec", "ItemContext", "KindDecision", "ObjectSpec", "class_key",
           "kind_for_tag", "kind_of", "tags_for", "text_content"]
