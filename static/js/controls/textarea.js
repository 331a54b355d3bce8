// TextArea: free text (a transcription on audio, a comment elsewhere). Enter inserts a newline;
// Ctrl+Enter submits (handled by the page).
import { el, fieldset, shown, uniqueId } from "./common.js";

export default {
  kind: "textarea",
  keyed: false,
  mount(control, ctx) {
    const options = control.options ?? {};
    const id = uniqueId("textarea");
    const box = el("div", "control field textarea-control");
    box.dataset.control = control.name;
    const label = el("label", "", control.name, control.required ? "" : el("span", "muted", " (optional)"));
    label.htmlFor = id;
    const area = el("textarea");
    area.id = id;
    area.name = control.name;
    area.rows = Math.max(1, Math.min(Number(options.rows) || 3, 20));
    if (options.max_chars) area.maxLength = Number(options.max_chars);
    if (options.placeholder) area.placeholder = String(options.placeholder);
    area.addEventListener("input", () => ctx.onChange());
    const hint = el("span", "muted hint", "Ctrl+Enter submits.");
    box.append(label, area, hint);
    return {
      element: box,
      keyCount: 0,
      onKey: () => false,
      result() {
        const text = area.value.trim();
        if (!text && !control.required) return [];
        return [{ value: { text: [area.value] } }];
      },
      missing() {
        return control.required && !area.value.trim() ? `Write something in ${control.name} first.` : null;
      },
      destroy() {},
    };
  },
};

export function show(control, value) {
  const text = value == null ? "" : String(value);
  if (!text) return shown("textarea empty", "(empty)");
  const node = shown("textarea", text);
  node.classList.add("pre");
  return node;
}
