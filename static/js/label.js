// The labeling page: show a task through the shared task view (task-view.js: layout, controls from
// the registry, result JSON, keyboard), submit the answer, and load the next task without
// reloading the page.
import { postJSON } from "./api.js";
import { createTaskView } from "./task-view.js";

const root = document.getElementById("labeler");
const spec = JSON.parse(document.getElementById("label-spec").textContent);
const loadingBox = document.getElementById("task-loading");
const form = document.getElementById("task-form");
const errorBox = document.getElementById("task-error");
const doneBox = document.getElementById("task-done");
const countBox = document.getElementById("task-count");
const submitButton = document.getElementById("submit-btn");

let task = null;
let busy = false;
let answered = 0;

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

const view = createTaskView(document.getElementById("task-object"), { onChange: () => showError("") });

function render(next) {
  task = next;
  showError("");
  view.render(spec, task);
  loadingBox.hidden = true;
  form.hidden = false;
  doneBox.hidden = true;
  root.dataset.taskId = String(task.id);
  submitButton.focus({ preventScroll: true });
}

function finish(message) {
  view.clear();
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

async function submit() {
  if (!task || busy) return;
  const answer = view.result();
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

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
document.getElementById("skip-btn").addEventListener("click", skip);
view.listenKeys({ submit, skip });

loadNext();
