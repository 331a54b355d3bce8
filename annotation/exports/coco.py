"""COCO: the consensus boxes, polygons and key points of an image job, in pixels.

A zip with `annotations.json` (`info`, `licenses`, `categories`, `images`, `annotations`) and,
when asked, the images under `images/` (their original names, made unique). Without the files,
each image's `coco_url` is a signed link to it.

- categories: every label of the config's box and polygon controls (a label shared by two
  controls is one category; an unlabeled `Rectangle`/`Polygon` is a category named after its
  control), then one category per key-point control with its labels as `keypoints`.
- a box: `bbox` [x, y, w, h] in pixels, `area` w·h, `segmentation` [] (as CVAT writes it).
- a polygon: `segmentation` [[x1, y1, x2, y2, …]] in pixels, `area` by the shoelace formula,
  `bbox` its bounding box.
- key points: one annotation per (control, instance): COCO's `keypoints` [x, y, v, …] in the
  category's order (v = 2 where a point was placed, 0 where not), `num_keypoints`, `bbox` around
  the points. A label placed twice on one image starts a second instance, so no point is lost.
- every annotation has `iscrowd` 0 and `score` = the item's confidence; each image (ids from 1) also
  carries `fairlabel_item_id` and `confidence`.

Only decided items are written. An image whose size is unknown (an https:// link whose file
Fairlabel never stored) cannot be converted to pixels: it is listed in `skipped.csv` instead.
Images are written to the zip as they are read; annotations wait in a spooled temporary file
(on disk past a few MiB) until the `images` array is closed.
"""
from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from typing import Any

from annotation.exports.archive import PendingFiles, ZipStream, finish
from annotation.exports.common import ExportContext, MediaNames, controls_on, dumps, image_size
from annotation.label_config import ControlSpec

REGION_KINDS = ("rectangles", "polygons", "keypoints")
SPOOL_BYTES = 8 * 1024 * 1024


def _categories(controls: list[ControlSpec]) -> tuple[list[dict[str, Any]], dict[tuple[str, str | None], int]]:
    """COCO categories and {(control, label): category id}."""
    categories: list[dict[str, Any]] = []
    ids: dict[tuple[str, str | None], int] = {}
    by_name: dict[str, int] = {}
    for control in controls:
        if control.kind == "keypoints":
            continue
        for label in control.choices or (None,):
            name = label if label is not None else control.name
            if name not in by_name:
                by_name[name] = len(categories) + 1
                categories.append({"id": by_name[name], "name": name, "supercategory": control.name})
            ids[(control.name, label)] = by_name[name]
    for control in controls:
        if control.kind != "keypoints":
            continue
        category_id = len(categories) + 1
        categories.append({"id": category_id, "name": control.name, "supercategory": control.name,
                           "keypoints": list(control.choices) or ["point"], "skeleton": []})
        ids[(control.name, None)] = category_id
    return categories, ids


def polygon_area(xy: list[float]) -> float:
    xs, ys = xy[0::2], xy[1::2]
    return abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs)))) / 2


def _r(value: float) -> float:
    return round(value, 2)


def _annotations(control: ControlSpec, value: list[dict[str, Any]], width: int, height: int,
                 category_ids: dict[tuple[str, str | None], int]) -> Iterator[dict[str, Any]]:
    sx, sy = width / 100, height / 100
    if control.kind == "rectangles":
        for box in value:
            x, y, w, h = _r(box["x"] * sx), _r(box["y"] * sy), _r(box["width"] * sx), _r(box["height"] * sy)
            yield {"category_id": category_ids[(control.name, box["label"])], "bbox": [x, y, w, h],
                   "area": _r(w * h), "segmentation": []}
    elif control.kind == "polygons":
        for polygon in value:
            xy = [c for px, py in polygon["points"] for c in (_r(px * sx), _r(py * sy))]
            xs, ys = xy[0::2], xy[1::2]
            yield {"category_id": category_ids[(control.name, polygon["label"])],
                   "bbox": [min(xs), min(ys), _r(max(xs) - min(xs)), _r(max(ys) - min(ys))],
                   "area": _r(polygon_area(xy)), "segmentation": [xy]}
    else:
        names = list(control.choices) or [None]
        instances: list[dict[str | None, tuple[float, float]]] = []
        for point in value:
            free = next((i for i in instances if point["label"] not in i), None)
            if free is None:
                free = {}
                instances.append(free)
            free[point["label"]] = (_r(point["x"] * sx), _r(point["y"] * sy))
        for instance in instances:
            keypoints: list[float] = []
            for name in names:
                x, y = instance.get(name, (0, 0))
                keypoints += [x, y, 2 if name in instance else 0]
            xs = [p[0] for p in instance.values()]
            ys = [p[1] for p in instance.values()]
            w, h = _r(max(xs) - min(xs)), _r(max(ys) - min(ys))
            yield {"category_id": category_ids[(control.name, None)], "keypoints": keypoints,
                   "num_keypoints": len(instance), "bbox": [min(xs), min(ys), w, h], "area": _r(w * h),
                   "segmentation": []}


def write_coco(ctx: ExportContext) -> Iterator[bytes]:
    controls = controls_on(ctx.spec, REGION_KINDS, ("image",))
    categories, category_ids = _categories(controls)
    by_object: dict[str, list[ControlSpec]] = {}
    for control in controls:
        by_object.setdefault(control.targets[0], []).append(control)
    objects = [ctx.spec.object(name) for name in by_object]
    names = MediaNames()
    archive = ZipStream(ctx.now)
    skipped: list[str] = []
    header = {"info": {"description": ctx.title, "version": "1.0", "contributor": "Fairlabel",
                       "date_created": ctx.now.isoformat(), "year": ctx.now.year,
                       "fairlabel": {"job_id": ctx.job_id, "aggregation": ctx.aggregation}},
              "licenses": [], "categories": categories}
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool, PendingFiles() as files:
        annotations = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        next_id = [1]
        image_ids = iter(range(1, 1 << 62))

        def images() -> Iterator[str]:
            head = json.dumps(header, ensure_ascii=False)
            yield head[:-1] + ', "images": ['
            first = True
            for item, _ in ctx.items():
                consensus = item.consensus or {}
                if not any(c.name in consensus for c in controls):
                    continue
                for obj in objects:
                    decided = [c for c in by_object[obj.name] if c.name in consensus]
                    if not decided:
                        continue
                    file_name = names.name_for(ctx, item, obj.variable)
                    size = image_size(ctx, item.data, obj.variable)
                    if size is None:
                        skipped.append(f"{item.id},{file_name},image size unknown")
                        continue
                    width, height, _ = size
                    image_id = next(image_ids)
                    image = {"id": image_id, "file_name": file_name, "width": width, "height": height,
                             "fairlabel_item_id": item.id, "confidence": item.confidence}
                    url = ctx.media_url(item.data.get(obj.variable))
                    if isinstance(url, str) and url.startswith(("http://", "https://")):
                        image["coco_url"] = url
                    if ctx.media:
                        path = ctx.media_file(item.data.get(obj.variable))
                        if path is not None:
                            files.add(file_name, path)
                    yield ("\n" if first else ",\n") + dumps(image)
                    first = False
                    for control in decided:
                        for annotation in _annotations(control, consensus[control.name], width, height,
                                                       category_ids):
                            annotations.write(",\n" if next_id[0] > 1 else "\n")
                            annotations.write(dumps({"id": next_id[0], "image_id": image_id, **annotation,
                                                     "iscrowd": 0, "score": item.confidence}))
                            next_id[0] += 1
            yield '\n], "annotations": ['
            annotations.flush()
            spool.seek(0)
            while piece := spool.read(1024 * 1024):
                yield piece
            yield "\n]}\n"

        yield from archive.member("annotations.json", images())
        annotations.detach()
        yield from finish(archive, files, "images", skipped, ctx.extra_files)

