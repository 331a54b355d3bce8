// The labeling page: lay a task out in the config's order (headers, objects, controls), mount each
// control from the registry (static/js/controls/index.js), take keyboard input, submit Label Studio
// result JSON, and load the next task without reloading the page.
import { postJSON } from "./api.js";
import { KINDS } from "./controls/index.js";
import { renderObject } from "./controls/objects.js";

const root = document.getElementById("labeler");
const spec = JSON.parse(document.getElementById("label-spec").textContent);
const layoutBox = document.getElementById("task-object");
const loadingBox = document.getElementById("task-loading");
const form = document.getElementById("task-form");
const errorBox = document.getElementById("task-error");
const doneBox = document.getElementById("task-done");
const countBox = document.getElementById("task-count");
const submitButton = document.getElementById("submit-btn");

let task = null;
let busy = false;
let answered = 0;
let mounted = []; // {control, instance | null, error}, in layout order
let sharedValues = new Map();

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

/** The layout, with every object and control placed once even if the layout misses one. */
function fullLayout() {
  const layout = [...(spec.layout ?? [])];
  const placed = new Set(layout.filter((e) => e.type !== "header").map((e) => `${e.type}:${e.name}`));
  const objects = spec.objects.filter((o) => !placed.has(`object:${o.name}`)).map((o) => ({ type: "object", name: o.name }));
  const controls = spec.controls.filter((c) => !placed.has(`control:${c.name}`)).map((c) => ({ type: "control", name: c.name }));
  return [...objects, ...layout, ...controls];
}

/** Objects a Pairwise compares, grouped side by side: object name → [left, right]. */
function pairs() {
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

function clearTask() {
  for (const { instance } of mounted) {
    try {
      instance?.destroy();
    } catch (error) {
      console.warn("destroy failed", error);
    }
  }
  for (const value of sharedValues.values()) {
    try {
      value?.destroy?.();
    } catch (error) {
      console.warn("destroy failed", error);
    }
  }
  mounted = [];
  sharedValues = new Map();
  layoutBox.replaceChildren();
}

function render(next) {
  clearTask();
  task = next;
  showError("");
  const objects = new Map(spec.objects.map((o) => [o.name, renderObject(o, task.data?.[o.variable])]));
  const grouped = pairs();
  const placedGroups = new Set();
  const slots = []; // [control, slot element]
  for (const entry of fullLayout()) {
    if (entry.type === "header") {
      const header = document.createElement("h2");
      header.className = "task-header";
      header.textContent = entry.text;
      layoutBox.append(header);
    } else if (entry.type === "object" && objects.has(entry.name)) {
      const sides = grouped.get(entry.name);
      if (!sides) {
        layoutBox.append(objects.get(entry.name));
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
      layoutBox.append(pair);
    } else if (entry.type === "control") {
      const control = spec.controls.find((c) => c.name === entry.name);
      if (!control) continue;
      const slot = document.createElement("div");
      slot.className = "control-slot";
      slot.dataset.control = control.name;
      layoutBox.append(slot);
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
      onChange: () => showError(""),
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
  loadingBox.hidden = true;
  form.hidden = false;
  doneBox.hidden = true;
  root.dataset.taskId = String(task.id);
  submitButton.focus({ preventScroll: true });
}

function finish(message) {
  clearTask();
  task = null;
  loadingBox.hidden = true;
  form.hidden = true;
  doneBox.textContent = message;
  doneBox.hidden = false;
  root.dataset.taskId = "";
}

async function loadNext() {
  const reply = await postJSON(root.dataset.nextUrl);
  if (!reply.ok) return finish(reply.error);
  if (!reply.data.task) return finish(reply.data.message);
  render(reply.data.task);
}

/** The Label Studio result of every control, in config order, or {error}. */
function result() {
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

async function submit() {
  if (!task || busy) return;
  const answer = result();
  if (answer.error) return showError(answer.error);
  busy = true;
  const reply = await postJSON(task.answer_url, { result: answer.regions });
  busy = false;
  if (!reply.ok) return showError(reply.error);
  answered += 1;
  countBox.textContent = `${answered} answered in this session.`;
  await loadNext();
}

async function skip() {
  if (!task || busy) return;
  busy = true;
  const reply = await postJSON(task.skip_url);
  busy = false;
  if (!reply.ok) return showError(reply.error);
  await loadNext();
}

/** Focus is where typing goes: keys are the text's, not shortcuts. */
function typingIn(target) {
  return target instanceof HTMLElement && (target.isContentEditable
    || target.matches("textarea, select, input:not([type=radio], [type=checkbox], [type=button], [type=submit], [type=reset])"));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
document.getElementById("skip-btn").addEventListener("click", skip);
document.addEventListener("keydown", (event) => {
  if (!task || event.defaultPrevented || event.isComposing) return;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey) {
    event.preventDefault(); // Ctrl+Enter submits from anywhere, a text box too
    submit();
    return;
  }
  if (event.altKey || event.ctrlKey || event.metaKey || typingIn(event.target)) return;
  if (event.key === "Enter") {
    // A focused button, link or summary does what it does (the submit button submits).
    if (event.target instanceof Element && event.target.closest("button, a[href], summary, [role=button]")) return;
    event.preventDefault();
    submit();
  } else if (/^[1-9]$/.test(event.key) || ["Delete", "Backspace", "Escape"].includes(event.key)) {
    const digit = /^[1-9]$/.test(event.key);
    for (const { instance, keyed } of mounted) {
      if (!instance || (digit && !keyed)) continue;
      if (instance.onKey(event)) {
        event.preventDefault();
        return;
      }
    }
  } else if (event.key === "s" || event.key === "S") {
    event.preventDefault();
    skip();
  }
});

loadNext();
