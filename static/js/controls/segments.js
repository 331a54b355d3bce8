// Labels on Audio: labeled time segments in seconds, on a wavesurfer.js waveform with its regions
// plugin. Play/pause button; drag on the waveform to mark a segment with the picked label; click or
// tap a segment to select it (then a label key relabels it, Delete removes it); drag its edges to
// adjust. One waveform per audio object, shared by every Labels control on it.
import { el, shown } from "./common.js";
import { objectContent } from "./objects.js";
import { COLORS, clamp, count, labelRow, regionKeys, round3 } from "./rectangles.js";

const VENDOR = new URL("../../vendor/wavesurfer/", import.meta.url);
const WAVESURFER_JS = new URL("wavesurfer.esm.js", VENDOR).href;
const REGIONS_JS = new URL("plugins/regions.esm.js", VENDOR).href;
const WAVE_HEIGHT = 96; // px

/**
 * Run `create` (which builds a wavesurfer) with its shadow-root <style> moved to a constructed
 * stylesheet. wavesurfer writes `<style>…</style>` into the shadow root it makes, and the CSP
 * (style-src 'self', no inline styles) refuses that element; the same rules adopted as a
 * CSSStyleSheet are CSSOM, which the CSP allows — so the policy stays strict. Only innerHTML on a
 * ShadowRoot is touched, only during `create`, and the original setter is always put back.
 */
function withAdoptedStyles(create) {
  const own = Object.getOwnPropertyDescriptor(ShadowRoot.prototype, "innerHTML");
  if (!own?.set || typeof CSSStyleSheet !== "function" || !("adoptedStyleSheets" in ShadowRoot.prototype)) {
    return create();
  }
  Object.defineProperty(ShadowRoot.prototype, "innerHTML", {
    ...own,
    set(html) {
      const rules = [];
      const rest = String(html).replace(/<style[^>]*>([\s\S]*?)<\/style>/gi, (_, css) => {
        rules.push(css);
        return "";
      });
      own.set.call(this, rest);
      if (rules.length) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(rules.join("\n"));
        this.adoptedStyleSheets = [...this.adoptedStyleSheets, sheet];
      }
    },
  });
  try {
    return create();
  } finally {
    Object.defineProperty(ShadowRoot.prototype, "innerHTML", own);
  }
}

/** The colour of palette entry `i` (app.css --fl-c0…7) with `alpha`. */
function color(i, alpha) {
  const hex = getComputedStyle(document.documentElement).getPropertyValue(`--fl-c${i % COLORS}`).trim() || "#1f6feb";
  const n = parseInt(hex.replace("#", ""), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function seconds(t) {
  if (!Number.isFinite(t)) return "0:00.0";
  const m = Math.floor(t / 60);
  return `${m}:${(t - m * 60).toFixed(1).padStart(4, "0")}`;
}

let libraries = null;
function loadWavesurfer() {
  libraries ??= Promise.all([import(WAVESURFER_JS), import(REGIONS_JS)]);
  return libraries;
}

class Waveform {
  constructor(wrapper) {
    this.wrapper = wrapper;
    this.audio = objectContent(wrapper);
    this.play = el("button", "waveform-play", "Play");
    this.play.type = "button";
    this.play.disabled = true;
    this.time = el("span", "waveform-time muted", "loading the waveform…");
    this.container = el("div", "waveform");
    this.container.setAttribute("role", "application");
    this.container.setAttribute("aria-label", "Waveform: drag to mark a segment");
    this.box = el("div", "waveform-box", el("div", "waveform-bar", this.play, " ", this.time), this.container);
    wrapper.append(this.box);
    this.controls = [];
    this.colors = 0;
    this.active = null;
    this.owner = new Map(); // region id -> {control, label}
    this.selectedId = null;
    this.listeners = new Set();
    this.ws = null;
    this.regions = null;
    this.play.addEventListener("click", () => this.ws?.playPause());
    this.ready = this.load();
  }

  async load() {
    const [{ default: WaveSurfer }, { default: RegionsPlugin }] = await loadWavesurfer();
    if (this.destroyed) throw new Error("the task was left");
    const ws = withAdoptedStyles(() => WaveSurfer.create({
      container: this.container,
      media: this.audio,
      url: this.audio.currentSrc || this.audio.src,
      height: WAVE_HEIGHT,
      waveColor: "#8c959f",
      progressColor: "#1f6feb",
      cursorColor: "#cf222e",
      normalize: true,
      dragToSeek: false,
    }));
    const regions = ws.registerPlugin(RegionsPlugin.create());
    this.ws = ws;
    this.regions = regions;
    this.dragColor();
    regions.on("region-created", (region) => {
      if (!this.owner.has(region.id)) this.owner.set(region.id, this.active ? { ...this.active } : null);
      this.paint(region);
      this.changed(); // not selected: the next label key picks the next label, it does not relabel this one
    });
    regions.on("region-clicked", (region, event) => {
      event.stopPropagation(); // select, do not seek
      this.select(region.id);
    });
    regions.on("region-updated", () => this.changed());
    regions.on("region-removed", (region) => {
      this.owner.delete(region.id);
      if (this.selectedId === region.id) this.selectedId = null;
      this.changed();
    });
    const tick = () => { this.time.textContent = `${seconds(ws.getCurrentTime())} / ${seconds(ws.getDuration())}`; };
    ws.on("timeupdate", tick);
    ws.on("play", () => { this.play.textContent = "Pause"; });
    ws.on("pause", () => { this.play.textContent = "Play"; });
    await new Promise((resolve, reject) => {
      ws.on("ready", resolve);
      ws.on("error", (error) => reject(error instanceof Error ? error : new Error(String(error))));
    });
    this.play.disabled = false;
    this.audio.classList.add("waveform-native"); // the waveform's own button plays it now
    this.box.dataset.state = "ready";
    tick();
    return ws;
  }

  add(control) {
    const labels = control.choices.length ? control.choices : [null];
    this.controls.push({ name: control.name, labels, color: this.colors });
    this.colors += labels.length;
    this.active ??= { control: control.name, label: labels[0] };
    return this;
  }

  colorBase(control) {
    return this.controls.find((c) => c.name === control.name)?.color ?? 0;
  }

  colorIndex(owner) {
    const c = owner && this.controls.find((x) => x.name === owner.control);
    return c ? c.color + Math.max(0, c.labels.indexOf(owner.label)) : 0;
  }

  paint(region) {
    const owner = this.owner.get(region.id);
    const selected = region.id === this.selectedId;
    region.setOptions({ color: color(this.colorIndex(owner), selected ? 0.5 : 0.22), content: owner?.label ?? "" });
    region.element?.classList.toggle("selected", selected);
    region.element?.setAttribute("aria-selected", String(selected));
  }

  select(id) {
    const previous = this.selectedId;
    this.selectedId = id;
    for (const region of this.regions?.getRegions() ?? []) {
      if (region.id === id || region.id === previous) this.paint(region);
    }
    this.changed();
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    for (const fn of this.listeners) fn();
  }

  pick(name, label) {
    const selected = this.selectedOf(name);
    if (selected && label !== null) {
      this.owner.set(selected.id, { control: name, label });
      this.paint(selected.region);
    }
    this.active = { control: name, label };
    this.dragColor();
    this.changed();
  }

  /** Dragging on the waveform marks a segment in the picked label's colour. */
  dragColor() {
    if (!this.regions) return;
    this.stopDragging?.();
    this.stopDragging = this.regions.enableDragSelection({ color: color(this.colorIndex(this.active), 0.25) });
  }

  isActive(name, label) {
    return this.active?.control === name && this.active?.label === label;
  }

  /** Escape: deselect control `name`'s segment; true if one was selected. */
  escape(name) {
    if (!this.selectedOf(name)) return false;
    this.select(null);
    return true;
  }

  selectedOf(name) {
    const region = this.regions?.getRegions().find((r) => r.id === this.selectedId);
    return region && this.owner.get(region.id)?.control === name ? { id: region.id, region } : null;
  }

  removeSelected(name) {
    const selected = this.selectedOf(name);
    if (!selected) return false;
    selected.region.remove();
    return true;
  }

  segmentsOf(name) {
    if (!this.regions) return [];
    const duration = this.ws.getDuration() || Infinity;
    const last = Math.floor(duration * 1000) / 1000; // never past the file's end after rounding
    return this.regions.getRegions()
      .filter((r) => this.owner.get(r.id)?.control === name)
      .map((r) => ({
        start: round3(clamp(Math.min(r.start, r.end), 0, last)),
        end: Math.min(round3(clamp(Math.max(r.start, r.end), 0, last)), last),
        label: this.owner.get(r.id).label,
      }))
      .filter((s) => s.end > s.start);
  }

  countOf(name) {
    return this.segmentsOf(name).length;
  }

  destroy() {
    this.destroyed = true;
    this.listeners.clear();
    try {
      this.ws?.destroy();
    } finally {
      this.audio.classList.remove("waveform-native");
      this.box.remove();
    }
  }
}

export default {
  kind: "segments",
  keyed: true,
  mount(control, ctx) {
    const name = control.to_name.split(",")[0];
    const wave = ctx.shared(name, "waveform", () => new Waveform(ctx.objectElement(name)));
    wave.add(control);
    const row = labelRow(control, ctx, wave, {
      noun: "segment",
      plural: "segments",
      verb: "Mark segments",
      hint: "Pick a label, then drag along the waveform to mark a segment. Tap a segment to select it; "
        + "drag its edges to adjust; Delete removes it.",
    });
    row.box.dataset.state = "loading";
    const unsubscribe = wave.subscribe(() => { row.refresh(); ctx.onChange(); });
    row.refresh();
    wave.ready.then(
      () => { row.box.dataset.state = "ready"; row.refresh(); },
      (error) => {
        if (wave.destroyed) return;
        row.box.dataset.state = "failed";
        wave.time.textContent = "";
        row.status.textContent = `The waveform did not load (${error?.message ?? error}); use the player above or reload.`;
      },
    );
    const values = () => wave.segmentsOf(control.name).map((s) => ({
      start: s.start, end: s.end, channel: 0, ...(control.choices.length ? { labels: [s.label] } : {}),
    }));
    return {
      element: row.box,
      keyCount: row.keyCount,
      onKey: regionKeys(wave, control, row, ctx),
      result() {
        return values().map((value) => ({ value }));
      },
      missing() {
        if (row.box.dataset.state === "failed") return row.status.textContent;
        return control.required && !values().length ? `Mark at least one segment for ${control.name}.` : null;
      },
      destroy() {
        unsubscribe();
      },
    };
  },
};

export function show(control, value) {
  const segments = Array.isArray(value) ? value : [];
  if (!segments.length) return shown("regions segments empty", "(no segments)");
  const end = Math.max(...segments.map((s) => s.end), 1e-9);
  const track = el("span", "segment-track");
  track.setAttribute("aria-hidden", "true");
  const items = segments.map((s) => {
    const i = String(Math.max(0, control.choices.indexOf(s.label)) % COLORS);
    const bar = el("span", "segment-bar");
    bar.dataset.flColor = i;
    bar.style.left = `${(s.start / end) * 100}%`; // CSSOM, which the CSP allows (not a style attribute)
    bar.style.width = `${Math.max(((s.end - s.start) / end) * 100, 0.5)}%`;
    track.append(bar);
    const item = el("span", "region-item", `${s.label ?? "segment"} ${s.start.toFixed(1)}–${s.end.toFixed(1)} s`);
    item.dataset.flColor = i;
    return item;
  });
  return shown("regions segments", track, `${count(segments.length, "segment")}: `,
    ...items.flatMap((item, i) => [i ? ", " : "", item]));
}
