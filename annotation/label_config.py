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

from annotation.errors import InvalidAnswer, InvalidConfig

OBJECT_KINDS = {"TextTag": "text", "ImageTag": "image", "AudioTag": "audio"}
CONTROL_KINDS = {"ChoicesTag": "choices"}
MAX_CONFIG_CHARS = 100_000
_VARIABLE_RE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_.-]*)$")


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    kind: str  # text | image | audio
    variable: str  # the task data key its value comes from


@dataclass(frozen=True)
class ControlSpec:
    name: str
    kind: str  # choices
    to_name: str
    multiple: bool
    choices: tuple[str, ...]


@dataclass(frozen=True)
class LabelSpec:
    objects: tuple[ObjectSpec, ...]
    controls: tuple[ControlSpec, ...]
    variables: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def control(self, name: str) -> ControlSpec | None:
        return next((c for c in self.controls if c.name == name), None)

    @property
    def media_variables(self) -> dict[str, str]:
        """Data keys that hold a file URL, mapped to the kind of media (image/audio)."""
        return {o.variable: o.kind for o in self.objects if o.kind in ("image", "audio")}


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

    objects: list[ObjectSpec] = []
    for tag in interface.objects:
        kind = OBJECT_KINDS.get(type(tag).__name__)
        if kind is None:
            raise InvalidConfig(
                f'Object tag <{_tag_name(tag)} name="{tag.name}"> is not supported yet; '
                "use Text, Image or Audio."
            )
        match = _VARIABLE_RE.match(tag.value or "")
        if not match:
            raise InvalidConfig(
                f'<{_tag_name(tag)} name="{tag.name}"> needs value="$field" naming a data field, '
                f"not {tag.value!r}."
            )
        objects.append(ObjectSpec(name=tag.name, kind=kind, variable=match.group(1)))

    controls: list[ControlSpec] = []
    for tag in interface.controls:
        kind = CONTROL_KINDS.get(type(tag).__name__)
        if kind is None:
            raise InvalidConfig(
                f'Control tag <{_tag_name(tag)} name="{tag.name}"> is not supported yet; '
                "this version scores <Choices> (single or multiple)."
            )
        labels = tuple(str(v) for v in (tag.labels or []))
        if len(labels) < 2:
            raise InvalidConfig(f'<Choices name="{tag.name}"> needs at least two <Choice> values.')
        if len(set(labels)) != len(labels):
            raise InvalidConfig(f'<Choices name="{tag.name}"> repeats a <Choice> value.')
        choice_mode = (tag.attr or {}).get("choice", "single")
        if choice_mode not in ("single", "single-radio", "multiple"):
            raise InvalidConfig(
                f'<Choices name="{tag.name}"> has choice="{choice_mode}"; use single or multiple.'
            )
        controls.append(
            ControlSpec(
                name=tag.name,
                kind=kind,
                to_name=",".join(tag.to_name or []),
                multiple=choice_mode == "multiple",
                choices=labels,
            )
        )
    if not objects:
        raise InvalidConfig("The labeling config has no object to label: add <Text>, <Image> or <Audio>.")
    if not controls:
        raise InvalidConfig("The labeling config has no control: add <Choices> with <Choice> values.")
    variables = tuple(dict.fromkeys(o.variable for o in objects))
    return LabelSpec(objects=tuple(objects), controls=tuple(controls), variables=variables)


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


# The keys of a Label Studio result object that a choices answer may carry, and the origins it
# may name; anything else is refused, so an answer stores nothing the config does not define.
RESULT_KEYS = frozenset({"id", "from_name", "to_name", "type", "value", "origin"})
RESULT_ORIGINS = frozenset({"manual", "prediction", "prediction-changed"})
_RESULT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def validate_answer(spec: LabelSpec, result: Any) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Check a Label Studio `result` list against the spec.

    Returns (the result rebuilt from what was checked — known controls, their choices in config
    order, `id`/`origin` when well formed, nothing else — and {control: sorted choices}).
    Every control must be answered: exactly one choice for single, at least one for multiple.
    The size is bounded by the config: one region per control (a second one for a control is
    refused, so at most len(controls) + 1 regions are ever looked at), choices from its list.
    """
    if not isinstance(result, list):
        raise InvalidAnswer("`result` must be a list of Label Studio result objects.")
    chosen: dict[str, list[str]] = {}
    regions: dict[str, dict[str, Any]] = {}
    for index, region in enumerate(result):
        if not isinstance(region, dict):
            raise InvalidAnswer(f"result[{index}] must be an object.", index=index)
        unknown_keys = sorted(k for k in region if k not in RESULT_KEYS)
        if unknown_keys:
            raise InvalidAnswer(f"result[{index}] has {_short(unknown_keys[0])}, which is not a key of a "
                                f"Label Studio result ({', '.join(sorted(RESULT_KEYS))}).", index=index)
        name = region.get("from_name")
        control = spec.control(name) if isinstance(name, str) else None
        if control is None:
            raise InvalidAnswer(f"result[{index}].from_name {_short(name)} is not a control of this job.",
                                index=index)
        if region.get("type") != control.kind:
            raise InvalidAnswer(f"result[{index}].type must be {control.kind!r}.", index=index)
        if region.get("to_name", control.to_name) != control.to_name:
            raise InvalidAnswer(f"result[{index}].to_name must be {control.to_name!r}.", index=index)
        if name in chosen:
            raise InvalidAnswer(f"Control {name!r} is answered twice.", index=index)
        value = region.get("value")
        choices = value.get("choices") if isinstance(value, dict) else None
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise InvalidAnswer(f"result[{index}].value.choices must be a list of strings.", index=index)
        if set(value) != {"choices"}:
            raise InvalidAnswer(f"result[{index}].value may hold only `choices`.", index=index)
        unknown = [c for c in choices if c not in control.choices]
        if unknown:
            raise InvalidAnswer(f"{_short(unknown[0])} is not a choice of {name!r}.", index=index)
        if len(set(choices)) != len(choices):
            raise InvalidAnswer(f"Control {name!r} repeats a choice.", index=index)
        if not choices:
            raise InvalidAnswer(f"Choose at least one option for {name!r}.", index=index)
        if not control.multiple and len(choices) != 1:
            raise InvalidAnswer(f"Choose exactly one option for {name!r}.", index=index)
        chosen[name] = sorted(choices, key=control.choices.index)
        regions[name] = _clean_region(region, control, chosen[name], index)
    missing = [c.name for c in spec.controls if c.name not in chosen]
    if missing:
        raise InvalidAnswer(f"Answer every question: {', '.join(missing)} has no choice.")
    return [regions[c.name] for c in spec.controls], chosen


def _clean_region(region: dict[str, Any], control: ControlSpec, choices: list[str],
                  index: int) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if "id" in region:
        if not isinstance(region["id"], str) or not _RESULT_ID_RE.match(region["id"]):
            raise InvalidAnswer(f"result[{index}].id must be 1–64 letters, digits, '-' or '_'.", index=index)
        clean["id"] = region["id"]
    clean.update(from_name=control.name, to_name=control.to_name, type=control.kind,
                 value={"choices": list(choices)})
    if "origin" in region:
        if region["origin"] not in RESULT_ORIGINS:
            raise InvalidAnswer(f"result[{index}].origin must be one of "
                                f"{', '.join(sorted(RESULT_ORIGINS))}.", index=index)
        clean["origin"] = region["origin"]
    return clean


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
    if value is None:
        text = "None"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def normalize_answer(spec: LabelSpec, result: Any) -> dict[str, list[str]]:
    """Validate `result` (see `validate_answer`) and return {control: sorted choices}.

    `result` itself is rewritten in place to the validated, normalized list, so the caller that
    stores it stores only what was checked (a client cannot park extra JSON in an answer).
    """
    normalized, chosen = validate_answer(spec, result)
    result[:] = normalized
    return chosen


def result_from_choices(spec: LabelSpec, chosen: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The Label Studio result list for a {control: choices} mapping (for exports)."""
    return [
        {"from_name": c.name, "to_name": c.to_name, "type": c.kind,
         "value": {"choices": list(chosen[c.name])}}
        for c in spec.controls if c.name in chosen
    ]
