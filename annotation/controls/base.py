"""What every control kind shares: its spec, the checks on a Label Studio region, and the
interface a kind implements (see `ControlKind`).

A kind turns Label Studio result regions into a *normalized value* (docs/annotation-types.md)
and back; the value is what is stored per control, decided, compared for acceptance and
exported. One normalized shape per kind keeps every consumer simple: consensus never reads
Label Studio JSON, and exports never re-validate.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from annotation.errors import InvalidAnswer, InvalidConfig

# The keys a Label Studio result region may carry; anything else is refused, so an answer
# stores nothing the config does not define.
RESULT_KEYS = frozenset({"id", "from_name", "to_name", "type", "value", "origin", "original_width",
                         "original_height", "image_rotation", "original_length", "readonly",
                         "hidden", "parentID", "score"})
RESULT_ORIGINS = frozenset({"manual", "prediction", "prediction-changed"})
_RESULT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_REGIONS = 500  # regions of one control in one answer
MAX_LABEL_CHARS = 200


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    kind: str  # text | hypertext | paragraphs | image | audio
    variable: str  # the task data key its value comes from
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ControlSpec:
    name: str
    kind: str  # a key of annotation.controls.KINDS
    to_name: str  # the object names it labels, comma-joined (two for Pairwise)
    multiple: bool = False
    choices: tuple[str, ...] = ()  # the Choice values or Label values
    result_type: str = "choices"  # Label Studio's result `type` for this control
    required: bool = True
    scored: bool = True  # decided by consensus and decides pay
    target_kind: str = "text"  # the kind of the (first) object it labels
    options: dict[str, Any] = field(default_factory=dict)  # kind-specific: maxRating, min, max…

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.to_name.split(","))


@dataclass(frozen=True)
class ItemContext:
    """What a kind may need of the item to check an answer: the task data and the objects."""

    data: dict[str, Any]
    objects: dict[str, ObjectSpec]

    def value_of(self, object_name: str) -> Any:
        obj = self.objects.get(object_name)
        return None if obj is None else self.data.get(obj.variable)


@dataclass(frozen=True)
class KindDecision:
    """A non-categorical control decided for one item: the consensus value and its confidence."""

    basis: str  # "model" | "votes" | "gold"
    label: Any
    confidence: float

    def as_json(self) -> dict[str, Any]:
        return {"basis": self.basis, "label": self.label, "confidence": self.confidence}


class ControlKind:
    """One kind of control. Subclasses set the class attributes and implement the methods.

    `categorical` kinds (a single choice, a multiple choice per label, a pairwise preference)
    are decided by the job's aggregation method through `facets`; the others by their own
    skill-weighted aggregator through `decide` and `score`.
    """

    kind: ClassVar[str]
    threshold_defaults: ClassVar[dict[str, float]] = {}  # acceptance thresholds a job may set
    tags: ClassVar[tuple[str, ...]]  # the XML tags this kind serves
    targets: ClassVar[tuple[str, ...]]  # object kinds it may label
    categorical: ClassVar[bool] = False
    regions: ClassVar[bool] = False  # many regions per answer (boxes, spans…) vs one value

    # --- config ---------------------------------------------------------------------------
    def build(self, tag: str, attrs: dict[str, str], labels: tuple[str, ...],
              targets: list[ObjectSpec]) -> ControlSpec:
        raise NotImplementedError

    # --- answers --------------------------------------------------------------------------
    def from_result(self, control: ControlSpec, regions: list[tuple[int, dict[str, Any]]],
                    context: ItemContext) -> Any:
        """The normalized value of this control's (index, region) pairs, whose common keys
        (from_name, to_name, type, id, origin) are already checked."""
        raise NotImplementedError

    def to_result(self, control: ControlSpec, value: Any) -> list[dict[str, Any]]:
        """Label Studio result regions for a normalized value."""
        raise NotImplementedError

    def is_empty(self, value: Any) -> bool:
        return value in (None, "", [])

    # --- deciding (non-categorical) -----------------------------------------------------------
    def decide(self, control: ControlSpec, values: list[Any], weights: list[float],
               context: ItemContext, thresholds: dict[str, float]) -> Any:
        """The consensus value of one item's answers (worker weights in the same order)."""
        raise NotImplementedError

    def score(self, control: ControlSpec, value: Any, reference: Any, context: ItemContext,
              thresholds: dict[str, float]) -> float:
        """How well `value` agrees with `reference` (the consensus or gold), in [0, 1]."""
        raise NotImplementedError

    def rejection(self, control: ControlSpec, value: Any, reference: Any, context: ItemContext,
                  thresholds: dict[str, float]) -> str | None:
        """Why `value` is rejected against `reference`, in the task's terms, or None."""
        raise NotImplementedError

    # --- deciding (categorical) ---------------------------------------------------------------
    def facets(self, control: ControlSpec) -> list[tuple[str, list[str]]]:
        """(facet key, its class keys) for each categorical question this control asks."""
        raise NotImplementedError

    def facet_values(self, control: ControlSpec, value: Any) -> dict[str, str]:
        """{facet key: class key} of a normalized value."""
        raise NotImplementedError

    def label_from_facets(self, control: ControlSpec, labels: dict[str, str]) -> Any:
        """The normalized value that the most probable class of every facet makes."""
        raise NotImplementedError


# --- shared checks ---------------------------------------------------------------------------

def clean_region(region: dict[str, Any], control: ControlSpec, value: dict[str, Any], index: int,
                 *, to_name: str | None = None) -> dict[str, Any]:
    """A region rebuilt from what was checked: its id and origin when well formed, the control's
    names and type, and `value` (already normalized by the kind)."""
    clean: dict[str, Any] = {}
    if "id" in region:
        if not isinstance(region["id"], str) or not _RESULT_ID_RE.match(region["id"]):
            raise InvalidAnswer(f"result[{index}].id must be 1–64 letters, digits, '-' or '_'.", index=index)
        clean["id"] = region["id"]
    clean.update(from_name=control.name, to_name=to_name or control.to_name, type=control.result_type,
                 value=value)
    if "origin" in region:
        if region["origin"] not in RESULT_ORIGINS:
            raise InvalidAnswer(f"result[{index}].origin must be one of "
                                f"{', '.join(sorted(RESULT_ORIGINS))}.", index=index)
        clean["origin"] = region["origin"]
    return clean


def number_in(value: Any, low: float, high: float, what: str, index: int | None = None) -> float:
    """`value` as a finite float in [low, high], or InvalidAnswer naming `what`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidAnswer(f"{what} must be a number.", index=index)
    if not low - 1e-9 <= value <= high + 1e-9:
        raise InvalidAnswer(f"{what} must be between {low:g} and {high:g}, not {value:g}.", index=index)
    return float(min(max(value, low), high))


def one_label(control: ControlSpec, value: dict[str, Any], key: str, index: int) -> str | None:
    """The single label a region names under `value[key]` (None for an unlabeled tool)."""
    if not control.choices:
        if key in value and value[key] not in ([], None):
            raise InvalidAnswer(f"{control.name!r} draws without labels; result[{index}] names one.", index=index)
        return None
    labels = value.get(key)
    if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
        raise InvalidAnswer(f"result[{index}].value.{key} must name exactly one label of {control.name!r}.",
                            index=index)
    if labels[0] not in control.choices:
        raise InvalidAnswer(f"{short(labels[0])} is not a label of {control.name!r}; use one of "
                            f"{', '.join(control.choices)}.", index=index)
    return labels[0]


def check_value_keys(value: Any, allowed: set[str], index: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidAnswer(f"result[{index}].value must be an object.", index=index)
    unknown = sorted(k for k in value if k not in allowed)
    if unknown:
        raise InvalidAnswer(f"result[{index}].value has {short(unknown[0])}, which this control does not "
                            f"take ({', '.join(sorted(allowed))}).", index=index)
    return value


def config_number(attrs: dict[str, str], key: str, default: float | None, tag: str, name: str) -> float | None:
    raw = attrs.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidConfig(f'<{tag} name="{name}"> has {key}="{raw}"; it must be a number.') from None
    if not math.isfinite(value):
        raise InvalidConfig(f'<{tag} name="{name}"> has {key}="{raw}"; it must be a finite number.')
    return value


def config_flag(attrs: dict[str, str], key: str, default: bool) -> bool:
    raw = attrs.get(key)
    if raw is None:
        return default
    return raw.strip().lower() in ("true", "1", "yes")


def short(value: Any, limit: int = 40) -> str:
    if value is None:
        return "None"
    text = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_labels(tag: str, name: str, labels: tuple[str, ...], *, least: int) -> tuple[str, ...]:
    if len(labels) < least:
        what = "<Choice>" if tag == "Choices" else "<Label>"
        count = {1: "one", 2: "two"}.get(least, str(least))
        raise InvalidConfig(f'<{tag} name="{name}"> needs at least {count} {what} value{"s" if least != 1 else ""}.')
    if len(set(labels)) != len(labels):
        raise InvalidConfig(f'<{tag} name="{name}"> repeats a value.')
    if any(len(label) > MAX_LABEL_CHARS or not label.strip() for label in labels):
        raise InvalidConfig(f'<{tag} name="{name}"> has an empty label or one longer than {MAX_LABEL_CHARS} '
                            "characters.")
    return labels
