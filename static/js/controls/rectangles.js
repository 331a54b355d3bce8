// RectangleLabels / Rectangle: boxes on an image, drawn with Annotorious, answered in percent of
// the image (Label Studio's convention).
//
// This file also holds what every image control shares (polygons.js and keypoints.js import it):
// one "board" per image — a stage around the <img>, one Annotorious instance for all the box and
// polygon controls on it, the key-point layer, and which control's label draws next. Picking a
// label of another control switches the drawing tool (rectangle ↔ polygon ↔ point).
import { el, fieldset, keyHint, keyIndex, keysLeft, shown } from "./common.js";
import { objectContent } from "./objects.js";

const VENDOR = new URL("../../vendor/", import.meta.url);
const ANNOTORIOUS_JS = new URL("annotorious/annotorious.es.js", VENDOR).href;
const ANNOTORIOUS_CSS = new URL("annotorious/annotorious.css", VENDOR).href;
export const COLORS = 8; // palette size: app.css colours [data-fl-color="0…7"]
const SVG = "http://www.w3.org/2000/svg";

// --- small helpers shared by the image and audio modules -------------------------------------

export const round3 = (v) => Math.round(v * 1000) / 1000;
export const clamp = (v, low, high) => Math.min(Math.max(v, low), high);

export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** A stylesheet <link> in <head>, once (style-src 'self' allows it; inline styles are refused). */
export function linkStylesheet(href) {
  if ([...document.querySelectorAll('link[rel="stylesheet"]')].some((l) => l.href === href)) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.append(link);
}

/** "1 box", "3 boxes". */
export function count(n, noun, plural = `${noun}s`) {
  return `${n} ${n === 1 ? noun : plural}`;
}

/**
 * The label row every region control shows: one button per label (or one "Draw" button for an
 * unlabeled tool), with its number key and colour, a Delete button for touch, and a count.
 * `board` is an ImageBoard or an audio Waveform: both have pick(), isActive(), selectedOf(),
 * removeSelected(), subscribe().
 */
export function labelRow(control, ctx, board, { noun, plural, verb, hint }) {
  const labels = control.choices.length ? control.choices : [null];
  const keyCount = keysLeft(ctx.keyOffset, labels.length);
  const base = board.colorBase(control);
  const box = fieldset("regions", control);
  box.classList.add(`regions-${control.kind}`);
  const row = el("div", "region-labels");
  const buttons = labels.map((label, i) => {
    const swatch = el("span", "region-swatch");
    swatch.dataset.flColor = String((base + i) % COLORS);
    const hintKey = i < keyCount ? keyHint(ctx.keyOffset + i) : null;
    const button = el("button", "region-label", swatch, ...(hintKey ? [hintKey, " "] : []), label ?? verb);
    button.type = "button";
    button.dataset.label = label ?? "";
    button.addEventListener("click", () => board.pick(control.name, label));
    row.append(button);
    return button;
  });
  const remove = el("button", "region-delete secondary", "Delete selected");
  remove.type = "button";
  remove.addEventListener("click", () => { if (board.removeSelected(control.name)) ctx.onChange(); });
  const status = el("span", "region-count muted");
  status.setAttribute("aria-live", "polite");
  row.append(remove);
  box.append(row, el("p", "region-hint muted", hint), status);
  const refresh = () => {
    buttons.forEach((button, i) => button.setAttribute("aria-pressed", String(board.isActive(control.name, labels[i]))));
    remove.disabled = !board.selectedOf(control.name);
    const n = board.countOf(control.name);
    status.textContent = n ? `${count(n, noun, plural)} marked.` : `No ${plural} yet.`;
    box.dataset.count = String(n);
  };
  return { box, keyCount, labels, refresh, status };
}

/**
 * The keys of a region control on `board` (an ImageBoard or a Waveform): Delete/Backspace removes
 * the selected region, Escape deselects (or drops the shape being drawn), the control's number
 * keys pick the label to draw (relabelling the selected region). True when the key was used.
 */
export function regionKeys(board, control, row, ctx) {
  return (event) => {
    if (event.key === "Delete" || event.key === "Backspace") {
      const removed = board.removeSelected(control.name);
      if (removed) ctx.onChange();
      return removed;
    }
    if (event.key === "Escape") return board.escape(control.name);
    const i = keyIndex(event, ctx.keyOffset, row.keyCount);
    if (i < 0) return false;
    board.pick(control.name, row.labels[i]);
    return true;
  };
}

// --- the board: one per image ----------------------------------------------------------------

let annotoriousModule = null;
function loadAnnotorious() {
  linkStylesheet(ANNOTORIOUS_CSS);
  annotoriousModule ??= import(ANNOTORIOUS_JS);
  return annotoriousModule;
}

/** The shared board of image object `name` (made on first use, destroyed by the page). */
export function imageBoard(ctx, name) {
  return ctx.shared(name, "image-board", () => new ImageBoard(ctx.objectElement(name)));
}

class ImageBoard {
  constructor(wrapper) {
    this.wrapper = wrapper;
    this.img = objectContent(wrapper);
    this.stage = el("div", "region-stage");
    this.img.replaceWith(this.stage);
    this.stage.append(this.img);
    this.controls = []; // {name, tool, labels, color}
    this.active = null; // {control, label, tool}
    this.owner = new Map(); // Annotorious annotation id -> {control, label}
    this.listeners = new Set();
    this.anno = null;
    this.annoLoad = null;
    this.points = null; // the key-point layer (keypoints.js)
    this.cleanups = [];
    this.colors = 0;
  }

  /** Register a control drawing with `tool` ("rectangle" | "polygon" | "point"); the first picks. */
  add(control, tool) {
    const labels = control.choices.length ? control.choices : [null];
    this.controls.push({ name: control.name, tool, labels, color: this.colors });
    this.colors += labels.length;
    if (!this.active) this.active = { control: control.name, label: labels[0], tool };
    return this;
  }

  colorBase(control) {
    return this.controls.find((c) => c.name === control.name)?.color ?? 0;
  }

  colorOf(controlName, label) {
    const c = this.controls.find((x) => x.name === controlName);
    return c ? (c.color + Math.max(0, c.labels.indexOf(label))) % COLORS : 0;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    for (const fn of this.listeners) fn();
  }

  /** The natural size of the image (what Annotorious' coordinates are in). */
  size() {
    return { w: this.img.naturalWidth || this.img.width || 1, h: this.img.naturalHeight || this.img.height || 1 };
  }

  /** Annotorious on this image, loaded and created once (for box and polygon controls). */
  annotorious() {
    this.annoLoad ??= Promise.all([loadAnnotorious(), this.imageLoaded()]).then(([{ createImageAnnotator }]) => {
      if (this.destroyed) throw new Error("the task was left");
      const anno = createImageAnnotator(this.img, {
        drawingEnabled: false,
        drawingMode: "drag",
        // Only the regions of the control being drawn can be selected: a tap inside a box while
        // an outline is being drawn adds a vertex instead of selecting the box.
        userSelectAction: (a) => (this.owner.get(a.id)?.control === this.active?.control ? "EDIT" : "NONE"),
      });
      // The wrapper Annotorious puts around the image must shrink with it (phones: no side scroll).
      anno.element.classList.add("region-annotorious");
      anno.element.style.display = "block";
      anno.element.style.maxWidth = "100%";
      // Which control and label a new shape is for, as it is added (the lifecycle events come a
      // tick later, when a quick number key may already have picked another label).
      anno.state.store.observe(({ changes }) => {
        for (const a of changes.created ?? []) {
          if (!this.owner.has(a.id)) this.owner.set(a.id, this.active ? { ...this.active } : null);
        }
      });
      anno.on("createAnnotation", () => {
        this.paint();
        anno.cancelSelected(); // ready to draw the next one; tap a region to edit or delete it
        this.changed();
      });
      anno.on("deleteAnnotation", () => this.changed());
      anno.on("selectionChanged", () => this.changed());
      anno.on("updateAnnotation", () => this.paint());
      // Colour each region by its label: Annotorious' shapes carry data-id; a data attribute on
      // them (not an inline style, which the CSP refuses) lets app.css colour them.
      const layer = anno.element.querySelector("svg.a9s-annotationlayer");
      const observer = new MutationObserver(() => this.paint());
      observer.observe(layer, { childList: true, subtree: true });
      this.cleanups.push(() => observer.disconnect());
      // Touch: Annotorious' polygon tool adds the vertex where the pointer last *moved*, and a tap
      // has no move. A pointermove at the tap, sent just before Annotorious sees it, fixes that.
      const nudge = (event) => {
        if (!event.isTrusted || event.pointerType === "mouse" || this.active?.tool !== "polygon") return;
        layer.dispatchEvent(new PointerEvent("pointermove", {
          bubbles: true, clientX: event.clientX, clientY: event.clientY, pointerId: event.pointerId,
          pointerType: event.pointerType, isPrimary: event.isPrimary,
        }));
      };
      anno.element.addEventListener("pointerdown", nudge, true);
      anno.element.addEventListener("pointerup", nudge, true);
      // Delete/Backspace on the focused image removes the selected region (Annotorious' polygon
      // editor would otherwise take the key for deleting corners and stop the page seeing it).
      anno.element.addEventListener("keydown", (event) => {
        if (event.key !== "Delete" && event.key !== "Backspace") return;
        const owner = anno.getSelected().map((a) => this.owner.get(a.id)).find(Boolean);
        if (owner && this.removeSelected(owner.control)) {
          event.preventDefault();
          event.stopPropagation();
        }
      }, true);
      this.anno = anno;
      this.applyTool();
      return anno;
    });
    return this.annoLoad;
  }

  /** Resolves when the image has loaded: Annotorious measures it once, when it is created (made
   * before the image loads, it gets a wrong scale, and an outline cannot be closed). */
  imageLoaded() {
    if (this.img.complete && this.img.naturalWidth) return Promise.resolve();
    if (this.img.complete && this.img.currentSrc) return Promise.reject(new Error("the image did not load"));
    return new Promise((resolve, reject) => {
      this.img.addEventListener("load", resolve, { once: true });
      this.img.addEventListener("error", () => reject(new Error("the image did not load")), { once: true });
    });
  }

  paint() {
    if (!this.anno) return;
    for (const g of this.anno.element.querySelectorAll("g.a9s-annotation[data-id]")) {
      const owner = this.owner.get(g.dataset.id);
      const color = owner ? String(this.colorOf(owner.control, owner.label)) : "";
      if (g.dataset.flColor !== color) g.dataset.flColor = color;
    }
  }

  /** Draw `label` of control `name` next: switch tool, enable the right layer. */
  pick(name, label) {
    const c = this.controls.find((x) => x.name === name);
    if (!c) return;
    // A selected region of this control takes the label picked (relabel without redrawing).
    const selected = this.selectedOf(name);
    if (selected && c.labels.includes(label) && label !== null) this.relabel(name, selected, label);
    if (this.active?.control !== name) this.anno?.cancelSelected();
    this.active = { control: name, label, tool: c.tool };
    this.applyTool();
    this.changed();
  }

  applyTool() {
    const tool = this.active?.tool;
    if (this.anno) {
      const draws = tool === "rectangle" || tool === "polygon";
      if (draws) {
        this.anno.setDrawingTool(tool);
        // Polygons are drawn by clicks/taps (one per vertex; tap the first to close), boxes by drag.
        this.anno.setDrawingMode(tool === "polygon" ? "click" : "drag");
      } else {
        this.anno.cancelSelected();
      }
      this.anno.setDrawingEnabled(draws);
    }
    this.points?.setActive(tool === "point");
    this.stage.dataset.tool = tool ?? "";
  }

  isActive(name, label) {
    return this.active?.control === name && this.active?.label === label;
  }

  /** The selected region of control `name`: {kind: "shape"|"point", id} or null. */
  selectedOf(name) {
    if (this.anno) {
      for (const a of this.anno.getSelected()) {
        if (this.owner.get(a.id)?.control === name) return { kind: "shape", id: a.id };
      }
    }
    const point = this.points?.selected();
    if (point && point.control === name) return { kind: "point", id: point.id };
    return null;
  }

  relabel(name, selected, label) {
    if (selected.kind === "shape") {
      this.owner.set(selected.id, { ...this.owner.get(selected.id), label });
      this.paint();
    } else {
      this.points.relabel(selected.id, label);
    }
  }

  /** Escape: deselect control `name`'s region, or drop the outline being drawn; true if done. */
  escape(name) {
    if (this.selectedOf(name)) {
      this.anno?.cancelSelected();
      this.points?.deselect();
      this.changed();
      return true;
    }
    if (this.active?.control === name && this.anno && this.active.tool !== "point") {
      this.anno.cancelDrawing();
      return true;
    }
    return false;
  }

  /** Remove control `name`'s selected region; true if one was removed. */
  removeSelected(name) {
    const selected = this.selectedOf(name);
    if (!selected) return false;
    if (selected.kind === "shape") {
      this.anno.cancelSelected();
      this.anno.removeAnnotation(selected.id);
      this.owner.delete(selected.id);
    } else {
      this.points.remove(selected.id);
    }
    this.changed();
    return true;
  }

  /** Control `name`'s Annotorious shapes: [{label, selector}], in drawing order. */
  shapesOf(name) {
    if (!this.anno) return [];
    return this.anno.getAnnotations()
      .filter((a) => this.owner.get(a.id)?.control === name)
      .map((a) => ({ label: this.owner.get(a.id).label, selector: a.target.selector }));
  }

  countOf(name) {
    return this.shapesOf(name).length + (this.points ? this.points.of(name).length : 0);
  }

  destroy() {
    this.destroyed = true;
    this.cleanups.forEach((fn) => fn());
    this.points?.destroy();
    this.anno?.destroy();
    this.listeners.clear();
    if (this.stage.isConnected) this.stage.replaceWith(this.img);
  }
}

// --- one region control on Annotorious (boxes here, polygons in polygons.js) ------------------

/**
 * Mount a control that draws Annotorious shapes with `tool`. `toValue(selector, size, label)`
 * turns one shape into its Label Studio value (or null to leave it out); `problem(values)` names
 * what the server would refuse, before sending.
 */
export function mountShapeControl(control, ctx, { tool, noun, plural, verb, hint, toValue, problem }) {
  const board = imageBoard(ctx, control.to_name.split(",")[0]);
  board.add(control, tool);
  const row = labelRow(control, ctx, board, { noun, plural, verb, hint });
  const unsubscribe = board.subscribe(() => { row.refresh(); ctx.onChange(); });
  row.refresh();
  row.box.dataset.state = "loading";
  board.annotorious().then(
    () => { row.box.dataset.state = "ready"; row.refresh(); },
    (error) => {
      if (board.destroyed) return;
      row.box.dataset.state = "failed";
      row.status.textContent = `The drawing tool did not load (${error.message ?? error}); reload the page.`;
    },
  );
  const values = () => {
    const size = board.size();
    return board.shapesOf(control.name).map((s) => toValue(s.selector, size, s.label)).filter(Boolean);
  };
  return {
    element: row.box,
    keyCount: row.keyCount,
    onKey: regionKeys(board, control, row, ctx),
    result() {
      return values().map((value) => ({ value: control.choices.length ? value : withoutLabel(value) }));
    },
    missing() {
      if (row.box.dataset.state === "failed") return row.status.textContent;
      const list = values();
      if (control.required && !list.length) return `Mark at least one ${noun} for ${control.name}.`;
      return problem ? problem(list) : null;
    },
    destroy() {
      unsubscribe();
    },
  };
}

function withoutLabel(value) {
  const copy = { ...value };
  for (const key of ["rectanglelabels", "polygonlabels", "keypointlabels"]) delete copy[key];
  return copy;
}

function boxValue(selector, { w: W, h: H }, label) {
  const g = selector?.geometry;
  if (!g) return null;
  // Rotation is not taken (the rotate handle is hidden): a rotated box answers its bounds.
  const [x0, y0, x1, y1] = g.rot
    ? [g.bounds.minX, g.bounds.minY, g.bounds.maxX, g.bounds.maxY]
    : [g.x, g.y, g.x + g.w, g.y + g.h];
  const x = round3(clamp((Math.min(x0, x1) / W) * 100, 0, 100));
  const y = round3(clamp((Math.min(y0, y1) / H) * 100, 0, 100));
  const width = Math.min(round3(clamp((Math.max(x0, x1) / W) * 100, 0, 100)) - x, 100 - x);
  const height = Math.min(round3(clamp((Math.max(y0, y1) / H) * 100, 0, 100)) - y, 100 - y);
  if (!(width > 0 && height > 0)) return null;
  return { x, y, width: round3(width), height: round3(height), rotation: 0, rectanglelabels: [label] };
}

export default {
  kind: "rectangles",
  keyed: true,
  mount(control, ctx) {
    return mountShapeControl(control, ctx, {
      tool: "rectangle",
      noun: "box",
      plural: "boxes",
      verb: "Draw a box",
      hint: "Pick a label, then drag on the image to draw a box. Tap a box to move or resize it; Delete removes it.",
      toValue: boxValue,
    });
  },
};

// --- read-only (results page) ----------------------------------------------------------------

/**
 * An SVG over image object `name` (rendered by ctx.objectElement), in percent of the image:
 * viewBox 0 0 100 100 stretched to the image, strokes that do not scale.
 */
export function overlayOn(ctx, name) {
  const wrapper = ctx.objectElement?.(name);
  const img = wrapper ? objectContent(wrapper) : null;
  if (!img) return null;
  let stage = img.closest(".region-stage");
  if (!stage) {
    stage = el("div", "region-stage");
    img.replaceWith(stage);
    stage.append(img);
  }
  const layer = svg("svg", { class: "region-overlay", viewBox: "0 0 100 100", preserveAspectRatio: "none" });
  layer.setAttribute("aria-hidden", "true");
  stage.append(layer);
  return layer;
}

/**
 * `list` (the text of a region control's `show`) below the picture of image object `name` with
 * its overlay — the image element ctx.objectElement rendered, which overlayOn drew on. Without
 * a picture (no ctx, or the object is not an image) the list alone.
 */
export function onPicture(ctx, name, list) {
  const wrapper = ctx?.objectElement?.(name);
  if (!wrapper || !wrapper.querySelector(".region-overlay")) return list;
  const box = el("span", "shown-picture");
  box.append(wrapper, list);
  return box;
}

/** The colour index of `label` in `control` (the same palette as the labeling page). */
export function shownColor(control, label) {
  return String(Math.max(0, control.choices.indexOf(label)) % COLORS);
}

/** The text part of a region control's `show`: "2 boxes: Cat, Dog". */
export function shownList(kind, control, list, noun, plural, describe) {
  if (!list.length) return shown(`regions ${kind} empty`, `(no ${plural})`);
  const items = list.map((v) => {
    const item = el("span", "region-item", describe(v));
    item.dataset.flColor = shownColor(control, v.label);
    return item;
  });
  return shown(`regions ${kind}`, `${count(list.length, noun, plural)}: `,
    ...items.flatMap((item, i) => [i ? ", " : "", item]));
}

export function show(control, value, ctx) {
  const boxes = Array.isArray(value) ? value : [];
  const name = control.to_name.split(",")[0];
  const layer = overlayOn(ctx ?? {}, name);
  for (const b of boxes) {
    const rect = svg("rect", { x: b.x, y: b.y, width: b.width, height: b.height, class: "region-shape" });
    rect.dataset.flColor = shownColor(control, b.label);
    layer?.append(rect);
  }
  return onPicture(ctx, name, shownList("rectangles", control, boxes, "box", "boxes",
    (b) => `${b.label ?? "box"} (${Math.round(b.x)}%, ${Math.round(b.y)}%, ${Math.round(b.width)}×${Math.round(b.height)}%)`));
}
