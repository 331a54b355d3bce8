"""Media files behind image and audio items: checked, content-addressed, stored per job.

An upload's files are first staged (streamed to a scratch folder beside the media, hashed on the
way), checked, and only moved into the job's folder once the whole upload passed — so memory
stays flat however large the files, and a refused upload leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from annotation.errors import InvalidUpload

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}
# What Pillow may open an image as: the formats browsers show, nothing else (Pillow reads many
# more, e.g. EPS through Ghostscript, that we have no reason to expose).
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
AUDIO_EXTENSIONS = {".wav", ".mp3", ".ogg", ".oga", ".flac", ".m4a", ".webm"}
MEDIA_KINDS = {**{e: "image" for e in IMAGE_EXTENSIONS}, **{e: "audio" for e in AUDIO_EXTENSIONS}}
MEDIA_URL_PREFIX = "/media"
STAGING_FOLDER = ".incoming"  # under the media root: never served (media_path refuses dot names)


@dataclass(frozen=True)
class StagedMedia:
    """A checked file waiting in the scratch folder for its upload to be accepted."""

    filename: str
    path: Path
    digest: str
    kind: str
    meta: dict | None = None  # media_meta(): the original name and the size or duration


def media_meta(filename: str, path: Path, kind: str) -> dict:
    """What exports and checks need to know of a stored file without opening it again: its
    original name, and an image's pixel size or a WAV's duration in seconds (other audio formats'
    durations need a decoder this platform does not ship; their segments are bounded otherwise)."""
    meta: dict = {"name": filename}
    try:
        if kind == "image":
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                meta["width"], meta["height"] = image.size
        elif path.suffix.lower() == ".wav":
            with wave.open(str(path), "rb") as audio:
                if audio.getframerate() > 0:
                    meta["duration"] = round(audio.getnframes() / audio.getframerate(), 3)
    except (OSError, EOFError, wave.Error, ValueError):
        pass  # already checked to be a real file of its kind; a header we cannot read adds nothing
    return meta


def media_kind(filename: str) -> str | None:
    return MEDIA_KINDS.get(Path(filename).suffix.lower())


def check_media(filename: str, data: bytes | BinaryIO | Path) -> str:
    """Return 'image' or 'audio' if `data` (bytes, a binary file or a path) really is such a
    file, else raise InvalidUpload saying, in words, what is wrong with it."""
    kind = media_kind(filename)
    if kind is None:
        raise InvalidUpload(f"{filename}: not an image or audio file this platform serves.", file=filename)
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    if isinstance(source, Path):
        with source.open("rb") as opened:
            return _check_open(filename, kind, opened)
    return _check_open(filename, kind, source)


def _check_open(filename: str, kind: str, source: BinaryIO) -> str:
    source.seek(0)
    head = source.read(16)
    if not head:
        raise InvalidUpload(f"{filename}: the file is empty.", file=filename)
    source.seek(0)
    if kind == "image":
        _check_image(filename, source)
    elif not _looks_like_audio(head):
        raise InvalidUpload(f"{filename}: not a WAV, MP3, OGG, FLAC, M4A or WebM audio file.",
                            file=filename)
    return kind


def _check_image(filename: str, source: BinaryIO) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=IMAGE_FORMATS) as image:
                image.verify()
    except UnidentifiedImageError:
        raise InvalidUpload(f"{filename}: not a readable image — the file is not a PNG, JPEG, GIF, "
                            "WebP or BMP picture.", file=filename) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidUpload(f"{filename}: the image is too large (more than "
                            f"{Image.MAX_IMAGE_PIXELS:,} pixels).", file=filename) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # Pillow's texts here ("broken PNG file", "Truncated File Read") name internals.
        raise InvalidUpload(f"{filename}: not a readable image — the picture data is damaged or cut "
                            "short.", file=filename) from None


def _looks_like_audio(head: bytes) -> bool:
    return (
        (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
        or head[:3] == b"ID3"
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG frame sync
        or head[:4] in (b"OggS", b"fLaC", b"\x1aE\xdf\xa3")
        or head[4:8] == b"ftyp"
    )


def staging_folder(media_root: Path) -> Path:
    """Where an upload's files wait to be checked: on the media root's file system, so accepting
    them is a rename."""
    folder = Path(media_root) / STAGING_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage_media(scratch: Path, filename: str, chunks: Iterable[bytes]) -> StagedMedia:
    """Write `chunks` to a new file in `scratch`, hashing on the way, and check what it is."""
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(dir=scratch, suffix=Path(filename).suffix.lower())
    with os.fdopen(fd, "wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
    path = Path(name)
    kind = check_media(filename, path)
    return StagedMedia(filename, path, digest.hexdigest()[:32], kind, media_meta(filename, path, kind))


def store_staged(media_root: Path, job_id: int, staged: StagedMedia) -> str:
    """Move a staged file under media_root/job_id/ by its hash; return the URL path serving it.

    Content addressing makes a retried upload idempotent and a file that outlives a rolled-back
    import harmless (it is simply never referenced).
    """
    folder = Path(media_root) / str(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{staged.digest}{staged.path.suffix}"
    if target.exists():
        staged.path.unlink(missing_ok=True)
    else:
        os.chmod(staged.path, 0o644)  # mkstemp's 0600 would hide it from a proxy serving media
        os.replace(staged.path, target)
    return f"{MEDIA_URL_PREFIX}/{job_id}/{target.name}"


def media_path(media_root: Path, job_id: int, name: str) -> Path | None:
    """The stored file for a media URL's last segment, or None (never outside the job folder)."""
    if "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        return None
    path = Path(media_root) / str(job_id) / name
    return path if path.is_file() else None
