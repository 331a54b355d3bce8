// The labeling page: render a task (Text / Image / Audio with Choices), take keyboard input,
// submit in Label Studio's result shape, and load the next task without reloading the page.
import { postJSON } from "./api.js";

const root = document.getElementById("labeler");
const spec = JSON.parse(document.getElementById("label-spec").textContent);
const objectBox = document.getElementById("task-object");
const controlBox = document.getElementById("task-controls");
const form = document.getElementById("task-form");
const errorBox = document.getElementById("task-error");
const doneBox = document.getElementById("task-done");
const countBox = document.getElementById("task-count");
const submitButton = document.getElementById("submit-btn");

let task = null;
let busy = false;
let answered = 0;
const inputs = []; // every choice input in key order: 1 → inputs[0]

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function renderObject(object, data) {
  const value = data[object.variable];
  let node;
  if (object.kind === "image") {
    node = document.createElement("img");
    node.src = value;
    node.alt = `Image to label (${object.name})`;
    node.className = "task-image";
  } else if (object.kind === "audio") {
    node = document.createElement("audio");
    node.controls = true;
    node.preload = "auto";
    node.src = value;
    node.className = "task-audio";
  } else {
    node = document.createElement("p");
    node.className = "task-text";
    node.textContent = String(value ?? "");
  }
  node.dataset.object = object.name;
  return node;
}

function renderControls() {
  controlBox.replaceChildren();
  inputs.length = 0;
  for (const control of spec.controls) {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "choices";
    fieldset.dataset.control = control.name;
    const legend = document.createElement("legend");
    legend.textContent = control.multiple ? `${control.name} (choose any)` : control.name;
    fieldset.append(legend);
    for (const choice of control.choices) {
      const input = document.createElement("input");
      input.type = control.multiple ? "checkbox" : "radio";
      input.name = control.name;
      input.value = choice;
      const label = document.createElement("label");
      label.className = "choice";
      const key = inputs.length < 9 ? `${inputs.length + 1}` : "";
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      label.append(input, " ", ...(key ? [kbd, " "] : []), choice);
      inputs.push(input);
      fieldset.append(label);
    }
    controlBox.append(fieldset);
  }
}

function render(next) {
  task = next;
  showError("");
  objectBox.replaceChildren(...spec.objects.map((o) => renderObject(o, task.data)));
  renderControls();
  form.hidden = false;
  doneBox.hidden = true;
  root.dataset.taskId = String(task.id);
  submitButton.focus({ preventScroll: true });
}

function finish(message) {
  task = null;
  objectBox.replaceChildren();
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

function result() {
  return spec.controls.map((control) => ({
    from_name: control.name,
    to_name: control.to_name,
    type: "choices",
    value: {
      choices: [...controlBox.querySelectorAll(`input[name="${CSS.escape(control.name)}"]:checked`)].map((i) => i.value),
    },
  }));
}

async function submit() {
  if (!task || busy) return;
  const answer = result();
  const empty = answer.find((r) => r.value.choices.length === 0);
  if (empty) return showError(`Choose an option for ${empty.from_name} first.`);
  busy = true;
  const reply = await postJSON(task.answer_url, { result: answer });
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

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
document.getElementById("skip-btn").addEventListener("click", skip);
document.addEventListener("keydown", (event) => {
  if (!task || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target instanceof HTMLElement && event.target.matches("textarea, input[type=text]")) return;
  if (/^[1-9]$/.test(event.key)) {
    const input = inputs[Number(event.key) - 1];
    if (!input) return;
    input.checked = input.type === "checkbox" ? !input.checked : true;
    event.preventDefault();
  } else if (event.key === "Enter") {
    event.preventDefault();
    submit();
  } else if (event.key === "s" || event.key === "S") {
    event.preventDefault();
    skip();
  }
});

loadNext();
