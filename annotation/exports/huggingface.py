"""A Hugging Face dataset: a zip of `data/train.jsonl` and a `README.md` dataset card.

Unzipped, `datasets.load_dataset("<folder>")` reads it through the card's YAML (`configs` →
`data_files`, `dataset_info.features`), and `load_dataset("json", data_files="…/train.jsonl")`
reads the data alone. One row per item: `item_id`; the data fields (as strings: a field that is
not a string is JSON text, so every row has the same type); per control its consensus (null while
undecided) with a fixed type per kind; `confidence`, `n_answers`, and `answers` (worker, status,
active time and the answer's values as JSON text). Coordinates are floats in percent of the
image, times in seconds, span offsets in code points with the text they cover.

With media, the files are in `images/` or `audio/` (original names, made unique) and the media
column holds that relative path; without, a signed link. JSONL rather than Parquet, so the export
needs no pyarrow and streams row by row.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from annotation.exports.archive import PendingFiles, ZipStream, finish
from annotation.exports.common import (
    ExportContext,
    MediaNames,
    data_column,
    dumps,
    readable,
    reserved_columns,
)
from annotation.label_config import ControlSpec

_F = "float64"
# A region kind's struct fields, as YAML feature lines (`list:` of a struct).
_STRUCTS: dict[str, list[tuple[str, Any]]] = {
    "spans": [("start", "int64"), ("end", "int64"), ("label", "string"), ("text", "string")],
    "segments": [("start", _F), ("end", _F), ("label", "string")],
    "rectangles": [("x", _F), ("y", _F), ("width", _F), ("height", _F), ("label", "string")],
    "polygons": [("points", {"list": {"list": _F}}), ("label", "string")],
    "keypoints": [("x", _F), ("y", _F), ("label", "string")],
}
_SCALARS = {"textarea": "string", "pairwise": "string", "rating": "int64", "number": _F}


def _float_regions(kind: str, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every coordinate as a float, so a column never mixes 10 and 10.5 (Arrow would refuse)."""
    out = []
    for region in value:
        row = dict(region)
        for key, dtype in _STRUCTS[kind]:
            if dtype == _F and row.get(key) is not None:
                row[key] = float(row[key])
        if kind == "polygons":
            row["points"] = [[float(x), float(y)] for x, y in row["points"]]
        out.append(row)
    return out


def hf_value(ctx: ExportContext, control: ControlSpec, value: Any, data: dict[str, Any]) -> Any:
    if value is None:
        return None
    if control.kind == "choices":
        return list(value)
    if control.kind == "number":
        return float(value)
    if control.kind in _STRUCTS:
        return _float_regions(control.kind, readable(control, value, ctx, data))
    return value


def _feature_yaml(name: str, control: ControlSpec | None, dtype: Any = None) -> list[str]:
    """The YAML of one feature of `dataset_info.features`."""
    lines = [f"  - name: {json.dumps(name, ensure_ascii=False)}"]
    if control is None:
        lines.append(f"    dtype: {dtype}")
    elif control.kind == "choices":
        lines.append("    list: string")
    elif control.kind in _SCALARS:
        lines.append(f"    dtype: {_SCALARS[control.kind]}")
    else:
        lines.append("    list:")
        for field, kind in _STRUCTS[control.kind]:
            lines.append(f"    - name: {field}")
            if isinstance(kind, dict):
                lines += ["      list:", f"        list: {kind['list']['list']}"]
            else:
                lines.append(f"      dtype: {kind}")
    return lines


ANSWER_FEATURES = ["  - name: answers", "    list:", "    - name: answer_id", "      dtype: int64",
                   "    - name: worker_id", "      dtype: int64", "    - name: status", "      dtype: string",
                   "    - name: active_ms", "      dtype: int64", "    - name: values", "      dtype: string"]


def dataset_card(ctx: ExportContext, columns: list[str], n_rows: int, media_folder: str | None) -> str:
    features = ["  - name: item_id", "    dtype: int64"]
    for column in columns:
        features += _feature_yaml(column, None, "string")
    for control in ctx.spec.controls:
        features += _feature_yaml(control.name, control)
    features += ["  - name: confidence", "    dtype: float64", "  - name: n_answers", "    dtype: int64",
                 *ANSWER_FEATURES]
    title = json.dumps(ctx.title, ensure_ascii=False)
    kinds = ", ".join(f"`{c.name}` ({c.kind})" for c in ctx.spec.controls)
    media = (f"The media files are in `{media_folder}/`; the media column holds their paths.\n"
             if media_folder else "Media columns hold links signed to expire (7 days by default).\n")
    return "\n".join([
        "---",
        "# The license is the data owner's to choose: replace `other` (https://hf.co/docs/hub/repositories-licenses).",
        "license: other",
        f"pretty_name: {title}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: data/train.jsonl",
        "dataset_info:",
        "  features:",
        *features,
        "  splits:",
        "  - name: train",
        f"    num_examples: {n_rows}",
        "---",
        "",
        f"# {ctx.title}",
        "",
        f"Labels from Fairlabel job {ctx.job_id}, decided by consensus ({ctx.aggregation}) over "
        "several annotators, with each item's confidence and every raw answer.",
        "",
        f"- Controls: {kinds}.",
        "- `confidence`: the consensus's confidence in [0, 1]; null while the item is undecided.",
        "- `answers`: each annotator's answer (`values` is JSON: {control: value}) and its status "
        "(accepted, rejected, pending).",
        "- Coordinates are percent of the image; times are seconds; span offsets are Unicode code points.",
        "",
        media,
        "```python",
        "from datasets import load_dataset",
        'dataset = load_dataset("path/to/this/folder")',
        "```",
        "",
        "## Labeling config",
        "",
        "```xml",
        ctx.label_config.strip(),
        "```",
        "",
    ])


def write_hf(ctx: ExportContext) -> Iterator[bytes]:
    fields = ctx.data_fields()
    reserved = reserved_columns(ctx.spec)
    columns = {f: data_column(f, reserved) for f in fields}
    media = ctx.spec.media_variables
    folder = "images" if "image" in media.values() else "audio" if media else None
    namer = MediaNames()
    archive = ZipStream(ctx.now)
    counted = [0]

    def rows(files: PendingFiles) -> Iterator[str]:
        for item, answers in ctx.items(answers=True):
            row: dict[str, Any] = {"item_id": item.id}
            for field in fields:
                value = item.data.get(field)
                if field in media and value is not None:
                    path = ctx.media_file(value) if ctx.media else None
                    if path is not None:
                        value = f"{'images' if media[field] == 'image' else 'audio'}/{namer.name_for(ctx, item, field)}"
                        files.add(value, path)
                    else:
                        value = ctx.media_url(value)
                row[columns[field]] = None if value is None else value if isinstance(value, str) else dumps(value)
            consensus = item.consensus or {}
            for control in ctx.spec.controls:
                row[control.name] = hf_value(ctx, control, consensus.get(control.name), item.data)
            row["confidence"] = item.confidence
            row["n_answers"] = item.n_answers
            row["answers"] = [{"answer_id": a.id, "worker_id": a.worker_id, "status": a.status,
                               "active_ms": a.active_ms, "values": dumps(a.values)} for a in answers]
            counted[0] += 1
            yield dumps(row) + "\n"

    with PendingFiles() as files:
        yield from archive.member("data/train.jsonl", rows(files))
        yield from archive.small("README.md", dataset_card(ctx, list(columns.values()), counted[0],
                                                           folder if ctx.media and files.count else None))
        yield from finish(archive, files, None, [], ctx.extra_files)
