"""Uploading items: CSV / JSON / JSONL rows, or image and audio files (one by one or zipped).

An upload is imported whole or not at all: everything is parsed and checked before the first
row is added, and the caller's transaction commits or rolls back all of it.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from annotation.errors import Conflict, InvalidUpload
from annotation.jobs import job_spec, require_owner
from annotation.label_config import LabelSpec
from annotation.media import check_media, media_kind, store_media
from annotation.models import Item, Job, JobStatus
from app.extensions import db
from app.identity.models import User

ROW_EXTENSIONS = {".csv", ".json", ".jsonl", ".ndjson"}
GOLD_KEY = "_gold"  # JSON rows: {"_gold": {"control": "label" or ["a", "b"]}}
GOLD_PREFIX = "_gold."  # CSV columns: _gold.<control>, several choices separated by "|"


@dataclass(frozen=True)
class UploadLimits:
    max_items: int = 100_000
    max_zip_members: int = 10_000
    max_zip_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    data: bytes


def import_upload(
    user: User,
    job: Job,
    files: list[UploadedFile],
    *,
    media_root: Path,
    limits: UploadLimits = UploadLimits(),
) -> list[Item]:
    """Add the items in `files` to `job`; all or nothing. Returns the new items."""
    require_owner(user, job)
    if job.status is JobStatus.CLOSED:
        raise Conflict("This job is closed: it takes no more items.")
    files = [f for f in files if f.filename or f.data]
    if not files:
        raise InvalidUpload("Choose at least one file to upload.")
    spec = job_spec(job)
    rows: list[tuple[str, dict[str, Any]]] = []  # (where it came from, row)
    media: list[UploadedFile] = []
    for upload in files:
        suffix = PurePosixPath(upload.filename).suffix.lower()
        if suffix in ROW_EXTENSIONS:
            rows.extend(_parse_rows(upload, suffix))
        elif suffix == ".zip":
            media.extend(_unzip_media(upload, limits))
        elif media_kind(upload.filename):
            media.append(upload)
        else:
            raise InvalidUpload(
                f"{upload.filename}: unsupported file type; upload .csv, .json, .jsonl, "
                "image or audio files, or a .zip of them.",
                file=upload.filename,
            )
    item_data = [_check_row(spec, row, where) for where, row in rows]
    if media:
        item_data.extend(_media_items(spec, job, media, media_root))
    if not item_data:
        raise InvalidUpload("The upload holds no items.")
    if len(item_data) > limits.max_items:
        raise InvalidUpload(f"One upload may add at most {limits.max_items} items; this one has "
                            f"{len(item_data)}.")
    items = [Item(job_id=job.id, data=data, gold=gold) for data, gold in item_data]
    db.session.add_all(items)
    job.n_items = Job.n_items + len(items)  # in SQL, so concurrent uploads both count
    db.session.flush()
    db.session.refresh(job, ["n_items"])
    return items


def _parse_rows(upload: UploadedFile, suffix: str) -> list[tuple[str, dict[str, Any]]]:
    name = upload.filename
    try:
        text = upload.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidUpload(f"{name}: not UTF-8 text (byte {exc.start}).", file=name) from None
    if suffix == ".csv":
        return _parse_csv(name, text)
    if suffix == ".json":
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidUpload(f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                                f"{exc.msg}.", file=name, line=exc.lineno) from None
        if isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list):
            raise InvalidUpload(f"{name}: expected a JSON list of objects.", file=name)
        return [(f"{name}: item {n}", _unwrap_task(name, row, n)) for n, row in enumerate(payload, start=1)]
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidUpload(f"{name}: line {line_no} is not valid JSON: {exc.msg}.",
                                file=name, line=line_no) from None
        rows.append((f"{name}: line {line_no}", _unwrap_task(name, row, line_no)))
    return rows


def _unwrap_task(name: str, row: Any, position: int) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise InvalidUpload(f"{name}: item {position} is not an object.", file=name, row=position)
    # Label Studio task format: {"data": {...}} — accept it as well as bare rows.
    if isinstance(row.get("data"), dict) and set(row) <= {"data", "id", GOLD_KEY}:
        return {**row["data"], **({GOLD_KEY: row[GOLD_KEY]} if GOLD_KEY in row else {})}
    return row


def _parse_csv(name: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise InvalidUpload(f"{name}: the CSV has no header row.", file=name)
    if len(set(reader.fieldnames)) != len(reader.fieldnames):
        raise InvalidUpload(f"{name}: the CSV header repeats a column.", file=name)
    rows = []
    try:
        for row in reader:
            if None in row:
                raise InvalidUpload(f"{name}: line {reader.line_num} has more cells than the header.",
                                    file=name, line=reader.line_num)
            gold = {k[len(GOLD_PREFIX):]: v.split("|") for k, v in row.items()
                    if k.startswith(GOLD_PREFIX) and v}
            data: dict[str, Any] = {k: v for k, v in row.items() if not k.startswith(GOLD_PREFIX)}
            if gold:
                data[GOLD_KEY] = gold
            rows.append((f"{name}: line {reader.line_num}", data))
    except csv.Error as exc:
        raise InvalidUpload(f"{name}: line {reader.line_num}: {exc}.", file=name) from None
    return rows


def _check_row(spec: LabelSpec, row: dict[str, Any], where: str) -> tuple[dict[str, Any], dict | None]:
    gold = row.pop(GOLD_KEY, None)
    missing = [v for v in spec.variables if row.get(v) in (None, "")]
    if missing:
        raise InvalidUpload(
            f"{where}: missing field {missing[0]!r}; the labeling config reads "
            f"{', '.join('$' + v for v in spec.variables)}.",
            row=where, field=missing[0],
        )
    return row, (_check_gold(spec, gold, where) if gold is not None else None)


def _check_gold(spec: LabelSpec, gold: Any, n: str) -> dict[str, list[str]]:
    if not isinstance(gold, dict) or not gold:
        raise InvalidUpload(f"{n}: {GOLD_KEY} must map control names to choices.", row=n)
    checked: dict[str, list[str]] = {}
    for control_name, value in gold.items():
        control = spec.control(control_name)
        if control is None:
            raise InvalidUpload(f"{n}: gold names {control_name!r}, which is not a control.", row=n)
        choices = [value] if isinstance(value, str) else value
        if (not isinstance(choices, list) or not choices
                or any(c not in control.choices for c in choices)
                or (not control.multiple and len(choices) != 1)):
            raise InvalidUpload(f"{n}: gold {value!r} is not a valid answer for "
                                f"{control_name!r}.", row=n)
        checked[control_name] = sorted(set(choices), key=control.choices.index)
    missing = [c.name for c in spec.controls if c.name not in checked]
    if missing:
        raise InvalidUpload(f"{n}: gold has no answer for {missing[0]!r}.", row=n)
    return checked


def _unzip_media(upload: UploadedFile, limits: UploadLimits) -> list[UploadedFile]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
    except zipfile.BadZipFile:
        raise InvalidUpload(f"{upload.filename}: not a valid zip archive.", file=upload.filename) from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not PurePosixPath(m.filename).name.startswith(".")
                   and "__MACOSX" not in m.filename]
        if len(members) > limits.max_zip_members:
            raise InvalidUpload(f"{upload.filename}: more than {limits.max_zip_members} files.",
                                file=upload.filename)
        if sum(m.file_size for m in members) > limits.max_zip_bytes:
            raise InvalidUpload(f"{upload.filename}: unpacks to more than "
                                f"{limits.max_zip_bytes // 2**20} MiB.", file=upload.filename)
        files = []
        for member in members:
            inner = PurePosixPath(member.filename).name  # never trust paths inside an archive
            if media_kind(inner) is None:
                raise InvalidUpload(f"{upload.filename}: {member.filename} is not an image or "
                                    "audio file.", file=upload.filename)
            try:
                files.append(UploadedFile(inner, archive.read(member)))
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
                raise InvalidUpload(f"{upload.filename}: cannot read {member.filename} ({exc}).",
                                    file=upload.filename) from None
    if not files:
        raise InvalidUpload(f"{upload.filename}: the zip holds no image or audio files.",
                            file=upload.filename)
    return files


def _media_items(spec: LabelSpec, job: Job, media: list[UploadedFile],
                 media_root: Path) -> list[tuple[dict[str, Any], None]]:
    targets = spec.media_variables
    if len(spec.variables) != 1 or len(targets) != 1:
        raise InvalidUpload(
            "Files become items only when the config has exactly one Image or Audio object and "
            "no other data field; upload CSV/JSON rows with URLs instead."
        )
    (variable, kind), = targets.items()
    checked = []
    for upload in media:
        found = check_media(upload.filename, upload.data)
        if found != kind:
            raise InvalidUpload(f"{upload.filename}: this job labels {kind} files, not {found}.",
                                file=upload.filename)
        checked.append(upload)
    # Only write files once every one of them passed, so a refused upload leaves nothing behind.
    return [({variable: store_media(media_root, job.id, u.filename, u.data), "filename": u.filename},
             None) for u in checked]
