// The requester's results: each element [data-decision] holds one decided control's normalized value
// as JSON {"control": name, "value": …, "item": {…the item's data…}}; the spec is in
// <script type="application/json" id="results-spec">. Each value is drawn read-only by its kind's
// `show` from the control registry; without one (or if it fails) the server's own text stays.
import { SHOW } from "./controls/index.js";
import { renderObject } from "./controls/objects.js";

function readJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const specNode = document.getElementById("results-spec");
const pageSpec = specNode ? readJSON(specNode.textContent) : null;

/** The item's data: the job page puts it under "item" (the data itself, as stored); "data" also works. */
function itemData(decision) {
  for (const data of [decision.item, decision.data]) {
    if (data && typeof data === "object" && !Array.isArray(data)) return data;
  }
  return {};
}

function renderDecision(node) {
  const decision = readJSON(node.dataset.decision);
  if (!decision || typeof decision !== "object") return;
  const spec = decision.spec ?? pageSpec;
  const control = spec?.controls?.find((c) => c.name === decision.control);
  const show = control && SHOW[control.kind];
  if (!show) return;
  const data = itemData(decision);
  const objects = new Map();
  const ctx = {
    spec,
    data,
    objectValue(name) {
      const object = spec.objects?.find((o) => o.name === name);
      return object ? data[object.variable] : undefined;
    },
    objectElement(name) {
      if (!objects.has(name)) {
        const object = spec.objects?.find((o) => o.name === name);
        objects.set(name, object ? renderObject(object, data[object.variable]) : null);
      }
      return objects.get(name);
    },
  };
  try {
    const shown = show(control, decision.value, ctx);
    if (shown) {
      node.replaceChildren(shown);
      node.dataset.rendered = control.kind;
    }
  } catch (error) {
    console.warn(`could not show ${decision.control}`, error);
  }
}

for (const node of document.querySelectorAll("[data-decision]")) renderDecision(node);
