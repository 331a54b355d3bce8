// One task, rendered as an annotator sees it: the layout in the config's order (headers, objects,
// controls), every control mounted from the registry (static/js/controls/index.js), its Label
// Studio result, and the page's keyboard shortcuts. The labeling page (label.js) and the job
// form's preview (preview.js) both render through this module, so what a requester previews is
// what an annotator gets — one implementation, not a copy that drifts.
import { KINDS } from "./controls/index.js";
import { renderObject } from "./controls/objects.js";

/** The layout, with every object and control placed once even if the layout misses one. */
function fullLayout(spec) {
  const layout = [...(spec.layout ?? [])];
  const placed = new Set(layout.filter((e) => e.type !== "header").map((e) => `${e.type}:${e.name}`));
  const objects = spec.objects.filter((o) => !placed.has(`object:${o.name}`)).map((o) => ({ type: "object", name: o.name }));
  const controls = spec.controls.filter((c) => !placed.has(`control:${c.name}`)).map((c) => ({ type: "control", name: c.name }));
  return [...objects, ...layout, ...controls];
}

/** Objects a Pairwise compares, grouped side by side: object name → [left, right]. */
function pairs(spec) {
  const byObject = new Map();
  const names = new Set(spec.objects.map((o) => o.name));
  for (const control of spec.controls) {
    if (control.kind !== "pairwise") continue;
    const sides = String(control.to_name).split(",");
    if (sides.length !== 2 || !sides.every((n) => names.has(n)) || sides.some((n) => byObject.has(n))) continue;
    for (const name of sides) byObject.set(name, sides);
  }
  return byObject;
}

function destroyQuietly(thing) {
  try {
    thing?.destroy?.();
  } catch (error) {
    console.warn("destroy failed", error);
  }
}

/** Focus is where typing goes: keys are the text's, not shortcuts. */
export function typingIn(target) {
  return target instanceof HTMLElement && (target.isContentEditable
    || target.matches("textarea, select, input:not([type=radio], [type=checkbox], [type=button], [type=submit], [type=reset])"));
}

/**
 * A task view drawing into `box` (emptied on each render).
 * onChange() is called after any change of the answer (the page clears its error line).
 */
export function createTaskView(box, { onChange = () => {} } = {}) {
  let spec = null;
  let task = null;
  let mounted = []; // {control, instance | null, keyed, error}, in layout order
  let sharedValues = new Map();

  function clear() {
    for (const { instance } of mounted) destroyQuietly(instance);
    for (const value of sharedValues.values()) destroyQuietly(value);
    mounted = [];
    sharedValues = new Map();
    box.replaceChildren();
    task = null;
  }

  /** Show `next` (the task JSON: {data, ...}) under `nextSpec` (LabelSpec.to_json()). */
  function render(nextSpec, next) {
    clear();
    spec = nextSpec;
    task = next;
    const objects = new Map(spec.objects.map((o) => [o.name, renderObject(o, task.data?.[o.variable])]));
    const grouped = pairs(spec);
    const placedGroups = new Set();
    const slots = []; // [control, slot element]
    for (const entry of fullLayout(spec)) {
      if (entry.type === "header") {
        const header = document.createElement("h2");
        header.className = "task-header";
        header.textContent = entry.text;
        box.append(header);
      } else if (entry.type === "object" && objects.has(entry.name)) {
        const sides = grouped.get(entry.name);
        if (!sides) {
          box.append(objects.get(entry.name));
          continue;
        }
        if (placedGroups.has(sides)) continue;
        placedGroups.add(sides);
        const pair = document.createElement("div");
        pair.className = "pair";
        sides.forEach((name, i) => {
          const side = document.createElement("div");
          side.className = "pair-side";
          const caption = document.createElement("p");
          caption.className = "pair-caption muted";
          caption.textContent = i === 0 ? "Left" : "Right";
          side.append(caption, objects.get(name));
          pair.append(side);
        });
        box.append(pair);
      } else if (entry.type === "control") {
        const control = spec.controls.find((c) => c.name === entry.name);
        if (!control) continue;
        const slot = document.createElement("div");
        slot.className = "control-slot";
        slot.dataset.control = control.name;
        box.append(slot);
        slots.push([control, slot]);
      }
    }
    // Mount once everything is in the document (a drawing tool measures its image).
    let keyOffset = 1;
    for (const [control, slot] of slots) {
      const module = KINDS[control.kind];
      const ctx = {
        task,
        spec,
        keyOffset,
        objectElement: (name) => objects.get(name) ?? null,
        objectValue: (name) => {
          const object = spec.objects.find((o) => o.name === name);
          return object ? task.data?.[object.variable] : undefined;
        },
        shared(objectName, key, factory) {
          const id = `${objectName}\u0000${key}`;
          if (!sharedValues.has(id)) sharedValues.set(id, factory());
          return sharedValues.get(id);
        },
        onChange: () => onChange(),
      };
      try {
        if (!module) throw new Error(`${control.name}: the control kind "${control.kind}" is not known to this page.`);
        const instance = module.mount(control, ctx);
        if (instance.element) slot.append(instance.element);
        if (module.keyed) keyOffset += instance.keyCount ?? 0;
        mounted.push({ control, instance, keyed: Boolean(module.keyed), error: null });
      } catch (error) {
        const message = document.createElement("p");
        message.className = "error";
        message.textContent = error?.message || String(error);
        slot.append(message);
        mounted.push({ control, instance: null, keyed: false, error: message.textContent });
      }
    }
  }

  /** The Label Studio result of every control, in config order, or {error}. */
  function result() {
    if (!spec || !task) return { error: "There is no task to answer." };
    const regions = [];
    for (const control of spec.controls) {
      const entry = mounted.find((m) => m.control === control);
      if (!entry || entry.error) {
        return { error: `${control.name} cannot be answered on this page: ${entry?.error ?? "not shown"}` };
      }
      const missing = entry.instance.missing();
      if (missing) return { error: missing };
      for (const region of entry.instance.result()) {
        regions.push({
          ...(region.id ? { id: region.id } : {}),
          from_name: control.name,
          to_name: control.to_name,
          type: control.result_type,
          value: region.value,
        });
      }
    }
    return { regions };
  }

  /** Offer a number key or Delete/Backspace/Escape to the controls; true when one took it. */
  function offerKey(event) {
    const digit = /^[1-9]$/.test(event.key);
    for (const { instance, keyed } of mounted) {
      if (!instance || (digit && !keyed)) continue;
      if (instance.onKey(event)) return true;
    }
    return false;
  }

  /**
   * The annotator's shortcuts, on the document: Enter (Ctrl+Enter from a text box too) calls
   * submit(), S calls skip() when given, 1–9 and Delete/Backspace/Escape go to the controls.
   * With `within`, only keys pressed with focus inside that element (or nowhere in particular)
   * count: the preview shares its page with a form whose fields are not the task's.
   * Returns a function that removes the listener.
   */
  function listenKeys({ submit, skip = null, within = null }) {
    function onKeydown(event) {
      if (!task || event.defaultPrevented || event.isComposing) return;
      const target = event.target;
      if (within && !(target === document.body || (target instanceof Node && within.contains(target)))) return;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey) {
        event.preventDefault(); // Ctrl+Enter submits from anywhere, a text box too
        submit();
        return;
      }
      if (event.altKey || event.ctrlKey || event.metaKey || typingIn(target)) return;
      if (event.key === "Enter") {
        // A focused button, link or summary does what it does (the submit button submits).
        if (target instanceof Element && target.closest("button, a[href], summary, [role=button]")) return;
        event.preventDefault();
        submit();
      } else if (/^[1-9]$/.test(event.key) || ["Delete", "Backspace", "Escape"].includes(event.key)) {
        if (offerKey(event)) event.preventDefault();
      } else if (skip && (event.key === "s" || event.key === "S")) {
        event.preventDefault();
        skip();
      }
    }
    document.addEventListener("keydown", onKeydown);
    return () => document.removeEventListener("keydown", onKeydown);
  }

  return {
    render,
    clear,
    result,
    listenKeys,
    get task() {
      return task;
    },
  };
}
