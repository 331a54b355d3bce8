// PolygonLabels / Polygon: outlines on an image, drawn with Annotorious' polygon tool (one click
// or tap per vertex; click/tap the first vertex to close), answered in percent of the image.
// The image board (one Annotorious per image, shared with RectangleLabels) is in rectangles.js.
import { clamp, mountShapeControl, onPicture, overlayOn, round3, shownColor, shownList, svg } from "./rectangles.js";

const MAX_POINTS = 500; // annotation/controls/polygons.py

function polygonValue(selector, { w: W, h: H }, label) {
  const points = selector?.geometry?.points;
  if (!Array.isArray(points) || points.length < 3) return null;
  return {
    points: points.map(([x, y]) => [round3(clamp((x / W) * 100, 0, 100)), round3(clamp((y / H) * 100, 0, 100))]),
    closed: true,
    polygonlabels: [label],
  };
}

export function area(points) {
  let twice = 0;
  for (let i = 0; i < points.length; i += 1) {
    const [x0, y0] = points[(i + points.length - 1) % points.length];
    const [x1, y1] = points[i];
    twice += x1 * y0 - x0 * y1;
  }
  return Math.abs(twice) / 2;
}

function problem(values) {
  if (values.some((v) => v.points.length > MAX_POINTS)) return `A polygon may have at most ${MAX_POINTS} points.`;
  if (values.some((v) => area(v.points) <= 0)) return "An outline encloses no area: delete it and draw it again.";
  return null;
}

export default {
  kind: "polygons",
  keyed: true,
  mount(control, ctx) {
    return mountShapeControl(control, ctx, {
      tool: "polygon",
      noun: "outline",
      plural: "outlines",
      verb: "Draw an outline",
      hint: "Pick a label, then click or tap each corner; click/tap the first corner again to close it. "
        + "Tap an outline to edit it; Delete removes it.",
      toValue: polygonValue,
      problem,
    });
  },
};

export function show(control, value, ctx) {
  const polygons = Array.isArray(value) ? value : [];
  const name = control.to_name.split(",")[0];
  const layer = overlayOn(ctx ?? {}, name);
  for (const p of polygons) {
    const shape = svg("polygon", { points: p.points.map((xy) => xy.join(",")).join(" "), class: "region-shape" });
    shape.dataset.flColor = shownColor(control, p.label);
    layer?.append(shape);
  }
  return onPicture(ctx, name, shownList("polygons", control, polygons, "outline", "outlines", (p) => {
    const cx = p.points.reduce((s, q) => s + q[0], 0) / p.points.length;
    const cy = p.points.reduce((s, q) => s + q[1], 0) / p.points.length;
    return `${p.label ?? "outline"} (around ${Math.round(cx)}%, ${Math.round(cy)}%)`;
  }));
}
