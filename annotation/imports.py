"""Uploading items: CSV / JSON / JSONL rows, or image and audio files (one by one or zipped).

An upload is imported whole or not at all: everything is parsed and checked before the first
row is added, and the caller's transaction commits or rolls back all of it.

One request costs bounded work whatever it holds: rows are read a line at a time and reading
stops at the item cap; the bytes an upload holds once unzipped are counted as they are read,
across all its files and zips, and reading stops at the cap (member headers can lie, so they are
not trusted); media are streamed to a scratch folder, never held in memory. Items are inserted in
bulk, without the ORM's per-object bookkeeping.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import nh3
from sqlalchemy import insert

from annotation.errors import Conflict, InvalidAnswer, InvalidInput, InvalidUpload
from annotation.jobs import job_spec, require_owner
from annotation.label_config import ControlSpec, LabelSpec, ObjectSpec, check_value
from annotation.media import StagedMedia, media_kind, stage_media, staging_folder, store_staged
from annotation.models import Item, Job, JobStatus
from annotation.validation import InvalidJSON, TooManyValues, bad_text, loads_bounded
from app.extensions import db, utcnow
from app.identity.models import User

ROW_EXTENSIONS = {".csv", ".json", ".jsonl", ".ndjson"}
GOLD_KEY = "_gold"  # JSON rows: {"_gold": {"control": "label" or ["a", "b"]}}
MEDIA_META_KEY = "_media"  # {variable: {"name", "width", "height"} | {"name", "duration"}}, from uploaded files
MAX_PARAGRAPHS = 1_000
GOLD_PREFIX = "_gold."  # CSV columns: _gold.<control>, several choices separated by "|"
CHUNK = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may hold. Every limit is per upload (one request), across all its files."""

    max_items: int = 100_000
    max_zip_members: int = 10_000
    # Bytes of every file once unzipped: the files sent plus the members of every zip.
    max_inflated_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class UploadedFile:
    """A file of an upload: its name and its content, as bytes or a readable, seekable binary
    file (what a web framework hands over, so a large upload is never copied into memory)."""

    filename: str
    data: bytes | BinaryIO


class _Budget:
    """What is left of an upload's limits while it is read."""

    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self.bytes = 0
        self.items = 0
        self.members = 0

    def take_bytes(self, n: int, where: str) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_inflated_bytes:
            raise InvalidUpload(
                f"{where}: the upload holds more than {self.limits.max_inflated_bytes // 2**20} MiB "
                "once unzipped; split it into smaller uploads.", file=where)

    def take_item(self, where: str) -> None:
        self.items += 1
        if self.items > self.limits.max_items:
            self.refuse_items(where)

    def refuse_items(self, where: str) -> None:
        raise InvalidUpload(f"One upload may add at most {self.limits.max_items} items; this one has "
                            f"more (reading stopped at {where}).", file=where.split(":")[0])

    def take_member(self, where: str) -> None:
        self.members += 1
        if self.members > self.limits.max_zip_members:
            raise InvalidUpload(f"{where}: the upload's zips hold more than "
                                f"{self.limits.max_zip_members} files.", file=where)


def import_upload(
    user: User,
    job: Job,
    files: list[UploadedFile],
    *,
    media_root: Path,
    limits: UploadLimits = UploadLimits(),
) -> int:
    """Add the items in `files` to `job`; all or nothing. Returns how many were added."""
    require_owner(user, job)
    if job.status is JobStatus.CLOSED:
        raise Conflict("This job is closed: it takes no more items.")
    files = [f for f in files if f.filename or _size(f) > 0]
    if not files:
        raise InvalidUpload("Choose at least one file to upload.")
    spec = job_spec(job)
    budget = _Budget(limits)
    item_data: list[tuple[dict[str, Any], dict | None]] = []
    scratch = Path(tempfile.mkdtemp(prefix="upload-", dir=staging_folder(media_root)))
    try:
        media: list[StagedMedia] = []
        for upload in files:
            suffix = PurePosixPath(upload.filename).suffix.lower()
            if suffix in ROW_EXTENSIONS:
                budget.take_bytes(_size(upload), upload.filename)
                item_data.extend(_check_row(spec, row, where) for where, row in _rows(upload, suffix, budget))
            elif suffix == ".zip":
                media_target(spec)
                media.extend(_unzip_media(upload, budget, scratch))
            elif media_kind(upload.filename):
                media_target(spec)
                budget.take_item(upload.filename)
                media.append(stage_media(scratch, upload.filename, _chunks(_stream(upload), budget,
                                                                             upload.filename)))
            else:
                raise InvalidUpload(
                    f"{upload.filename}: unsupported file type; upload .csv, .json, .jsonl, "
                    "image or audio files, or a .zip of them.",
                    file=upload.filename,
                )
        if media:
            item_data.extend(_media_items(spec, job, media, media_root))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not item_data:
        raise InvalidUpload("The upload holds no items.")
    added = _insert_items(job, item_data)
    job.n_items = Job.n_items + added  # in SQL, so concurrent uploads both count
    db.session.flush()
    db.session.refresh(job, ["n_items"])
    return added


def _insert_items(job: Job, item_data: list[tuple[dict[str, Any], dict | None]]) -> int:
    """Insert the rows in bulk, without ORM objects: PostgreSQL's COPY (one stream, about a
    second per 100k rows), elsewhere one executemany. No RETURNING: callers need the count, and
    asking for ids costs more than the insert itself."""
    job_id, now = job.id, utcnow()  # read before COPY: the connection serves nothing else meanwhile
    db.session.flush()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                "COPY item (job_id, data, gold, n_taken, n_answers, is_complete, created_at) FROM STDIN") as copy:
            for data, gold in item_data:
                copy.write_row((job_id, json.dumps(data), None if gold is None else json.dumps(gold),
                                0, 0, False, now))
    else:
        db.session.execute(insert(Item.__table__), [
            {"job_id": job_id, "data": data, "gold": gold, "n_taken": 0, "n_answers": 0,
             "is_complete": False, "created_at": now} for data, gold in item_data])
    return len(item_data)


# --- reading files -------------------------------------------------------------------------------

def _stream(upload: UploadedFile) -> BinaryIO:
    if isinstance(upload.data, (bytes, bytearray)):
        return io.BytesIO(upload.data)
    upload.data.seek(0)
    return upload.data


def _size(upload: UploadedFile) -> int:
    if isinstance(upload.data, (bytes, bytearray)):
        return len(upload.data)
    return upload.data.seek(0, io.SEEK_END)


def _chunks(stream: BinaryIO, budget: _Budget, where: str) -> Iterator[bytes]:
    """The stream's bytes a chunk at a time, each counted against the upload's budget."""
    while chunk := stream.read(CHUNK):
        budget.take_bytes(len(chunk), where)
        yield chunk


def _lines(upload: UploadedFile) -> Iterator[tuple[int, str]]:
    """(line number, text) of a row file, decoded a line at a time (strict UTF-8)."""
    name, offset = upload.filename, 0
    for number, raw in enumerate(_stream(upload), start=1):
        if number == 1 and raw.startswith(UTF8_BOM):
            raw, offset = raw[len(UTF8_BOM):], len(UTF8_BOM)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidUpload(f"{name}: line {number} is not UTF-8 text (byte {offset + exc.start}).",
                                file=name, line=number) from None
        if "\x00" in text:
            raise InvalidUpload(f"{name}: line {number} holds a NUL character, which no text field "
                                "can store.", file=name, line=number)
        offset += len(raw)
        yield number, text


def _rows(upload: UploadedFile, suffix: str, budget: _Budget) -> Iterator[tuple[str, dict[str, Any]]]:
    if suffix == ".csv":
        yield from _csv_rows(upload, budget)
    elif suffix == ".json":
        yield from _json_rows(upload, budget)
    else:
        yield from _jsonl_rows(upload, budget)


def _json_rows(upload: UploadedFile, budget: _Budget) -> Iterator[tuple[str, dict[str, Any]]]:
    name = upload.filename
    data = _stream(upload).read()
    try:
        payload = loads_bounded(data, max_items=budget.limits.max_items - budget.items,
                                check_text=False)
    except TooManyValues:
        budget.refuse_items(f"{name}: item {budget.limits.max_items - budget.items + 1}")
    except InvalidJSON as exc:
        if "line" in exc.details:
            raise InvalidUpload(f"{name}: invalid JSON at {exc.message}.", file=name,
                                line=exc.details["line"]) from None
        raise InvalidUpload(f"{name}: refused: {exc.message}.", file=name) from None
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise InvalidUpload(f"{name}: expected a JSON list of objects.", file=name)
    for n, row in enumerate(payload, start=1):
        where = f"{name}: item {n}"
        budget.take_item(where)
        yield where, _checked_text(_unwrap_task(name, row, n), where, name, item=n)


def _jsonl_rows(upload: UploadedFile, budget: _Budget) -> Iterator[tuple[str, dict[str, Any]]]:
    name = upload.filename
    for line_no, line in _lines(upload):
        if not line.strip():
            continue
        where = f"{name}: line {line_no}"
        budget.take_item(where)
        try:
            row = loads_bounded(line, check_text=False)
        except InvalidJSON as exc:
            detail = exc.message.split(": ", 1)[-1] if "line" in exc.details else exc.message
            raise InvalidUpload(f"{name}: line {line_no} is not valid JSON: {detail}.",
                                file=name, line=line_no) from None
        yield where, _checked_text(_unwrap_task(name, row, line_no), where, name, line=line_no)


def _checked_text(row: dict[str, Any], where: str, name: str, **position: int) -> dict[str, Any]:
    """The row, unless some text in it could not be stored or shown (NUL, unpaired surrogate):
    such a row would import and then break every page that renders it."""
    problem = bad_text(row)
    if problem:
        raise InvalidUpload(f"{where}: {problem}; fix the text and upload again.", file=name, **position)
    return row


def _unwrap_task(name: str, row: Any, position: int) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise InvalidUpload(f"{name}: item {position} is not an object.", file=name, row=position)
    # Label Studio task format: {"data": {...}} — accept it as well as bare rows.
    if isinstance(row.get("data"), dict) and set(row) <= {"data", "id", GOLD_KEY}:
        return {**row["data"], **({GOLD_KEY: row[GOLD_KEY]} if GOLD_KEY in row else {})}
    return row


def _csv_rows(upload: UploadedFile, budget: _Budget) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a CSV, strictly: a quote opened and never closed is an error naming the line it
    opened on (lenient parsing would swallow every following line into one cell)."""
    name = upload.filename
    lines = _lines(upload)
    reader = csv.reader((text for _, text in lines), strict=True)
    start = 1
    try:
        header = next(reader, None)
        if not header:
            raise InvalidUpload(f"{name}: the CSV has no header row.", file=name)
        if len(set(header)) != len(header):
            raise InvalidUpload(f"{name}: the CSV header repeats a column.", file=name)
        gold_columns = [(i, column[len(GOLD_PREFIX):]) for i, column in enumerate(header)
                        if column.startswith(GOLD_PREFIX)]
        data_columns = [(i, column) for i, column in enumerate(header) if not column.startswith(GOLD_PREFIX)]
        width = len(header)
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not cells:
                continue
            where = f"{name}: line {line}"
            if len(cells) > width:
                raise InvalidUpload(f"{where} has more cells than the header.", file=name, line=line)
            budget.take_item(where)
            cells.extend([None] * (width - len(cells)))
            data: dict[str, Any] = {column: cells[i] for i, column in data_columns}
            gold = {control: CsvCell(cells[i]) for i, control in gold_columns if cells[i]}
            if gold:
                data[GOLD_KEY] = gold
            yield where, data
    except csv.Error as exc:
        reason = str(exc)
        if "unexpected end of data" in reason:
            reason = "a quoted cell starts here and its closing quote is missing"
        raise InvalidUpload(f"{name}: line {start}: {reason}.", file=name, line=start) from None


def check_row(spec: LabelSpec, row: Any, where: str = "The row") -> tuple[dict[str, Any], dict | None]:
    """One JSON row checked exactly as an upload checks each of its rows: a Label Studio task's
    `data` unwrapped, its text storable, every field the config reads present, HyperText
    sanitized, gold valid. Returns (the row as an item would hold it, gold or None); raises
    InvalidUpload in the upload's words. For the job form's preview, so a row that previews is
    a row that uploads. `row` is not modified."""
    if not isinstance(row, dict):
        raise InvalidUpload(f"{where} must be a JSON object of fields, like {{\"text\": \"...\"}}.", row=where)
    row = _unwrap_task(where, json.loads(json.dumps(row)), 1)  # a deep copy: the caller's row stays as sent
    return _check_row(spec, _checked_text(row, where, where), where)


def _check_row(spec: LabelSpec, row: dict[str, Any], where: str) -> tuple[dict[str, Any], dict | None]:
    gold = row.pop(GOLD_KEY, None)
    row.pop(MEDIA_META_KEY, None)  # the platform's own key: set from uploaded files, never from rows
    missing = [v for v in spec.variables if row.get(v) in (None, "")]
    if missing:
        raise InvalidUpload(
            f"{where}: missing field {missing[0]!r}; the labeling config reads "
            f"{', '.join('$' + v for v in spec.variables)}.",
            row=where, field=missing[0],
        )
    for obj in spec.objects:
        row[obj.variable] = _check_object_value(obj, row[obj.variable], where)
    return row, (_check_gold(spec, gold, where, row) if gold is not None else None)


def _check_object_value(obj: ObjectSpec, value: Any, where: str) -> Any:
    """A row's value for an object, as the page will show it: HyperText sanitized once here (so
    span offsets count the text annotators saw), Paragraphs a list of {author, text}."""
    if obj.kind == "hypertext":
        if not isinstance(value, str):
            raise InvalidUpload(f"{where}: {obj.variable!r} must be HTML text.", row=where, field=obj.variable)
        return nh3.clean(value, link_rel="noopener noreferrer nofollow")
    if obj.kind == "paragraphs":
        if isinstance(value, str):  # a CSV cell holds the list as JSON
            try:
                value = loads_bounded(value)
            except InvalidInput:
                value = None
        name_key, text_key = obj.options.get("name_key", "author"), obj.options.get("text_key", "text")
        if (not isinstance(value, list) or not value or len(value) > MAX_PARAGRAPHS
                or not all(isinstance(p, dict) and isinstance(p.get(text_key), str)
                           and isinstance(p.get(name_key, ""), str) for p in value)):
            raise InvalidUpload(f"{where}: {obj.variable!r} must be a list of {{{name_key!r}: ..., "
                                f"{text_key!r}: ...}} paragraphs (1–{MAX_PARAGRAPHS}).", row=where,
                                field=obj.variable)
        return [{name_key: p.get(name_key, ""), text_key: p[text_key]} for p in value]
    if obj.kind in ("text", "image", "audio") and not isinstance(value, str):
        return value if isinstance(value, (int, float)) and obj.kind == "text" else _not_text(obj, where)
    return value


def _not_text(obj: ObjectSpec, where: str) -> Any:
    raise InvalidUpload(f"{where}: {obj.variable!r} must be text (a string).", row=where, field=obj.variable)


def _check_gold(spec: LabelSpec, gold: Any, n: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Gold as {control: normalized value} (docs/annotation-types.md; a choice may be one string),
    checked by the same rules as an answer, for every scored control."""
    if not isinstance(gold, dict) or not gold:
        raise InvalidUpload(f"{n}: {GOLD_KEY} must map control names to answers.", row=n)
    checked: dict[str, Any] = {}
    for control_name, value in gold.items():
        control = spec.control(control_name)
        if control is None:
            raise InvalidUpload(f"{n}: gold names {control_name!r}, which is not a control.", row=n)
        if isinstance(value, CsvCell):
            value = _gold_cell(control, value)
        if control.kind == "choices" and isinstance(value, str):
            value = [value]
        if control.kind == "choices" and not control.multiple and isinstance(value, list) and len(value) != 1:
            raise InvalidUpload(f"{n}: gold {_shorten(value)} is not a valid answer for {control_name!r}.", row=n)
        try:
            checked[control_name] = check_value(spec, control, value, data)
        except InvalidAnswer as exc:
            raise InvalidUpload(f"{n}: gold {_shorten(value)} is not a valid answer for "
                                f"{control_name!r}: {exc.message}", row=n) from None
    missing = [c.name for c in spec.scored_controls if c.name not in checked]
    if missing:
        raise InvalidUpload(f"{n}: gold has no answer for {missing[0]!r}.", row=n)
    return checked


class CsvCell(str):
    """A `_gold.<control>` cell of a CSV upload, read by the control's kind (`_gold_cell`)."""


def _gold_cell(control: ControlSpec, cell: str) -> Any:
    """A CSV gold cell: choices separated by "|", a transcript as written, "left"/"right", or a
    number or regions as JSON."""
    if control.kind == "choices":
        return cell.split("|")
    if control.kind in ("textarea", "pairwise"):
        return str(cell)
    try:
        return loads_bounded(cell)
    except InvalidInput:
        return str(cell)  # refused with the control's own message by _check_gold


def _shorten(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- media -----------------------------------------------------------------------------------------

def media_target(spec: LabelSpec) -> tuple[str, str]:
    """(data key, media kind) that uploaded files fill, or InvalidUpload when the config has no
    single place for them."""
    targets = spec.media_variables
    if len(spec.variables) != 1 or len(targets) != 1:
        raise InvalidUpload(
            "Files become items only when the config has exactly one Image or Audio object and "
            "no other data field; upload CSV/JSON rows with URLs instead."
        )
    (variable, kind), = targets.items()
    return variable, kind


def _unzip_media(upload: UploadedFile, budget: _Budget, scratch: Path) -> list[StagedMedia]:
    name = upload.filename
    try:
        archive = zipfile.ZipFile(_stream(upload))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise InvalidUpload(f"{name}: not a valid zip archive.", file=name) from None
    staged = []
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not PurePosixPath(m.filename).name.startswith(".")
                   and "__MACOSX" not in m.filename]
        for member in members:
            budget.take_member(name)
            inner = PurePosixPath(member.filename).name  # never trust paths inside an archive
            if media_kind(inner) is None:
                raise InvalidUpload(f"{name}: {member.filename} is not an image or audio file.", file=name)
            if bad_text(inner):
                raise InvalidUpload(f"{name}: a file name inside holds a character no text can store.",
                                    file=name)
            budget.take_item(f"{name}: {inner}")
            try:
                with archive.open(member) as stream:
                    staged.append(stage_media(scratch, inner, _chunks(stream, budget, name)))
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise InvalidUpload(f"{name}: {member.filename} is damaged inside the zip "
                                    f"({_zip_reason(exc)}).", file=name) from None
            except RuntimeError:  # what zipfile raises for an encrypted member
                raise InvalidUpload(f"{name}: {member.filename} is encrypted; zip it without a password.",
                                    file=name) from None
            except NotImplementedError:
                raise InvalidUpload(f"{name}: {member.filename} uses a compression method this platform "
                                    "cannot read; use an ordinary (deflate) zip.", file=name) from None
    if not staged:
        raise InvalidUpload(f"{name}: the zip holds no image or audio files.", file=name)
    return staged


def _zip_reason(exc: Exception) -> str:
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
        return "its checksum does not match"
    return "its compressed data is corrupt or cut short"


def _media_items(spec: LabelSpec, job: Job, media: list[StagedMedia],
                 media_root: Path) -> list[tuple[dict[str, Any], None]]:
    variable, kind = media_target(spec)
    for staged in media:
        if staged.kind != kind:
            raise InvalidUpload(f"{staged.filename}: this job labels {kind} files, not {staged.kind}.",
                                file=staged.filename)
    # Only move files into the job's folder once every one of them passed, so a refused upload
    # leaves nothing behind. The file name is for the requester: annotators are sent only the
    # fields the config reads (app/api/tasks.py), since a name can give the answer away.
    items = []
    for staged in media:
        data = {variable: store_staged(media_root, job.id, staged)}
        data.setdefault("filename", staged.filename)
        data[MEDIA_META_KEY] = {variable: staged.meta or {"name": staged.filename}}
        items.append((data, None))
    return items
