// The Preview panel of the job form and the draft job page (requester/_preview.html): the task as
// the labeling page shows it — rendered by the same task view (task-view.js), answerable, with
// the same keys — for the config being written and one row of the requester's own. The server
// checks the config and the row as creating the job and uploading would (POST /api/preview) and
// the answer as a real answer (POST /api/preview/answer); nothing is stored.
import { postJSON } from "./api.js";
import { createTaskView } from "./task-view.js";

const DEBOUNCE_MS = 400;

const panel = document.getElementById("preview");
const configField = panel.dataset.configField ? document.getElementById(panel.dataset.configField) : null;
const fixedConfig = document.getElementById("preview-config");
const rowField = document.getElementById("preview-row");
const rowError = document.getElementById("preview-row-error");
const fileField = document.getElementById("preview-file-field");
const fileInput = document.getElementById("preview-file");
const itemPicker = document.getElementById("preview-item");
const configError = document.getElementById("preview-config-error");
const answerError = document.getElementById("preview-error");
const checkButton = document.getElementById("preview-check");
const verdict = document.getElementById("preview-verdict");
const answerBox = document.getElementById("preview-answer");

let shown = null; // {body, spec} of the task on screen: what "Check answer" sends with the result
let shownKey = ""; // the request that produced it: the same config and row re-render nothing
let sequence = 0; // replies to superseded requests are dropped
let timer = null;
let file = null; // {url, kind} of the local file picked, shown from an object URL
let busy = false;

function say(box, message) {
  if (!box) return;
  box.textContent = message ?? "";
  box.hidden = !message;
}

function clearVerdict() {
  say(answerError, "");
  verdict.hidden = true;
  answerBox.textContent = "";
}

const view = createTaskView(document.getElementById("preview-task"), { onChange: clearVerdict });

function config() {
  if (configField) return configField.value;
  return fixedConfig ? JSON.parse(fixedConfig.textContent) : "";
}

/**
 * The Image and Audio objects of the config as written, [{kind, variable}]: what a local file can
 * fill. Read in the page (DOMParser builds an inert XML document) rather than from the server's
 * spec, so a file can complete a row that does not preview yet ({"image": ""} is refused).
 */
function mediaObjects() {
  const doc = new DOMParser().parseFromString(config(), "application/xml");
  if (doc.querySelector("parsererror")) return [];
  return [...doc.querySelectorAll("Image, Audio")]
    .map((tag) => ({ kind: tag.tagName.toLowerCase(), variable: (tag.getAttribute("value") ?? "").replace(/^\$/, "") }))
    .filter((o) => o.variable);
}

/** The request body naming the row, or {error} when the typed row is not JSON. */
function rowBody() {
  if (itemPicker) return { item_id: Number(itemPicker.value) };
  let data;
  try {
    data = JSON.parse(rowField.value || "{}");
  } catch (error) {
    return { error: `The row is not valid JSON: ${error.message}` };
  }
  if (file && data && typeof data === "object" && !Array.isArray(data)) {
    const target = mediaObjects().find((o) => o.kind === file.kind);
    if (target) data = { ...data, [target.variable]: file.url };
  }
  return { data };
}

function showNothing() {
  view.clear();
  shown = null;
  shownKey = "";
  checkButton.disabled = true;
  clearVerdict();
}

async function refresh() {
  if (fileField) fileField.hidden = mediaObjects().length === 0;
  const row = rowBody();
  // An uploaded item previews under its job's own config, as the labeling page would serve it.
  const body = itemPicker ? row : { label_config: config(), ...row };
  say(rowError, row.error);
  if (row.error) return;
  const key = JSON.stringify(body);
  if (key === shownKey) return;
  const mine = ++sequence;
  panel.dataset.state = "loading";
  const reply = await postJSON(panel.dataset.previewUrl, body);
  if (mine !== sequence) return;
  panel.dataset.state = "ready";
  say(configError, "");
  say(rowError, "");
  configField?.removeAttribute("aria-invalid");
  if (!reply.ok) {
    showNothing();
    if (reply.code === "invalid_config" || reply.details?.field === "label_config") {
      say(configError, reply.error);
      configField?.setAttribute("aria-invalid", "true");
    } else if (rowError) {
      say(rowError, reply.error);
    } else {
      say(configError, reply.error);
    }
    return;
  }
  shown = { body, spec: reply.data.spec };
  shownKey = key;
  clearVerdict();
  view.render(reply.data.spec, reply.data.task);
  checkButton.disabled = false;
}

function refreshSoon() {
  clearTimeout(timer);
  timer = setTimeout(refresh, DEBOUNCE_MS);
}

async function check() {
  if (!shown || busy) return;
  const answer = view.result();
  clearVerdict();
  if (answer.error) return say(answerError, answer.error);
  busy = true;
  const reply = await postJSON(panel.dataset.answerUrl, { ...shown.body, result: answer.regions });
  busy = false;
  if (!reply.ok) return say(answerError, reply.error);
  answerBox.textContent = JSON.stringify(reply.data.answer.choices, null, 2);
  verdict.hidden = false;
}

function pickFile() {
  if (file) URL.revokeObjectURL(file.url);
  file = null;
  const picked = fileInput.files?.[0];
  if (picked) {
    const kind = picked.type.startsWith("audio/") ? "audio" : "image";
    file = { url: URL.createObjectURL(picked), kind };
  }
  refresh();
}

configField?.addEventListener("input", refreshSoon);
rowField?.addEventListener("input", refreshSoon);
itemPicker?.addEventListener("change", refresh);
fileInput?.addEventListener("change", pickFile);
checkButton.addEventListener("click", check);
view.listenKeys({ submit: check, within: panel });

refresh();
