"""Pascal VOC: one XML per decided image with its consensus boxes, in a zip.

- `Annotations/<stem>.xml`: `<annotation>` with `folder`, `filename`, `source`, `size` (width,
  height, depth), `segmented` 0, a `confidence` (the item's; VOC readers skip elements they do
  not know) and per box an `<object>` (`name`, `pose` Unspecified, `truncated`, `difficult` 0,
  `bndbox` xmin/ymin/xmax/ymax in whole pixels, 0-based, rounded);
- `images/<name>` when media are asked for; `ImageSets/Main/default.txt` lists the stems.

VOC holds boxes only: a config's polygons go to COCO or YOLO segmentation. An image whose size is
unknown (an https:// link Fairlabel never stored) is listed in `skipped.csv`.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from xml.etree import ElementTree as ET

from annotation.exports.archive import PendingFiles, ZipStream, finish
from annotation.exports.common import ExportContext, MediaNames, controls_on, image_size


def _sub(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def voc_xml(file_name: str, size: tuple[int, int, int], boxes: list[tuple[str, dict]], confidence: float | None,
            item_id: int, url: str | None) -> bytes:
    width, height, depth = size
    root = ET.Element("annotation")
    _sub(root, "folder", "images")
    _sub(root, "filename", file_name)
    if url:
        _sub(root, "path", url)
    source = _sub(root, "source")
    _sub(source, "database", "Fairlabel")
    _sub(source, "annotation", f"item {item_id}")
    dims = _sub(root, "size")
    _sub(dims, "width", width)
    _sub(dims, "height", height)
    _sub(dims, "depth", depth)
    _sub(root, "segmented", 0)
    if confidence is not None:
        _sub(root, "confidence", f"{confidence:.6f}")
    for name, box in boxes:
        obj = _sub(root, "object")
        _sub(obj, "name", name)
        _sub(obj, "pose", "Unspecified")
        _sub(obj, "truncated", 0)
        _sub(obj, "difficult", 0)
        bndbox = _sub(obj, "bndbox")
        x0, y0 = box["x"] * width / 100, box["y"] * height / 100
        x1, y1 = x0 + box["width"] * width / 100, y0 + box["height"] * height / 100
        _sub(bndbox, "xmin", max(0, round(x0)))
        _sub(bndbox, "ymin", max(0, round(y0)))
        _sub(bndbox, "xmax", min(width, round(x1)))
        _sub(bndbox, "ymax", min(height, round(y1)))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_voc(ctx: ExportContext) -> Iterator[bytes]:
    controls = controls_on(ctx.spec, ("rectangles",), ("image",))
    by_object: dict[str, list] = {}
    for control in controls:
        by_object.setdefault(control.targets[0], []).append(control)
    namer = MediaNames()
    archive = ZipStream(ctx.now)
    skipped: list[str] = []
    with PendingFiles() as files, tempfile.SpooledTemporaryFile(max_size=4 << 20, mode="w+t",
                                                               encoding="utf-8") as stems:
        for item, _ in ctx.items():
            consensus = item.consensus or {}
            for object_name, object_controls in by_object.items():
                decided = [c for c in object_controls if c.name in consensus]
                if not decided:
                    continue
                obj = ctx.spec.object(object_name)
                value = item.data.get(obj.variable)
                file_name = namer.name_for(ctx, item, obj.variable)
                size = image_size(ctx, item.data, obj.variable)
                if size is None:
                    skipped.append(f"{item.id},{file_name},image size unknown")
                    continue
                boxes = [(box["label"] if box["label"] is not None else c.name, box)
                         for c in decided for box in consensus[c.name]]
                url = ctx.media_url(value)
                url = url if isinstance(url, str) and url.startswith(("http://", "https://")) else None
                stem = PurePosixPath(file_name).stem
                yield from archive.small(f"Annotations/{stem}.xml",
                                         voc_xml(file_name, size, boxes, item.confidence, item.id, url))
                stems.write(stem + "\n")
                if ctx.media and (path := ctx.media_file(value)) is not None:
                    files.add(file_name, path)
        stems.flush()
        stems.seek(0)
        yield from archive.member("ImageSets/Main/default.txt", iter(lambda: stems.read(1 << 20), ""))
        yield from finish(archive, files, "images", skipped, ctx.extra_files)
