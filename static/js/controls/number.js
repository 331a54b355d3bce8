// Number: an <input type=number> with the config's min, max and step.
import { el, shown, uniqueId } from "./common.js";

const LIMIT = 1e15; // the server's bound when the config sets none

export default {
  kind: "number",
  keyed: false,
  mount(control, ctx) {
    const options = control.options ?? {};
    const id = uniqueId("number");
    const box = el("div", "control field number-control");
    box.dataset.control = control.name;
    const label = el("label", "", control.name, control.required ? "" : el("span", "muted", " (optional)"));
    label.htmlFor = id;
    const input = el("input");
    input.type = "number";
    input.id = id;
    input.name = control.name;
    input.inputMode = "decimal";
    const low = options.min ?? -LIMIT;
    const high = options.max ?? LIMIT;
    if (low > -LIMIT) input.min = String(low);
    if (high < LIMIT) input.max = String(high);
    input.step = options.step ? String(options.step) : "any";
    input.addEventListener("input", () => ctx.onChange());
    const range = low > -LIMIT && high < LIMIT ? el("span", "muted hint", `${low} to ${high}`) : null;
    box.append(label, input, range);
    const value = () => (input.value.trim() === "" ? null : Number(input.value));
    return {
      element: box,
      keyCount: 0,
      onKey: () => false,
      result() {
        const n = value();
        return n === null || !Number.isFinite(n) ? [] : [{ value: { number: n } }];
      },
      missing() {
        if (input.validity.badInput) return `${control.name} must be a number.`;
        const n = value();
        if (n === null) return control.required ? `Enter a number for ${control.name} first.` : null;
        if (n < low || n > high) return `${control.name} must be between ${low} and ${high}.`;
        return null;
      },
      destroy() {},
    };
  },
};

export function show(control, value) {
  if (typeof value !== "number") return shown("number empty", "(none)");
  return shown("number", String(value));
}
