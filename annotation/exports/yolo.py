"""YOLO (Ultralytics layout): detection from the consensus boxes, segmentation from the polygons.

A zip with
- `images/<name>` when media are asked for (the original names, made unique by stem);
- `labels/<stem>.txt`, one per decided image: a line per object, `class cx cy w h` (detection)
  or `class x1 y1 x2 y2 …` (segmentation), normalized to 0–1 with 6 decimals; an image whose
  consensus is "nothing here" gets an empty file (a negative example);
- `data.yaml` (`path`, `train`, `val`, `nc`, `names`) and `classes.txt`;
- `items.csv`: file name, item id, confidence and (without the files) a signed link to the
  image — YOLO's label lines have no column for a confidence that trainers would accept.

Classes are the labels of the config's box (or polygon) controls in config order, a label shared
by two controls being one class; an unlabeled `Rectangle`/`Polygon` is a class named after its
control.
"""
from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator
from pathlib import PurePosixPath

from annotation.exports.archive import PendingFiles, ZipStream, finish
from annotation.exports.common import ExportContext, MediaNames, controls_on
from annotation.label_config import ControlSpec


def class_names(controls: list[ControlSpec]) -> dict[tuple[str, str | None], int]:
    """{(control, label): class index}, classes unique by name in config order."""
    indexes: dict[tuple[str, str | None], int] = {}
    by_name: dict[str, int] = {}
    for control in controls:
        for label in control.choices or (None,):
            name = label if label is not None else control.name
            by_name.setdefault(name, len(by_name))
            indexes[(control.name, label)] = by_name[name]
    return indexes


def _f(value: float) -> str:
    return f"{min(max(value, 0.0), 1.0):.6f}"


def label_lines(control: ControlSpec, value: list[dict], classes: dict[tuple[str, str | None], int]) -> list[str]:
    lines = []
    for region in value:
        cls = classes[(control.name, region["label"])]
        if control.kind == "rectangles":
            w, h = region["width"] / 100, region["height"] / 100
            cx, cy = region["x"] / 100 + w / 2, region["y"] / 100 + h / 2
            lines.append(f"{cls} {_f(cx)} {_f(cy)} {_f(w)} {_f(h)}")
        else:
            lines.append(f"{cls} " + " ".join(f"{_f(x / 100)} {_f(y / 100)}" for x, y in region["points"]))
    return lines


def write_yolo(ctx: ExportContext, kind: str = "rectangles") -> Iterator[bytes]:
    controls = controls_on(ctx.spec, (kind,), ("image",))
    classes = class_names(controls)
    names = sorted({i: (label if label is not None else control) for (control, label), i in classes.items()}.items())
    by_object: dict[str, list[ControlSpec]] = {}
    for control in controls:
        by_object.setdefault(control.targets[0], []).append(control)
    namer = MediaNames()
    archive = ZipStream(ctx.now)
    with PendingFiles() as files, tempfile.SpooledTemporaryFile(max_size=4 << 20, mode="w+t",
                                                               encoding="utf-8", newline="") as index:
        table = csv.writer(index, lineterminator="\n")
        table.writerow(["file_name", "item_id", "confidence", "url"])
        for item, _ in ctx.items():
            consensus = item.consensus or {}
            for object_name, object_controls in by_object.items():
                decided = [c for c in object_controls if c.name in consensus]
                if not decided:
                    continue
                obj = ctx.spec.object(object_name)
                value = item.data.get(obj.variable)
                file_name = namer.name_for(ctx, item, obj.variable)
                lines = [line for c in decided for line in label_lines(c, consensus[c.name], classes)]
                stem = PurePosixPath(file_name).stem
                yield from archive.small(f"labels/{stem}.txt", "".join(f"{line}\n" for line in lines))
                url = ctx.media_url(value)
                table.writerow([file_name, item.id, "" if item.confidence is None else item.confidence,
                                url if isinstance(url, str) and url.startswith(("http://", "https://")) else ""])
                if ctx.media and (path := ctx.media_file(value)) is not None:
                    files.add(file_name, path)
        yield from archive.small("data.yaml", "\n".join([
            "# Ultralytics YOLO dataset exported by Fairlabel: " + json.dumps(ctx.title, ensure_ascii=False),
            "path: .", "train: images", "val: images", f"nc: {len(names)}", "names:",
            *[f"  {i}: {json.dumps(name, ensure_ascii=False)}" for i, name in names]]) + "\n")
        yield from archive.small("classes.txt", "".join(f"{name}\n" for _, name in names))
        index.flush()
        index.seek(0)
        yield from archive.member("items.csv", iter(lambda: index.read(1 << 20), ""))
        yield from finish(archive, files, "images", [], ctx.extra_files)


def write_yolo_seg(ctx: ExportContext) -> Iterator[bytes]:
    return write_yolo(ctx, "polygons")
