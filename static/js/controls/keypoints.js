// KeyPointLabels / KeyPoint: points on an image, in percent of the image.
//
// Annotorious 3 ships no point tool (its extensions do not add one to the image annotator), so
// points live on a small SVG layer of our own over the image, on the same board as the box and
// polygon controls (rectangles.js): click/tap adds a point with the picked label, dragging moves
// it, Delete removes the selected one. The layer is in percent (viewBox 0 0 100 100, stretched to
// the image), so it needs neither the image's natural size nor a loaded library.
import { clamp, imageBoard, labelRow, onPicture, overlayOn, regionKeys, round3, shownColor, shownList, svg } from "./rectangles.js";

const HIT_PX = { mouse: 14, pen: 16, touch: 26 }; // how near a point a press grabs it

class PointLayer {
  constructor(board) {
    this.board = board;
    this.list = []; // {id, control, label, x, y} in percent
    this.selectedId = null;
    this.next = 1;
    this.layer = svg("svg", { class: "keypoint-layer", viewBox: "0 0 100 100", preserveAspectRatio: "none" });
    this.layer.setAttribute("role", "application");
    this.layer.setAttribute("aria-label", "Key points: click or tap to add one, drag to move it");
    board.stage.append(this.layer);
    this.drag = null;
    const on = (type, fn) => {
      this.layer.addEventListener(type, fn);
      return () => this.layer.removeEventListener(type, fn);
    };
    this.cleanups = [
      on("pointerdown", (e) => this.down(e)),
      on("pointermove", (e) => this.move(e)),
      on("pointerup", (e) => this.up(e)),
      on("pointercancel", (e) => this.up(e)),
    ];
  }

  setActive(active) {
    this.layer.classList.toggle("active", active);
    if (!active) this.deselect();
  }

  deselect() {
    if (this.selectedId === null) return;
    this.selectedId = null;
    this.render();
  }

  at(event) {
    const box = this.layer.getBoundingClientRect();
    return {
      x: round3(clamp(((event.clientX - box.left) / box.width) * 100, 0, 100)),
      y: round3(clamp(((event.clientY - box.top) / box.height) * 100, 0, 100)),
      box,
    };
  }

  nearest({ x, y, box }, pointerType) {
    const limit = HIT_PX[pointerType] ?? HIT_PX.mouse;
    let best = null;
    let bestDistance = Infinity;
    for (const p of this.list) {
      const d = Math.hypot(((p.x - x) / 100) * box.width, ((p.y - y) / 100) * box.height);
      if (d <= limit && d < bestDistance) [best, bestDistance] = [p, d];
    }
    return best;
  }

  down(event) {
    const active = this.board.active;
    if (active?.tool !== "point" || event.button > 0) return;
    event.preventDefault();
    const where = this.at(event);
    let point = this.nearest(where, event.pointerType);
    if (point) {
      this.selectedId = point.id; // a press on a point selects it (Delete, or a label key relabels it)
    } else {
      // A new point is not selected, as a new box is not: the next label key picks what to add next.
      point = { id: `kp${this.next++}`, control: active.control, label: active.label, x: where.x, y: where.y };
      this.list.push(point);
      this.selectedId = null;
    }
    this.drag = { pointerId: event.pointerId, point };
    try {
      this.layer.setPointerCapture(event.pointerId);
    } catch { /* a synthetic pointer cannot be captured; moves still arrive over the layer */ }
    this.render();
    this.board.changed();
  }

  move(event) {
    if (!this.drag || event.pointerId !== this.drag.pointerId) return;
    event.preventDefault();
    const { x, y } = this.at(event);
    Object.assign(this.drag.point, { x, y });
    this.render();
  }

  up(event) {
    if (!this.drag || event.pointerId !== this.drag.pointerId) return;
    this.drag = null;
    this.board.changed();
  }

  selected() {
    return this.list.find((p) => p.id === this.selectedId) ?? null;
  }

  relabel(id, label) {
    const point = this.list.find((p) => p.id === id);
    if (point) point.label = label;
    this.render();
  }

  remove(id) {
    this.list = this.list.filter((p) => p.id !== id);
    if (this.selectedId === id) this.selectedId = null;
    this.render();
  }

  of(name) {
    return this.list.filter((p) => p.control === name);
  }

  render() {
    this.layer.replaceChildren(...this.list.flatMap((p) => {
      const d = `M ${p.x} ${p.y} h 0.001`; // a dot: round caps on a hair-long line, unscaled stroke
      const color = String(this.board.colorOf(p.control, p.label));
      const halo = svg("path", { d, class: "keypoint-halo" });
      const dot = svg("path", { d, class: "keypoint" });
      dot.dataset.flColor = color;
      dot.dataset.id = p.id;
      if (p.id === this.selectedId) dot.classList.add("selected");
      return [halo, dot];
    }));
  }

  destroy() {
    this.cleanups.forEach((fn) => fn());
    this.layer.remove();
  }
}

export default {
  kind: "keypoints",
  keyed: true,
  mount(control, ctx) {
    const board = imageBoard(ctx, control.to_name.split(",")[0]);
    board.points ??= new PointLayer(board);
    board.add(control, "point");
    const row = labelRow(control, ctx, board, {
      noun: "point",
      plural: "points",
      verb: "Add points",
      hint: "Pick a label, then click or tap the image to add a point; drag a point to move it; Delete removes the selected one.",
    });
    row.box.dataset.state = "ready";
    board.applyTool();
    const unsubscribe = board.subscribe(() => { row.refresh(); ctx.onChange(); });
    row.refresh();
    const values = () => board.points.of(control.name).map((p) => ({
      x: p.x, y: p.y, width: 1, ...(control.choices.length ? { keypointlabels: [p.label] } : {}),
    }));
    return {
      element: row.box,
      keyCount: row.keyCount,
      onKey: regionKeys(board, control, row, ctx),
      result() {
        return values().map((value) => ({ value }));
      },
      missing() {
        return control.required && !values().length ? `Mark at least one point for ${control.name}.` : null;
      },
      destroy() {
        unsubscribe();
      },
    };
  },
};

export function show(control, value, ctx) {
  const points = Array.isArray(value) ? value : [];
  const name = control.to_name.split(",")[0];
  const layer = overlayOn(ctx ?? {}, name);
  for (const p of points) {
    const dot = svg("path", { d: `M ${p.x} ${p.y} h 0.001`, class: "keypoint" });
    dot.dataset.flColor = shownColor(control, p.label);
    layer?.append(dot);
  }
  return onPicture(ctx, name, shownList("keypoints", control, points, "point", "points",
    (p) => `${p.label ?? "point"} (${Math.round(p.x)}%, ${Math.round(p.y)}%)`));
}
