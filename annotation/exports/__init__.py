"""Dataset export: the consensus labels with each item's confidence, in the formats ML tools read.

| format | what it is | the job needs |
|---|---|---|
| `json` | Label Studio JSON: tasks, answers as annotations, consensus as a scored prediction | — |
| `json-min` | one flat object per item: data, readable consensus per control, confidence | — |
| `csv` | one row per item: data, a consensus cell per control, confidence, answers as JSON | — |
| `hf` | a Hugging Face dataset (zip): `data/train.jsonl` and a README dataset card | — |
| `coco` | COCO (zip): boxes, polygons and key points in pixels, `score` = confidence | an Image with boxes, polygons or key points |
| `yolo` | YOLO detection (zip): `images/`, `labels/`, `data.yaml` | an Image with boxes |
| `yolo-seg` | YOLO segmentation (zip) | an Image with polygons |
| `voc` | Pascal VOC (zip): one XML per image | an Image with boxes |
| `conll` | CoNLL-2003 BIO (zip), tokens split at every span boundary | text spans (Labels on Text/HyperText) |
| `asr` | NeMo ASR manifest (JSONL; a zip with `audio/` when media are asked for) | an Audio with a TextArea |

`export_job(user, job, fmt, …)` checks who asks and whether the format fits the job's config
(InvalidInput, a 400, naming what the format needs) and returns an `Export` whose `chunks` are
produced as the rows are read, chunk by chunk: nothing holds the dataset in memory. Archives
stream too (annotation/exports/archive.py). `media=True` puts the uploaded files in the archive
of the formats that hold files (COCO, YOLO, VOC, HF, ASR); JSON, JSON-min and CSV always carry
links instead, signed by `signer` (annotation/exports/media.py). `extra_files` (the on-chain
manifest) go into the archive — a single-file format is then zipped with them.

Training formats (COCO, YOLO, VOC, CoNLL, ASR) hold decided items only; JSON, JSON-min, CSV and
HF hold every item, undecided ones with a null consensus.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from annotation.errors import InvalidInput
from annotation.exports import asr, coco, conll, huggingface, labelstudio, tabular, voc, yolo
from annotation.exports.archive import ZipStream
from annotation.exports.common import DEFAULT_CHUNK, ExportContext, controls_on
from annotation.exports.media import MediaSigner
from annotation.jobs import job_spec, require_manager
from annotation.label_config import LabelSpec
from annotation.models import Job
from app.identity.models import User

FLUSH_BYTES = 64 * 1024  # text formats are handed out in pieces of about this size


@dataclass(frozen=True)
class ExportFormat:
    key: str
    name: str  # for people
    extension: str  # of the file as exported without media or extras
    mimetype: str
    needs: str  # what the config must have, in words ("" for every job)
    applies: Callable[[LabelSpec], bool]
    write: Callable[[ExportContext], Iterable[bytes | str]]
    archive: bool = False  # a zip already
    media_write: Callable[[ExportContext], Iterable[bytes]] | None = None  # a zip with the files
    holds_media: bool = False  # `media=True` adds files (else links only)

    def filename(self, job_id: int | None, *, zipped: bool = False) -> str:
        base = f"fairlabel-job-{job_id}" if job_id is not None else "fairlabel-job"
        if self.key in ("json", "csv"):  # the names these exports always had
            name = f"{base}.{self.key}"
        else:
            name = f"{base}.{self.key}.{self.extension}"
        return name if not zipped or name.endswith(".zip") else f"{name}.zip"


def _any(kinds: tuple[str, ...], objects: tuple[str, ...]) -> Callable[[LabelSpec], bool]:
    return lambda spec: bool(controls_on(spec, kinds, objects))


def _every(spec: LabelSpec) -> bool:
    return True


_IMAGE = ("image",)
REGISTRY: dict[str, ExportFormat] = {f.key: f for f in (
    ExportFormat("json", "Label Studio JSON", "json", "application/json", "", _every, labelstudio.write_json),
    ExportFormat("json-min", "JSON-min (one flat object per item)", "json", "application/json", "", _every,
                 labelstudio.write_json_min),
    ExportFormat("csv", "CSV", "csv", "text/csv", "", _every, tabular.write_csv),
    ExportFormat("hf", "Hugging Face dataset", "zip", "application/zip", "", _every, huggingface.write_hf,
                 archive=True, holds_media=True),
    ExportFormat("coco", "COCO", "zip", "application/zip",
                 "an Image object with boxes, polygons or key points (RectangleLabels, PolygonLabels, "
                 "KeyPointLabels, or Rectangle, Polygon, KeyPoint)",
                 _any(coco.REGION_KINDS, _IMAGE), coco.write_coco, archive=True, holds_media=True),
    ExportFormat("yolo", "YOLO (detection)", "zip", "application/zip",
                 "an Image object with boxes (RectangleLabels or Rectangle)",
                 _any(("rectangles",), _IMAGE), yolo.write_yolo, archive=True, holds_media=True),
    ExportFormat("yolo-seg", "YOLO (segmentation)", "zip", "application/zip",
                 "an Image object with polygons (PolygonLabels or Polygon)",
                 _any(("polygons",), _IMAGE), yolo.write_yolo_seg, archive=True, holds_media=True),
    ExportFormat("voc", "Pascal VOC", "zip", "application/zip",
                 "an Image object with boxes (RectangleLabels or Rectangle)",
                 _any(("rectangles",), _IMAGE), voc.write_voc, archive=True, holds_media=True),
    ExportFormat("conll", "CoNLL-2003 (BIO)", "zip", "application/zip",
                 "text spans (Labels on a Text or HyperText object)",
                 _any(("spans",), ("text", "hypertext")), conll.write_conll, archive=True),
    ExportFormat("asr", "ASR manifest (NeMo JSONL)", "jsonl", "application/jsonl",
                 "an Audio object with a TextArea transcribing it",
                 _any(("textarea",), ("audio",)), asr.write_asr, media_write=asr.write_asr_archive,
                 holds_media=True),
)}
FORMATS = tuple(REGISTRY)


@dataclass
class Export:
    """An export ready to stream: write `chunks` (bytes) to a file or a response, in order."""

    fmt: str
    filename: str
    mimetype: str
    chunks: Iterator[bytes]


def formats_for(spec: LabelSpec, job_id: int | None = None) -> list[tuple[str, str, str]]:
    """(format, its name for people, the download's file name) of every format that fits `spec`."""
    return [(f.key, f.name, f.filename(job_id)) for f in REGISTRY.values() if f.applies(spec)]


def export_format(spec: LabelSpec, fmt: str) -> ExportFormat:
    """The format `fmt` if it fits `spec`, else InvalidInput saying what it needs."""
    found = REGISTRY.get(fmt)
    if found is None:
        raise InvalidInput(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.", field="format")
    if not found.applies(spec):
        fitting = ", ".join(key for key, _, _ in formats_for(spec))
        raise InvalidInput(f"{found.name} export needs {found.needs}; this job's config has none. "
                           f"Formats for this job: {fitting}.", field="format")
    return found


def export_job(user: User, job: Job, fmt: str, *, media: bool = False, media_root: str | Path | None = None,
               signer: MediaSigner | None = None, extra_files: dict[str, bytes] | None = None,
               chunk_size: int = DEFAULT_CHUNK, own_transactions: bool = False) -> Export:
    """`job` exported as `fmt`, for a user who manages it (checked now, before any byte).

    media: put the uploaded files into the archive (formats that hold files; others carry links).
    media_root: where uploaded files are stored (needed to include them, or to read an image's
    size the upload did not record). signer: makes uploaded media links absolute and signed.
    extra_files: {name: bytes} added to the archive (e.g. "manifest.json").
    own_transactions: read each chunk in a short transaction of its own rather than in the
    caller's (which must then hold none on SQLite, where every transaction takes the write lock):
    what a route or command streaming to a slow reader wants (annotation/exports/common.py).
    """
    require_manager(user, job)
    spec = job_spec(job)
    chosen = export_format(spec, fmt)
    ctx = ExportContext(job_id=job.id, title=job.title, aggregation=job.aggregation, label_config=job.label_config,
                        spec=spec, media=bool(media and chosen.holds_media),
                        media_root=Path(media_root) if media_root else None, signer=signer,
                        chunk_size=max(1, int(chunk_size)), extra_files=dict(extra_files or {}),
                        own_transactions=own_transactions)
    if ctx.media and chosen.media_write is not None:
        return Export(fmt, chosen.filename(job.id, zipped=True), "application/zip",
                      _bytes(chosen.media_write(ctx)))
    if chosen.archive:
        return Export(fmt, chosen.filename(job.id), chosen.mimetype, _bytes(chosen.write(ctx)))
    if ctx.extra_files:  # a single file and the manifest travel together in a zip
        inner = chosen.filename(job.id)
        return Export(fmt, chosen.filename(job.id, zipped=True), "application/zip",
                      _zipped(inner, _bytes(chosen.write(ctx)), ctx.extra_files))
    return Export(fmt, chosen.filename(job.id), chosen.mimetype, _bytes(chosen.write(ctx)))


def _bytes(chunks: Iterable[bytes | str]) -> Iterator[bytes]:
    """Text encoded as UTF-8 and small pieces joined up to about FLUSH_BYTES."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        if not data:
            continue
        pending.append(data)
        size += len(data)
        if size >= FLUSH_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def _zipped(name: str, chunks: Iterator[bytes], extra_files: dict[str, bytes]) -> Iterator[bytes]:
    archive = ZipStream()
    yield from archive.member(name, chunks)
    for extra, data in extra_files.items():
        yield from archive.small(extra, data)
    yield from archive.close()


__all__ = ["FORMATS", "REGISTRY", "Export", "ExportFormat", "MediaSigner", "export_format", "export_job",
           "formats_for"]
