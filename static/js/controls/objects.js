// Rendering the objects a task shows: Text, HyperText, Paragraphs, Image, Audio.
//
// Each object is a wrapper <div class="task-object" data-object=name data-kind=kind> holding one
// content element marked [data-object-content] (what controls read text offsets from or draw on).
// Only HyperText is inserted as HTML, and only because the server has sanitized it (nh3) when the
// items were uploaded; every other value is set as text.

/** The wrapper element of `object` showing `value` (the task data's value for it). */
export function renderObject(object, value) {
  const wrapper = document.createElement("div");
  wrapper.className = `task-object task-object-${object.kind}`;
  wrapper.dataset.object = object.name;
  wrapper.dataset.kind = object.kind;
  const content = RENDER[object.kind]?.(object, value) ?? renderText(object, value);
  content.dataset.objectContent = "";
  wrapper.append(content);
  return wrapper;
}

/** The content element of a wrapper made by renderObject (the wrapper itself if there is none). */
export function objectContent(wrapper) {
  return wrapper?.querySelector("[data-object-content]") ?? wrapper ?? null;
}

/** The text that offsets into `object` count in: the string (Text), the HTML's text content (HyperText). */
export function objectText(object, value) {
  if (object.kind === "hypertext") return htmlText(value);
  if (object.kind === "paragraphs") return paragraphs(object, value).map((p) => p.text).join("\n");
  return value == null ? "" : String(value);
}

/** The text content of an HTML string, parsed inert (nothing runs, nothing loads). */
export function htmlText(html) {
  const template = document.createElement("template");
  template.innerHTML = html == null ? "" : String(html);
  return template.content.textContent;
}

function renderText(object, value) {
  const node = document.createElement("p");
  node.className = "task-text";
  node.textContent = value == null ? "" : String(value);
  return node;
}

function renderHyperText(object, value) {
  const node = document.createElement("div");
  node.className = "task-hypertext";
  // Sanitized by the server; a template parses it without running or loading anything until adopted.
  const template = document.createElement("template");
  template.innerHTML = value == null ? "" : String(value);
  node.append(template.content);
  return node;
}

function paragraphs(object, value) {
  const nameKey = object.options?.name_key ?? "author";
  const textKey = object.options?.text_key ?? "text";
  if (!Array.isArray(value)) return [];
  return value.map((p) => ({
    author: p && typeof p === "object" && p[nameKey] != null ? String(p[nameKey]) : "",
    text: p && typeof p === "object" && p[textKey] != null ? String(p[textKey]) : String(p ?? ""),
  }));
}

function renderParagraphs(object, value) {
  const node = document.createElement("div");
  node.className = "task-paragraphs";
  for (const { author, text } of paragraphs(object, value)) {
    const line = document.createElement("p");
    line.className = "paragraph";
    if (author) {
      const who = document.createElement("span");
      who.className = "author";
      who.textContent = author;
      line.append(who, " ");
    }
    const said = document.createElement("span");
    said.className = "said";
    said.textContent = text;
    line.append(said);
    node.append(line);
  }
  return node;
}

function renderImage(object, value) {
  const node = document.createElement("img");
  node.src = value == null ? "" : String(value);
  node.alt = `Image to label (${object.name})`;
  node.className = "task-image";
  node.draggable = false;
  return node;
}

function renderAudio(object, value) {
  const node = document.createElement("audio");
  node.controls = true;
  node.preload = "auto";
  node.src = value == null ? "" : String(value);
  node.className = "task-audio";
  return node;
}

const RENDER = {
  text: renderText,
  hypertext: renderHyperText,
  paragraphs: renderParagraphs,
  image: renderImage,
  audio: renderAudio,
};
