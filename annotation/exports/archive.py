"""A zip archive written as a stream: each member goes out as soon as it is written.

`zipfile` writes to an unseekable stream by putting each member's sizes and CRC in a data
descriptor after its data; the central directory comes last. So the data of an archive of any
size costs the memory of one compressor and one buffer, never the archive: `ZipStream` collects
what zipfile writes and hands it out in chunks of about `CHUNK_BYTES`. The central directory,
which must come last, is the one thing that grows with the member count: zipfile keeps a ZipInfo
per member (about 0.4 KB) until it closes. `ZipStream` gives zipfile a member list that lives in
a temporary file (`_SpooledInfos`), so an archive of a million images costs no more memory than
one of ten.
"""
from __future__ import annotations

import datetime as dt
import pickle
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

CHUNK_BYTES = 256 * 1024
FILE_READ_BYTES = 1024 * 1024


class _Sink:
    """What zipfile writes to: an unseekable, append-only buffer drained by the stream. It spills
    to a temporary file past a megabyte, which only the central directory does (zipfile writes it
    in one go at close: ~0.1 KB per member, 20 MB for 200,000)."""

    def __init__(self) -> None:
        self._buffer = tempfile.SpooledTemporaryFile(max_size=4 * CHUNK_BYTES)
        self.size = 0

    def write(self, data: bytes) -> int:
        self._buffer.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        """Everything written so far, in pieces of at most CHUNK_BYTES; then empty again."""
        self._buffer.seek(0)
        while piece := self._buffer.read(CHUNK_BYTES):
            yield piece
        self._buffer.seek(0)
        self._buffer.truncate()
        self.size = 0

    def close(self) -> None:
        self._buffer.close()


class _SpooledInfos:
    """zipfile's list of written members, kept in a temporary file: zipfile appends each member's
    ZipInfo once the member is complete, and reads the list once, at close, to write the central
    directory (and takes its len() for the count). Nothing else of a list is used when writing."""

    def __init__(self) -> None:
        self._spool = tempfile.TemporaryFile()
        self._count = 0

    def append(self, info: zipfile.ZipInfo) -> None:
        pickle.dump(info, self._spool, protocol=pickle.HIGHEST_PROTOCOL)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[zipfile.ZipInfo]:
        self._spool.seek(0)
        for _ in range(self._count):
            yield pickle.load(self._spool)  # our own file, written just above: trusted

    def close(self) -> None:
        self._spool.close()


class _NoNames(dict):
    """zipfile's name → ZipInfo map, which it fills as members are written (to warn of a duplicate
    name). Ours are unique by construction (MediaNames), so it keeps nothing."""

    def __setitem__(self, key: str, value: zipfile.ZipInfo) -> None:
        pass


class ZipStream:
    """Build a zip member by member; every method yields the archive's bytes so far."""

    def __init__(self, when: dt.datetime | None = None) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self._members = _SpooledInfos()
        self._zip.filelist = self._members  # type: ignore[assignment]  # see _SpooledInfos
        self._zip.NameToInfo = _NoNames()
        moment = when or dt.datetime.now(dt.UTC)
        self._date_time = (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute,
                           moment.second)

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def _drain(self, force: bool = False) -> Iterator[bytes]:
        if self._sink.size and (force or self._sink.size >= CHUNK_BYTES):
            yield from self._sink.drain()

    def member(self, name: str, chunks: Iterable[bytes | str], *, compress: bool = True) -> Iterator[bytes]:
        """A member of unknown size written from `chunks` (str is UTF-8 encoded)."""
        with self._zip.open(self._info(name, compress), "w", force_zip64=True) as out:
            for chunk in chunks:
                out.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
                yield from self._drain()
        yield from self._drain()

    def small(self, name: str, data: bytes | str) -> Iterator[bytes]:
        """A member held in memory (a label file, a README)."""
        self._zip.writestr(self._info(name, True), data.encode("utf-8") if isinstance(data, str) else data)
        yield from self._drain()

    def file(self, name: str, path: Path) -> Iterator[bytes]:
        """A file copied in pieces, stored (media are compressed already)."""
        info = self._info(name, False)
        info.file_size = path.stat().st_size  # lets zipfile choose zip64 up front
        with path.open("rb") as source, self._zip.open(info, "w") as out:
            while piece := source.read(FILE_READ_BYTES):
                out.write(piece)
                yield from self._drain()
        yield from self._drain()

    def close(self) -> Iterator[bytes]:
        try:
            self._zip.close()
        finally:
            self._members.close()
        yield from self._drain(force=True)
        self._sink.close()


class PendingFiles:
    """(archive name, path) pairs noted while one member is written and copied after it — kept
    in a spooled temporary file, so a job of a million images does not hold a million paths."""

    def __init__(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+t", encoding="utf-8")
        self.count = 0

    def add(self, name: str, path: Path) -> None:
        self._spool.write(f"{name}\t{path}\n")
        self.count += 1

    def __iter__(self) -> Iterator[tuple[str, Path]]:
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            name, path = line.rstrip("\n").split("\t", 1)
            yield name, Path(path)

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> PendingFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def finish(archive: ZipStream, files: Iterable[tuple[str, Path]], folder: str | None, skipped: list[str],
           extra_files: dict[str, bytes]) -> Iterator[bytes]:
    """The media noted for the archive under `folder/` (as named, when no folder), `skipped.csv` (items a format could not
    hold, and why), the extra files (the on-chain manifest), and the central directory."""
    for name, path in files:
        if path.is_file():
            yield from archive.file(f"{folder}/{name}" if folder else name, path)
    if skipped:
        yield from archive.small("skipped.csv", "item_id,file_name,reason\n" + "\n".join(skipped) + "\n")
    for name, data in extra_files.items():
        yield from archive.small(name, data)
    yield from archive.close()
