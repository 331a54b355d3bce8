"""What every export format shares: reading a job's rows in bounded chunks, readable consensus
values, and the media behind image and audio items (names, sizes, signed links, files).

Rows are read by keyset pagination on the item id (`id > last ORDER BY id LIMIT chunk`), as
plain column tuples rather than ORM objects: no identity map grows, no server-side cursor stays
open, and memory is one chunk of items and their answers whatever the job's size.

Where the chunks are read: by default on the caller's session, in its transaction (a test, a
service that wants its own uncommitted rows). With `own_transactions` (the route and the CLI,
which end their session's transaction before streaming), each chunk is read on a connection of
its own in a transaction that ends with the read, so a client downloading slowly holds no lock
and no snapshot — on SQLite, where every transaction begins IMMEDIATE, one long read would stall
every writer for the whole download.
"""
from __future__ import annotations

import datetime as dt
import re
import sqlite3
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import sqlalchemy as sa

from annotation.controls import ItemContext
from annotation.controls.spans import object_text
from annotation.exports.media import MediaSigner
from annotation.label_config import ControlSpec, LabelSpec
from annotation.media import MEDIA_URL_PREFIX, media_path
from annotation.models import Answer, Item
from app.extensions import db

MEDIA_META_KEY = "_media"  # {variable: {"name", "width", "height"} | {"name", "duration"}} (annotation/imports.py)
DEFAULT_CHUNK = 1000


@dataclass(slots=True)
class ItemRow:
    id: int
    data: dict[str, Any]
    consensus: dict[str, Any] | None
    confidence: float | None
    n_answers: int


@dataclass(slots=True)
class AnswerRow:
    id: int
    item_id: int
    worker_id: int
    result: list[Any]
    values: dict[str, Any]  # Answer.choices: {control: normalized value}
    status: str
    active_ms: int
    submitted_at: dt.datetime


@dataclass
class ExportContext:
    """One export's inputs, captured when it is asked for (the stream runs later)."""

    job_id: int
    title: str
    aggregation: str
    label_config: str
    spec: LabelSpec
    media: bool = False  # put the media files in the archive
    media_root: Path | None = None
    signer: MediaSigner | None = None
    chunk_size: int = DEFAULT_CHUNK
    extra_files: dict[str, bytes] = field(default_factory=dict)
    own_transactions: bool = False  # read each chunk in a short transaction of its own
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # --- rows ---------------------------------------------------------------------------
    def _read(self, statement: Any) -> list[Any]:
        """The rows of `statement` (None: no rows)."""
        if statement is None:
            return []
        if not self.own_transactions:
            return db.session.execute(statement).all()
        with db.engine.connect() as conn:
            rows = conn.execute(statement).all()
            conn.rollback()  # nothing was written; end the transaction before the rows are used
            return rows

    def items(self, *, answers: bool = False) -> Iterator[tuple[ItemRow, list[AnswerRow]]]:
        """Every item of the job in id order, with its answers (in id order) if asked."""
        last = 0
        while True:
            rows = self._read(
                db.select(Item.id, _text(Item.data), _text(Item.consensus), Item.confidence, Item.n_answers)
                .where(Item.job_id == self.job_id, Item.id > last).order_by(Item.id).limit(self.chunk_size))
            answer_rows = self._read(
                db.select(Answer.id, Answer.item_id, Answer.worker_id, _text(Answer.result), _text(Answer.choices),
                          Answer.status, Answer.active_ms, Answer.submitted_at)
                # The chunk is exactly the job's items with ids in (last, its last id]: a range,
                # not a list of ids, so the planner takes the item index even without statistics.
                .where(Answer.job_id == self.job_id, Answer.item_id > last, Answer.item_id <= rows[-1].id)
                .order_by(Answer.item_id, Answer.id)
                if answers and rows else None)
            if not rows:
                return
            by_item: dict[int, list[AnswerRow]] = {}
            if answers:
                for a_id, item_id, worker_id, result, choices, status, active_ms, submitted_at in answer_rows:
                    by_item.setdefault(item_id, []).append(AnswerRow(
                        a_id, item_id, worker_id, _loads(result) or [], _loads(choices) or {}, _status(status),
                        active_ms, submitted_at))
            for item_id, data, consensus, confidence, n_answers in rows:
                yield (ItemRow(item_id, _loads(data) or {}, _loads(consensus), confidence, n_answers),
                       by_item.get(item_id, []))
            last = rows[-1].id
            if len(rows) < self.chunk_size:
                return

    def data_fields(self) -> list[str]:
        """Every data key of the job's items, in order of first appearance (`_media` aside): a
        first pass over the data alone, so a table's header is known before its first row."""
        seen: dict[str, None] = {}
        last = 0
        while True:
            rows = self._read(
                db.select(Item.id, Item.data).where(Item.job_id == self.job_id, Item.id > last)
                .order_by(Item.id).limit(self.chunk_size))
            for r in rows:
                for key in r.data or {}:
                    if key != MEDIA_META_KEY and key not in seen:
                        seen[key] = None
            if len(rows) < self.chunk_size:
                return list(seen)
            last = rows[-1].id

    # --- media --------------------------------------------------------------------------
    def stored_name(self, value: Any) -> str | None:
        """The stored file name behind an uploaded media URL of this job, else None."""
        prefix = f"{MEDIA_URL_PREFIX}/{self.job_id}/"
        if isinstance(value, str) and value.startswith(prefix) and "/" not in value[len(prefix):]:
            return value[len(prefix):]
        return None

    def media_file(self, value: Any) -> Path | None:
        name = self.stored_name(value)
        if name is None or self.media_root is None:
            return None
        return media_path(Path(self.media_root), self.job_id, name)

    def media_url(self, value: Any) -> Any:
        """An uploaded file's URL made absolute and signed (when a signer is set); other values
        (an https:// URL, text) as they are."""
        name = self.stored_name(value)
        if name is None or self.signer is None:
            return value
        return self.signer.url(self.job_id, name)

    def public_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """The item's data for a reader outside Fairlabel: media URLs signed, `_media` left out."""
        media = self.spec.media_variables
        return {k: (self.media_url(v) if k in media else v) for k, v in data.items() if k != MEDIA_META_KEY}

    def context(self, data: dict[str, Any]) -> ItemContext:
        return ItemContext(data=data, objects={o.name: o for o in self.spec.objects})


def _text(column: Any) -> Any:
    """A JSON column read as its text, decoded by orjson in `_loads`: an export reads every answer
    of a job, and decoding was most of its time with the stdlib decoder SQLAlchemy uses."""
    return sa.cast(column, sa.Text)


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _status(value: Any) -> str:
    return getattr(value, "value", value)


def image_object(spec: LabelSpec, control: ControlSpec):
    return spec.object(control.targets[0])


def meta_of(data: dict[str, Any], variable: str) -> dict[str, Any]:
    meta = (data.get(MEDIA_META_KEY) or {}).get(variable)
    return meta if isinstance(meta, dict) else {}


def image_size(ctx: ExportContext, data: dict[str, Any], variable: str) -> tuple[int, int, int] | None:
    """(width, height, depth) of an item's image: from `_media` when the upload recorded it, else
    read from the stored file's header (Pillow reads no pixels for this); None if unknown."""
    meta = meta_of(data, variable)
    width, height = meta.get("width"), meta.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height, 3
    path = ctx.media_file(data.get(variable))
    if path is None:
        return None
    from PIL import Image, UnidentifiedImageError

    from annotation.media import IMAGE_FORMATS

    try:
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            return image.size[0], image.size[1], 1 if image.mode in ("1", "L", "P", "I", "F") else 3
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def audio_duration(ctx: ExportContext, data: dict[str, Any], variable: str) -> float | None:
    """An item's audio duration in seconds: from `_media`, else a stored WAV's header; None for
    other audio (MP3, OGG…) whose duration needs a decoder this platform does not ship."""
    duration = meta_of(data, variable).get("duration")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return float(duration)
    path = ctx.media_file(data.get(variable))
    if path is None or path.suffix.lower() != ".wav":
        return None
    try:
        with wave.open(str(path), "rb") as audio:
            rate = audio.getframerate()
            return round(audio.getnframes() / rate, 3) if rate > 0 else None
    except (OSError, EOFError, wave.Error):
        return None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


class MediaNames:
    """File names for media in an archive: the original upload's name when `_media` has it,
    made safe (no folders, no control characters) and unique by stem, case-insensitively (so
    `a.png` and `A.jpg` never share a YOLO label file, and unzip on any OS keeps both)."""

    def __init__(self) -> None:
        # Names taken so far, in a private temporary SQLite database on disk (""), not a set: an
        # export of a million files must not hold a million names. `next` remembers, per stem,
        # the first suffix not yet tried, so the k-th "photo.png" costs one lookup, not k.
        self._db = sqlite3.connect("", check_same_thread=False)  # made, used and dropped by one stream
        self._db.execute("CREATE TABLE taken (name TEXT PRIMARY KEY, next INTEGER) WITHOUT ROWID")

    def __del__(self) -> None:
        self._db.close()  # the stream that made it is done with it

    def _claim(self, name: str) -> bool:
        return self._db.execute("INSERT OR IGNORE INTO taken VALUES (?, NULL)", (name.lower(),)).rowcount == 1

    def _unique(self, stem: str) -> str:
        if self._claim(stem):
            return stem
        row = self._db.execute("SELECT next FROM taken WHERE name = ?", (stem.lower(),)).fetchone()
        n = (row[0] if row and row[0] else 2)
        while not self._claim(f"{stem}-{n}"):
            n += 1
        self._db.execute("UPDATE taken SET next = ? WHERE name = ?", (n + 1, stem.lower()))
        return f"{stem}-{n}"

    def name_for(self, ctx: ExportContext, item: ItemRow, variable: str) -> str:
        value = item.data.get(variable)
        original = meta_of(item.data, variable).get("name")
        if not isinstance(original, str) or not original.strip():
            stored = ctx.stored_name(value)
            original = stored or (PurePosixPath(str(value).split("?")[0]).name if isinstance(value, str) else "")
        original = original.replace("\\", "/").rsplit("/", 1)[-1]
        original = _UNSAFE.sub("_", original).strip().lstrip(".") or f"item-{item.id}"
        path = PurePosixPath(original[-150:])
        stem, suffix = path.stem or f"item-{item.id}", path.suffix.lower()
        if not suffix:
            stored = ctx.stored_name(value)
            suffix = PurePosixPath(stored).suffix.lower() if stored else ""
        return self._unique(stem) + suffix


OUR_COLUMNS = frozenset({"item_id", "confidence", "n_answers", "answers"})


def reserved_columns(spec: LabelSpec) -> frozenset[str]:
    return OUR_COLUMNS | {c.name for c in spec.controls}


def data_column(key: str, reserved: frozenset[str]) -> str:
    """A data field's column: renamed `data.<key>` when a control or one of our columns has its
    name, so no value hides another."""
    return f"data.{key}" if key in reserved else key


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII as itself (orjson: several times the stdlib encoder's speed)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


def readable(control: ControlSpec, value: Any, ctx: ExportContext | None = None,
             data: dict[str, Any] | None = None) -> Any:
    """A control's normalized value as a person reads it: a single choice as its text, several
    as a list; spans with the text they cover; everything else as stored."""
    if value is None:
        return None
    if control.kind == "choices":
        return value if control.multiple else (value[0] if value else None)
    if control.kind == "spans" and ctx is not None and data is not None:
        text = object_text(control, ctx.context(data))
        return [{**s, "text": text[s["start"]:s["end"]]} for s in value]
    return value


def csv_cell(control: ControlSpec, value: Any) -> str:
    """A control's value in one CSV cell: choices joined by "|", regions as JSON, scalars as
    text."""
    if value is None:
        return ""
    if control.kind == "choices":
        return "|".join(value)
    if isinstance(value, str):
        return value
    return dumps(value)


def controls_on(spec: LabelSpec, kinds: tuple[str, ...], object_kinds: tuple[str, ...]) -> list[ControlSpec]:
    """The controls of these kinds that label an object of these kinds."""
    out = []
    for control in spec.controls:
        obj = spec.object(control.targets[0])
        if control.kind in kinds and obj is not None and obj.kind in object_kinds:
            out.append(control)
    return out
