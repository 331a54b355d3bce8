"""ASR manifest, NeMo style: one JSON object per line per decided recording —
`audio_filepath`, `duration` (seconds), `text` (the consensus transcript), `confidence`, and
`item_id`.

With media, a zip of `manifest.jsonl` and `audio/<name>` (the original names, made unique), the
paths in the manifest relative to the archive's root; without, a JSONL file whose paths are
signed links. `duration` comes from the upload's record or a stored WAV's header; it is null for
other audio (MP3, OGG…) whose length needs a decoder this platform does not ship.
"""
from __future__ import annotations

from collections.abc import Iterator

from annotation.exports.archive import PendingFiles, ZipStream, finish
from annotation.exports.common import ExportContext, MediaNames, audio_duration, controls_on, dumps


def transcript_control(ctx: ExportContext):
    """The text area transcribing the audio: the first scored one on an Audio object."""
    controls = controls_on(ctx.spec, ("textarea",), ("audio",))
    return next((c for c in controls if c.scored), controls[0] if controls else None)


def manifest_lines(ctx: ExportContext, files: PendingFiles | None) -> Iterator[str]:
    control = transcript_control(ctx)
    obj = ctx.spec.object(control.targets[0])
    namer = MediaNames()
    for item, _ in ctx.items():
        text = (item.consensus or {}).get(control.name)
        if text is None:
            continue
        value = item.data.get(obj.variable)
        if files is not None:
            name = namer.name_for(ctx, item, obj.variable)
            path = ctx.media_file(value)
            if path is not None:
                files.add(name, path)
                value = f"audio/{name}"
            else:
                value = ctx.media_url(value)
        else:
            value = ctx.media_url(value)
        yield dumps({"audio_filepath": value, "duration": audio_duration(ctx, item.data, obj.variable),
                     "text": text, "confidence": item.confidence, "item_id": item.id}) + "\n"


def write_asr(ctx: ExportContext) -> Iterator[str]:
    return manifest_lines(ctx, None)


def write_asr_archive(ctx: ExportContext) -> Iterator[bytes]:
    archive = ZipStream(ctx.now)
    with PendingFiles() as files:
        yield from archive.member("manifest.jsonl", manifest_lines(ctx, files))
        yield from finish(archive, files, "audio", [], ctx.extra_files)
