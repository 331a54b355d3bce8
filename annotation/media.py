"""Media files behind image and audio items: checked, content-addressed, stored per job."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from annotation.errors import InvalidUpload

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}
AUDIO_EXTENSIONS = {".wav", ".mp3", ".ogg", ".oga", ".flac", ".m4a", ".webm"}
MEDIA_KINDS = {**{e: "image" for e in IMAGE_EXTENSIONS}, **{e: "audio" for e in AUDIO_EXTENSIONS}}
MEDIA_URL_PREFIX = "/media"


def media_kind(filename: str) -> str | None:
    return MEDIA_KINDS.get(Path(filename).suffix.lower())


def check_media(filename: str, data: bytes) -> str:
    """Return 'image' or 'audio' if `data` really is such a file, else raise InvalidUpload."""
    kind = media_kind(filename)
    if kind is None:
        raise InvalidUpload(f"{filename}: not an image or audio file this platform serves.", file=filename)
    if not data:
        raise InvalidUpload(f"{filename}: the file is empty.", file=filename)
    if kind == "image":
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InvalidUpload(f"{filename}: not a readable image ({exc}).", file=filename) from None
        except Image.DecompressionBombError:
            raise InvalidUpload(f"{filename}: the image is too large.", file=filename) from None
    elif not _looks_like_audio(data):
        raise InvalidUpload(f"{filename}: not a WAV, MP3, OGG, FLAC, M4A or WebM audio file.",
                            file=filename)
    return kind


def _looks_like_audio(data: bytes) -> bool:
    head = data[:12]
    return (
        (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
        or head[:3] == b"ID3"
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG frame sync
        or head[:4] in (b"OggS", b"fLaC", b"\x1aE\xdf\xa3")
        or head[4:8] == b"ftyp"
    )


def store_media(media_root: Path, job_id: int, filename: str, data: bytes) -> str:
    """Write `data` under media_root/job_id/ by its hash; return the URL path that serves it.

    Content addressing makes a retried upload idempotent and a file that outlives a rolled-back
    import harmless (it is simply never referenced).
    """
    suffix = Path(filename).suffix.lower()
    digest = hashlib.sha256(data).hexdigest()[:32]
    folder = Path(media_root) / str(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}{suffix}"
    if not target.exists():
        partial = target.with_suffix(suffix + f".{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, target)
    return f"{MEDIA_URL_PREFIX}/{job_id}/{target.name}"


def media_path(media_root: Path, job_id: int, name: str) -> Path | None:
    """The stored file for a media URL's last segment, or None (never outside the job folder)."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = Path(media_root) / str(job_id) / name
    return path if path.is_file() else None
