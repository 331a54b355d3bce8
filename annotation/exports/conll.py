"""CoNLL-2003 (BIO) from the consensus spans, with tokens that always fit the labels.

Tokens: Chinese and Japanese (Han, Hiragana, Katakana, CJK punctuation and full-width forms) one
character each, since they are written without spaces; every other script by the regex
`\\w+|[^\\w\\s]` (words, and each other mark alone). Offsets are Unicode code points, as the
spans are. Then every span boundary that falls inside a token splits that token, so each
token lies wholly inside one span or outside all — no label is dropped or moved to a neighbour,
the two faults of Label Studio's converter (it tokenizes with NLTK's Treebank tokenizer, which
keeps a whole Chinese sentence as one token, and compares end offsets off by one).

A span holding only whitespace covers no token and cannot be written in BIO; nor can the part of a
span that overlaps an earlier one (the character vote that decides spans never overlaps them).
Such spans are counted in `items.csv` (`unwritten`). Whitespace in a label becomes "_" (columns
are separated by spaces); an unlabeled span is tagged `SPAN`.

A zip with one `<control>.conll` per span control — `-DOCSTART- -X- -X- O`, a blank line, then
per decided item one line per token (`token -X- _ B-LABEL`) and a blank line — and `items.csv`
(the control, the document's number in its file, item id, confidence, spans, unwritten): CoNLL
has no place for a confidence that its readers tolerate.
"""
from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterator

from annotation.controls.spans import object_text
from annotation.exports.archive import ZipStream, finish
from annotation.exports.common import ExportContext, controls_on

_CJK = ("\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u31c0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
        "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f")
TOKEN_RE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+|[^\w\s]")


def tokenize(text: str) -> list[tuple[int, int]]:
    """[start, end) code-point offsets of the tokens of `text`."""
    return [m.span() for m in TOKEN_RE.finditer(text)]


def tag_label(label: str | None) -> str:
    """A label as a CoNLL tag's name: whitespace (the column separator) becomes "_"."""
    return re.sub(r"\s+", "_", label) if label else "SPAN"


def bio(text: str, spans: list[dict]) -> tuple[list[tuple[str, str]], int]:
    """(token, tag) pairs for `text` labeled with `spans` ({start, end, label}), and how many
    spans the tags do not give back exactly (up to whitespace at their edges): whitespace-only
    spans, and spans overlapping an earlier one."""
    ordered = sorted(spans, key=lambda s: (s["start"], s["end"]))
    cuts = sorted({b for s in ordered for b in (s["start"], s["end"])})
    owner: dict[int, int] = {}  # character → the span that claims it (the first one)
    for index, span in enumerate(ordered):
        for i in range(span["start"], span["end"]):
            owner.setdefault(i, index)
    out: list[tuple[str, str]] = []
    runs: dict[int, tuple[int, int]] = {}
    previous = None
    for start, end in tokenize(text):
        bounds = [start, *[c for c in cuts if start < c < end], end]
        for a, b in zip(bounds, bounds[1:], strict=False):
            index = owner.get(a)
            if index is None:
                out.append((text[a:b], "O"))
            else:
                out.append((text[a:b], ("I-" if previous == index else "B-") + tag_label(ordered[index]["label"])))
                first = runs.get(index, (a, b))[0]
                runs[index] = (first, b) if previous == index or index not in runs else (-1, -1)
            previous = index
    unwritten = 0
    for index, span in enumerate(ordered):
        covered = text[span["start"]:span["end"]]
        lead = len(covered) - len(covered.lstrip())
        trail = len(covered) - len(covered.rstrip())
        if runs.get(index) != (span["start"] + lead, span["end"] - trail) or not covered.strip():
            unwritten += 1
    return out, unwritten


def write_conll(ctx: ExportContext) -> Iterator[bytes]:
    controls = controls_on(ctx.spec, ("spans",), ("text", "hypertext"))
    archive = ZipStream(ctx.now)
    with tempfile.SpooledTemporaryFile(max_size=4 << 20, mode="w+t", encoding="utf-8", newline="") as index:
        table = csv.writer(index, lineterminator="\n")
        table.writerow(["control", "document", "item_id", "confidence", "spans", "unwritten"])
        for control in controls:
            def lines(control=control) -> Iterator[str]:
                yield "-DOCSTART- -X- -X- O\n\n"
                document = 0
                for item, _ in ctx.items():
                    value = (item.consensus or {}).get(control.name)
                    if value is None:
                        continue
                    tokens, unwritten = bio(object_text(control, ctx.context(item.data)), value)
                    document += 1
                    table.writerow([control.name, document, item.id,
                                    "" if item.confidence is None else item.confidence, len(value), unwritten])
                    yield "".join(f"{token} -X- _ {tag}\n" for token, tag in tokens) + "\n"

            yield from archive.member(f"{control.name}.conll", lines())
        index.flush()
        index.seek(0)
        yield from archive.member("items.csv", iter(lambda: index.read(1 << 20), ""))
    yield from finish(archive, [], None, [], ctx.extra_files)
