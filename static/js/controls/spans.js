// Labels on Text / HyperText: tag spans of the text with the browser's Selection API.
//
// Select text (mouse drag, double click, or touch selection on a phone), then press a label's number
// key or click / tap its button. Or pick a label first: each selection made with the mouse is then
// tagged at once. Spans are painted with the CSS Custom Highlight API, so the text's DOM is never
// changed (HyperText offsets stay those of its text content). Click or tap a span (in the text or in
// the list under the labels) to select it; Delete / Backspace or its × button removes it.
//
// Offsets sent are Unicode code points into the element's textContent (the server's convention); the
// DOM counts UTF-16 units, so every boundary is converted.
import { el, fieldset, keyHint, keyIndex, keysLeft, shown } from "./common.js";
import { objectContent, objectText } from "./objects.js";

const COLORS = 8; // label colours cycle through .span-color-0 … -7 and ::highlight(fl-label-0 … -7)

function highlight(name, priority = 0) {
  if (!globalThis.CSS?.highlights || typeof Highlight === "undefined") return null;
  let h = CSS.highlights.get(name);
  if (!h) {
    h = new Highlight();
    h.priority = priority;
    CSS.highlights.set(name, h);
  }
  return h;
}

/** Code-point ↔ UTF-16 ↔ DOM position conversions for the text of `root`. */
function textMap(root) {
  const full = root.textContent;
  const u16At = [0]; // u16At[cp] = UTF-16 offset of code point cp
  for (const ch of full) u16At.push(u16At[u16At.length - 1] + ch.length);
  const cpCount = u16At.length - 1;

  function cpFromU16(u16) {
    // the first code point boundary at or after u16 (a boundary inside a surrogate pair moves on)
    let lo = 0, hi = cpCount;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (u16At[mid] < u16) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function u16Of(node, offset) {
    const range = document.createRange();
    range.setStart(root, 0);
    range.setEnd(node, offset);
    return range.toString().length;
  }

  function domAt(u16) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let seen = 0;
    let last = null;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const length = node.data.length;
      if (u16 <= seen + length) return [node, u16 - seen];
      seen += length;
      last = node;
    }
    return last ? [last, last.data.length] : [root, 0];
  }

  function rangeOf(start, end) {
    const range = document.createRange();
    const [startNode, startOffset] = domAt(u16At[start]);
    const [endNode, endOffset] = domAt(u16At[end]);
    range.setStart(startNode, startOffset);
    range.setEnd(endNode, endOffset);
    return range;
  }

  function textOf(start, end) {
    return full.slice(u16At[start], u16At[end]);
  }

  /** The code-point offsets of `range` clipped to root, whitespace trimmed, or null if empty. */
  function fromRange(range) {
    const inside = document.createRange();
    inside.selectNodeContents(root);
    if (range.compareBoundaryPoints(Range.END_TO_START, inside) >= 0) return null; // starts after root
    if (range.compareBoundaryPoints(Range.START_TO_END, inside) <= 0) return null; // ends before root
    const startU16 = range.compareBoundaryPoints(Range.START_TO_START, inside) <= 0
      ? 0 : u16Of(range.startContainer, range.startOffset);
    const endU16 = range.compareBoundaryPoints(Range.END_TO_END, inside) >= 0
      ? full.length : u16Of(range.endContainer, range.endOffset);
    let start = cpFromU16(startU16);
    let end = cpFromU16(endU16);
    while (start < end && /\s/u.test(textOf(start, start + 1))) start += 1;
    while (end > start && /\s/u.test(textOf(end - 1, end))) end -= 1;
    return start < end ? { start, end } : null;
  }

  /** The code-point offset at a viewport point, or null when the point is not on root's text. */
  function atPoint(x, y) {
    let node = null, offset = 0;
    if (document.caretPositionFromPoint) {
      const pos = document.caretPositionFromPoint(x, y);
      if (pos) ({ offsetNode: node, offset } = pos);
    } else if (document.caretRangeFromPoint) {
      const r = document.caretRangeFromPoint(x, y);
      if (r) ({ startContainer: node, startOffset: offset } = r);
    }
    if (!node || !root.contains(node)) return null;
    return cpFromU16(u16Of(node, offset));
  }

  return { full, cpCount, rangeOf, textOf, fromRange, atPoint };
}

export default {
  kind: "spans",
  keyed: true,
  mount(control, ctx) {
    const objectName = String(control.to_name).split(",")[0];
    const wrapper = ctx.objectElement(objectName);
    const root = objectContent(wrapper);
    if (!root) throw new Error(`no object named ${objectName} to label`);
    root.classList.add("spans-target");
    const map = textMap(root);
    const labels = control.choices ?? [];
    const keyCount = keysLeft(ctx.keyOffset, labels.length);

    const box = fieldset("spans", control, `${control.name}: select text, then pick a label`);
    const buttons = labels.map((label, i) => {
      const button = el("button", `label-btn span-color-${i % COLORS}`);
      button.type = "button";
      button.dataset.label = label;
      button.setAttribute("aria-pressed", "false");
      const hint = i < keyCount ? keyHint(ctx.keyOffset + i) : null;
      button.append(...(hint ? [hint, " "] : []), label);
      // Keep the text selection (and focus) where it is when the button is pressed.
      button.addEventListener("mousedown", (event) => event.preventDefault());
      button.addEventListener("click", () => useLabel(i));
      return button;
    });
    const hint = el("p", "muted span-hint", "");
    hint.setAttribute("aria-live", "polite");
    const list = el("ul", "span-list");
    box.append(el("div", "label-buttons", ...buttons), hint, list);

    const spans = []; // {start, end, label, range}
    let pending = null; // {start, end}: the selection waiting for a label
    let active = null; // index of the label picked before selecting
    let selected = null; // the span selected for removal
    const marks = labels.map((_, i) => highlight(`fl-label-${i % COLORS}`));
    const pendingMark = highlight("fl-pending", 1);
    const selectedMark = highlight("fl-selected", 2);
    let pendingRange = null;
    let selectedRange = null;

    function paint() {
      if (pendingRange) pendingMark?.delete(pendingRange);
      pendingRange = pending ? map.rangeOf(pending.start, pending.end) : null;
      if (pendingRange) pendingMark?.add(pendingRange);
      if (selectedRange) selectedMark?.delete(selectedRange);
      selectedRange = selected ? selected.range : null;
      if (selectedRange) selectedMark?.add(selectedRange);
      buttons.forEach((b, i) => b.setAttribute("aria-pressed", String(i === active)));
      if (pending) {
        hint.textContent = `Selected “${clip(map.textOf(pending.start, pending.end))}”: choose a label.`;
      } else if (active !== null) {
        hint.textContent = `Tagging with ${labels[active]}: select text to tag it.`;
      } else if (selected) {
        hint.textContent = `${selected.label} “${clip(map.textOf(selected.start, selected.end))}” selected: `
          + "Delete removes it.";
      } else {
        hint.textContent = spans.length ? "" : "Select text, then press a label key or tap a label.";
      }
      list.replaceChildren(...spans.map((span) => {
        const index = labels.indexOf(span.label);
        const chip = el("button", `span-chip span-color-${index % COLORS}`,
          el("span", "span-chip-label", span.label), " ", `“${clip(map.textOf(span.start, span.end))}”`);
        chip.type = "button";
        chip.setAttribute("aria-pressed", String(span === selected));
        chip.addEventListener("click", () => select(span === selected ? null : span));
        const remove = el("button", "span-remove", "×");
        remove.type = "button";
        remove.setAttribute("aria-label", `Remove ${span.label} “${map.textOf(span.start, span.end)}”`);
        remove.addEventListener("click", () => removeSpan(span));
        const item = el("li", "", chip, remove);
        item.dataset.start = String(span.start);
        item.dataset.end = String(span.end);
        item.dataset.label = span.label;
        return item;
      }));
    }

    function select(span) {
      selected = span;
      paint();
    }

    function addSpan(start, end, label) {
      if (!spans.some((s) => s.start === start && s.end === end && s.label === label)) {
        const span = { start, end, label, range: map.rangeOf(start, end) };
        spans.push(span);
        spans.sort((a, b) => a.start - b.start || a.end - b.end || a.label.localeCompare(b.label));
        marks[labels.indexOf(label)]?.add(span.range);
      }
      ctx.onChange();
    }

    function removeSpan(span) {
      const i = spans.indexOf(span);
      if (i < 0) return;
      spans.splice(i, 1);
      marks[labels.indexOf(span.label)]?.delete(span.range);
      if (selected === span) selected = null;
      ctx.onChange();
      paint();
    }

    function clearDomSelection() {
      const selection = document.getSelection();
      if (selection && selection.rangeCount && map.fromRange(selection.getRangeAt(0))) selection.removeAllRanges();
    }

    function useLabel(i) {
      if (pending) {
        addSpan(pending.start, pending.end, labels[i]);
        pending = null;
        clearDomSelection();
      } else {
        active = active === i ? null : i;
      }
      selected = null;
      paint();
    }

    function currentSelection() {
      const selection = document.getSelection();
      if (!selection || !selection.rangeCount || selection.isCollapsed) return null;
      return map.fromRange(selection.getRangeAt(0));
    }

    // A new selection in the text waits for a label; one that collapses elsewhere (a tap on a label
    // button) keeps the last one, so a phone's touch selection survives tapping the button.
    function onSelectionChange() {
      const offsets = currentSelection();
      if (offsets && (offsets.start !== pending?.start || offsets.end !== pending?.end)) {
        pending = offsets;
        selected = null;
        paint();
      }
    }

    function onPointerUp(event) {
      const { clientX, clientY, pointerType } = event;
      setTimeout(() => { // the selection settles after the pointer event
        const offsets = currentSelection();
        if (offsets) {
          pending = offsets;
          // A label picked first tags each mouse selection at once (and stays picked); on touch the
          // selection handles may still move, so a tap on a label button confirms it.
          if (active !== null && pointerType === "mouse") useLabel(active);
          else paint();
          return;
        }
        const at = map.atPoint(clientX, clientY);
        if (at === null) return;
        pending = null;
        const hits = spans.filter((s) => s.start <= at && at < s.end);
        hits.sort((a, b) => (a.end - a.start) - (b.end - b.start));
        select(hits.length ? (hits.includes(selected) && hits.length > 1
          ? hits[(hits.indexOf(selected) + 1) % hits.length] : hits[0]) : null);
      }, 0);
    }

    document.addEventListener("selectionchange", onSelectionChange);
    root.addEventListener("pointerup", onPointerUp);
    paint();

    return {
      element: box,
      keyCount,
      onKey(event) {
        if (event.key === "Delete" || event.key === "Backspace") {
          if (!selected) return false;
          removeSpan(selected);
          return true;
        }
        if (event.key === "Escape") {
          if (!pending && active === null && !selected) return false;
          pending = null;
          active = null;
          selected = null;
          paint();
          return true;
        }
        const i = keyIndex(event, ctx.keyOffset, keyCount);
        if (i < 0) return false;
        if (!pending) onSelectionChange(); // a selection made with the keyboard (caret browsing)
        useLabel(i);
        return true;
      },
      result() {
        return spans.map((s) => ({
          value: { start: s.start, end: s.end, text: map.textOf(s.start, s.end), labels: [s.label] },
        }));
      },
      missing() {
        return control.required && !spans.length ? `Mark at least one span for ${control.name} first.` : null;
      },
      destroy() {
        document.removeEventListener("selectionchange", onSelectionChange);
        root.removeEventListener("pointerup", onPointerUp);
        for (const span of spans) marks[labels.indexOf(span.label)]?.delete(span.range);
        if (pendingRange) pendingMark?.delete(pendingRange);
        if (selectedRange) selectedMark?.delete(selectedRange);
      },
    };
  },
};

function clip(text, limit = 60) {
  const chars = Array.from(text);
  return chars.length <= limit ? text : `${chars.slice(0, limit - 1).join("")}…`;
}

/** Normalized spans [{start, end, label}] over the object's text, marked read-only. */
export function show(control, value, ctx) {
  const spans = Array.isArray(value) ? value : [];
  const objectName = String(control.to_name).split(",")[0];
  const object = ctx.spec?.objects?.find((o) => o.name === objectName);
  const text = Array.from(object ? objectText(object, ctx.objectValue(objectName)) : "");
  const labels = control.choices ?? [];
  const node = el("div", "shown spans-shown");
  if (!spans.length) {
    node.append(el("span", "empty", "(no spans)"));
    return node;
  }
  const cuts = [...new Set([0, text.length, ...spans.flatMap((s) => [s.start, s.end])])]
    .filter((c) => c >= 0 && c <= text.length).sort((a, b) => a - b);
  const body = el("p", "task-text");
  for (let i = 0; i + 1 < cuts.length; i += 1) {
    const [a, b] = [cuts[i], cuts[i + 1]];
    const piece = text.slice(a, b).join("");
    const covering = spans.filter((s) => s.start <= a && b <= s.end);
    if (!covering.length) {
      body.append(piece);
      continue;
    }
    const mark = el("mark", `span-color-${Math.max(0, labels.indexOf(covering[0].label)) % COLORS}`, piece);
    mark.title = covering.map((s) => s.label ?? "span").join(", ");
    body.append(mark);
  }
  const list = el("ul", "span-list shown-list", ...spans.map((s) => el("li", "",
    el("span", `span-chip-label span-color-${Math.max(0, labels.indexOf(s.label)) % COLORS}`, s.label ?? "span"),
    ` “${text.slice(s.start, s.end).join("")}” (${s.start}–${s.end})`)));
  node.append(body, list);
  return node;
}
