"""Labeling configs in Label Studio's XML language.

Parsing and validation are label-studio-sdk's `LabelInterface`; on top of it we check that the
config uses only the tags this version of Fairlabel can serve and score, and we turn it into a
small `LabelSpec` the browser renders and the consensus engine reads.
"""
from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from annotation.controls import (
    KINDS,
    ControlSpec,
    ItemContext,
    ObjectSpec,
    kind_for_tag,
    kind_of,
    tags_for,
)
from annotation.controls.base import RESULT_KEYS, clean_region, short
from annotation.errors import InvalidAnswer, InvalidConfig

__all__ = ["ControlSpec", "LabelSpec", "ObjectSpec", "check_new_config", "check_value", "normalize_answer",
           "parse_label_config", "result_from_values", "validate_answer"]

OBJECT_KINDS = {"TextTag": "text", "HyperTextTag": "hypertext", "ParagraphsTag": "paragraphs",
                "ImageTag": "image", "AudioTag": "audio"}
# Tags that only lay the page out or belong to a control; <Style> is dropped (a strict CSP holds
# on the labeling page, so a config cannot style it).
LAYOUT_TAGS = frozenset({"View", "Header", "Style", "Choice", "Label"})
MAX_CONFIG_CHARS = 100_000
_VARIABLE_RE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_.-]*)$")
MAX_HEADER_CHARS = 2_000


@dataclass(frozen=True)
class LabelSpec:
    objects: tuple[ObjectSpec, ...]
    controls: tuple[ControlSpec, ...]
    variables: tuple[str, ...] = field(default=())
    # What the page shows, in the config's order: {"type": "header", "text"} | {"type": "object",
    # "name"} | {"type": "control", "name"}.
    layout: tuple[dict[str, str], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def control(self, name: str) -> ControlSpec | None:
        return next((c for c in self.controls if c.name == name), None)

    def object(self, name: str) -> ObjectSpec | None:
        return next((o for o in self.objects if o.name == name), None)

    @property
    def scored_controls(self) -> tuple[ControlSpec, ...]:
        """The controls consensus decides and pay depends on."""
        return tuple(c for c in self.controls if c.scored)

    @property
    def media_variables(self) -> dict[str, str]:
        """Data keys that hold a file URL, mapped to the kind of media (image/audio)."""
        return {o.variable: o.kind for o in self.objects if o.kind in ("image", "audio")}

    def task_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """What an annotator is sent of an item's `data`: the fields the config's objects read,
        nothing else (a file name or a requester's own columns may give the answer away)."""
        return {name: data[name] for name in self.variables if name in data}

    def variables_of(self, kind: str) -> list[str]:
        return [o.variable for o in self.objects if o.kind == kind]


@functools.lru_cache(maxsize=256)
def parse_label_config(xml: str) -> LabelSpec:
    """Validate `xml` with label-studio-sdk and return its LabelSpec, or raise InvalidConfig."""
    from label_studio_sdk.label_interface import LabelInterface  # heavy import, only when needed

    if not xml or not xml.strip():
        raise InvalidConfig("The labeling config is empty: write a <View> with an object and a control.")
    if len(xml) > MAX_CONFIG_CHARS:
        raise InvalidConfig(f"The labeling config is longer than {MAX_CONFIG_CHARS} characters.")
    try:
        interface = LabelInterface(xml)
        interface.validate()
    except Exception as exc:  # the SDK raises bare Exception subclasses with useful text
        raise InvalidConfig(f"Invalid labeling config: {_describe_sdk_error(exc)}") from None

    objects: dict[str, ObjectSpec] = {}
    for tag in interface.objects:
        kind = OBJECT_KINDS.get(type(tag).__name__)
        if kind is None:
            raise InvalidConfig(
                f'Object tag <{_tag_name(tag)} name="{tag.name}"> is not supported yet; '
                "use Text, HyperText, Paragraphs, Image or Audio."
            )
        match = _VARIABLE_RE.match(tag.value or "")
        if not match:
            raise InvalidConfig(
                f'<{_tag_name(tag)} name="{tag.name}"> needs value="$field" naming a data field, '
                f"not {tag.value!r}."
            )
        options = {}
        if kind == "paragraphs":
            options = {"name_key": (tag.attr or {}).get("nameKey", "author"),
                       "text_key": (tag.attr or {}).get("textKey", "text")}
        objects[tag.name] = ObjectSpec(name=tag.name, kind=kind, variable=match.group(1), options=options)

    controls: list[ControlSpec] = []
    for tag in interface.controls:
        name = _tag_name(tag)
        attrs = {str(k): str(v) for k, v in (tag.attr or {}).items()}
        attrs.setdefault("toName", ",".join(tag.to_name or []))
        targets = [objects[t] for t in (tag.to_name or []) if t in objects]
        kind = kind_for_tag(name, targets[0].kind if targets else None)
        if kind is None:
            where = f" on <{_object_tag(targets[0])}>" if targets and kind_for_tag(name, None) else ""
            raise InvalidConfig(
                f'Control tag <{name} name="{tag.name}">{where} is not supported yet; this version serves '
                f"{_served(targets[0].kind if targets and where else None)}."
            )
        if not targets and kind.kind != "choices":  # an old Choices job may point at nothing; nothing else can
            raise InvalidConfig(f'Control "{tag.name}": toName="{attrs["toName"]}" names no object.')
        for target in targets:
            if target.kind not in kind.targets:
                raise InvalidConfig(f'<{name} name="{tag.name}"> cannot label <{_object_tag(target)} '
                                    f'name="{target.name}">; it labels {", ".join(kind.targets)}.')
        labels = tuple(str(v) for v in (tag.labels or []))
        attrs["name"] = tag.name
        controls.append(kind.build(name, attrs, labels, targets or [ObjectSpec("", "text", "")]))
    if not objects:
        raise InvalidConfig("The labeling config has no object to label: add <Text>, <Image> or <Audio>.")
    if not controls:
        raise InvalidConfig("The labeling config has no control: add <Choices> with <Choice> values.")
    if not any(c.scored for c in controls):
        raise InvalidConfig("Every control of this config is optional, so nothing would be decided or paid: "
                            'make one required (required="true").')
    layout = _layout(xml, set(objects), {c.name for c in controls})
    variables = tuple(dict.fromkeys(o.variable for o in objects.values()))
    return LabelSpec(objects=tuple(objects.values()), controls=tuple(controls), variables=variables,
                     layout=layout)


def _layout(xml: str, objects: set[str], controls: set[str]) -> tuple[dict[str, str], ...]:
    """The page in the config's order; refuses a tag the platform does not serve, naming it."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(xml.strip().encode("utf-8"), parser=parser)
    layout: list[dict[str, str]] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        name = element.get("name")
        if name in objects and element.tag in _OBJECT_TAGS:
            layout.append({"type": "object", "name": name})
        elif name in controls and element.tag not in LAYOUT_TAGS:
            layout.append({"type": "control", "name": name})
        elif element.tag == "Header":
            text = (element.get("value") or element.text or "").strip()
            if len(text) > MAX_HEADER_CHARS:
                raise InvalidConfig(f"A <Header> is longer than {MAX_HEADER_CHARS} characters.")
            if text:
                layout.append({"type": "header", "text": text})
        elif element.tag not in LAYOUT_TAGS:
            raise InvalidConfig(f"<{element.tag}> is not supported yet; this version lays a config out with "
                                "View and Header.")
    return tuple(layout)


_OBJECT_TAGS = frozenset({"Text", "HyperText", "Paragraphs", "Image", "Audio"})


def _object_tag(obj: ObjectSpec) -> str:
    return {"text": "Text", "hypertext": "HyperText", "paragraphs": "Paragraphs", "image": "Image",
            "audio": "Audio"}[obj.kind]


def _served(target_kind: str | None) -> str:
    if target_kind is not None:
        return f"on {target_kind}: " + ", ".join(tags_for(target_kind))
    return ", ".join(sorted({t for kind in KINDS.values() for t in kind.tags}))


def check_new_config(spec: LabelSpec) -> LabelSpec:
    """What a new job's config must also satisfy: every control's toName names an object (the SDK
    checks only that some tag has the name). Checked at create, not on every read, so a job stored
    before the check still opens."""
    object_names = {o.name for o in spec.objects}
    for control in spec.controls:
        for target in control.to_name.split(","):
            if target not in object_names:
                raise InvalidConfig(
                    f'Control "{control.name}": toName="{target}" names no object; point it at '
                    f"one of: {', '.join(sorted(object_names))}."
                )
    return spec


def _tag_name(tag: Any) -> str:
    return getattr(tag, "tag", None) or type(tag).__name__.removesuffix("Tag")


def _describe_sdk_error(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    # lxml reports "(<string>, line 1)" after already saying line and column: drop the noise.
    return re.sub(r"\s*\(<string>, line \d+\)$", "", text)


MAX_TOTAL_REGIONS = 2_000  # regions in one answer, whatever the config


def validate_answer(spec: LabelSpec, result: Any, data: dict[str, Any] | None = None
                    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Check a Label Studio `result` list against the spec and the item's `data`.

    Returns (the result rebuilt from what was checked — known controls, normalized values,
    `id`/`origin` when well formed, nothing else — and {control: normalized value}). Every
    required control must be answered; a region control left empty means "nothing to mark".
    Sizes are bounded before any region is looked at in depth.
    """
    if not isinstance(result, list):
        raise InvalidAnswer("`result` must be a list of Label Studio result objects.")
    if len(result) > MAX_TOTAL_REGIONS:
        raise InvalidAnswer(f"`result` holds {len(result)} regions; at most {MAX_TOTAL_REGIONS} are taken.")
    context = ItemContext(data=data or {}, objects={o.name: o for o in spec.objects})
    grouped: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, region in enumerate(result):
        if not isinstance(region, dict):
            raise InvalidAnswer(f"result[{index}] must be an object.", index=index)
        unknown_keys = sorted(k for k in region if k not in RESULT_KEYS)
        if unknown_keys:
            raise InvalidAnswer(f"result[{index}] has {short(unknown_keys[0])}, which is not a key of a "
                                f"Label Studio result ({', '.join(sorted(RESULT_KEYS))}).", index=index)
        name = region.get("from_name")
        control = spec.control(name) if isinstance(name, str) else None
        if control is None:
            raise InvalidAnswer(f"result[{index}].from_name {short(name)} is not a control of this job.",
                                index=index)
        if region.get("type") != control.result_type:
            raise InvalidAnswer(f"result[{index}].type must be {control.result_type!r}.", index=index)
        if region.get("to_name", control.to_name) != control.to_name:
            raise InvalidAnswer(f"result[{index}].to_name must be {control.to_name!r}.", index=index)
        grouped.setdefault(name, []).append((index, region))
    values: dict[str, Any] = {}
    clean: list[dict[str, Any]] = []
    missing = []
    for control in spec.controls:
        kind = kind_of(control)
        regions = grouped.get(control.name, [])
        if not regions and not kind.regions:
            if control.required:
                missing.append(control.name)
            continue
        value = kind.from_result(control, regions, context)
        if not kind.regions and kind.is_empty(value) and not control.required:
            continue
        values[control.name] = value
        # A single-value control keeps its region's id and origin; regions are rebuilt in
        # canonical order, so theirs are regenerated by position.
        index, source = regions[0] if regions and not kind.regions else (0, {})
        for position, rebuilt in enumerate(kind.to_result(control, value)):
            region = clean_region(source, control, rebuilt["value"], index)
            if kind.regions:
                region["id"] = f"{control.name[:40]}-{position}"
            clean.append(region)
    if missing:
        raise InvalidAnswer(f"Answer every question: {', '.join(missing)} has no answer.")
    return clean, values


def normalize_answer(spec: LabelSpec, result: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate `result` (see `validate_answer`) and return {control: normalized value}.

    `result` itself is rewritten in place to the validated, normalized list, so the caller that
    stores it stores only what was checked (a client cannot park extra JSON in an answer).
    """
    normalized, values = validate_answer(spec, result, data)
    result[:] = normalized
    return values


def result_from_values(spec: LabelSpec, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The Label Studio result list for {control: normalized value} (for exports)."""
    out = []
    for control in spec.controls:
        if control.name not in values or values[control.name] is None:
            continue
        for region in kind_of(control).to_result(control, values[control.name]):
            out.append({"from_name": control.name, "to_name": control.to_name, "type": control.result_type,
                        "value": region["value"]})
    return out


result_from_choices = result_from_values  # the name exports used when every control was a choice


def check_value(spec: LabelSpec, control: ControlSpec, value: Any, data: dict[str, Any] | None = None) -> Any:
    """A normalized value (gold, an import) checked by the same path as an answer: turned into
    Label Studio regions and read back, so it holds only what an annotator could have sent."""
    kind = kind_of(control)
    try:
        regions = kind.to_result(control, value)
    except (TypeError, KeyError, AttributeError, IndexError):
        raise InvalidAnswer(f"{short(value)} is not a value of {control.name!r} ({control.kind}).") from None
    rebuilt = [(i, {"from_name": control.name, "to_name": control.to_name, "type": control.result_type, **r})
               for i, r in enumerate(regions)]
    context = ItemContext(data=data or {}, objects={o.name: o for o in spec.objects})
    return kind.from_result(control, rebuilt, context)
