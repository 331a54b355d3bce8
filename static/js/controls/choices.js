// Choices: one choice (radio buttons) or several (checkboxes, "(choose any)"); number keys toggle.
import { el, fieldset, keyHint, keyIndex, keysLeft, shown } from "./common.js";

export default {
  kind: "choices",
  keyed: true,
  mount(control, ctx) {
    const box = fieldset("choices", control, control.multiple ? `${control.name} (choose any)` : control.name);
    const keyCount = keysLeft(ctx.keyOffset, control.choices.length);
    const inputs = control.choices.map((choice, i) => {
      const input = el("input");
      input.type = control.multiple ? "checkbox" : "radio";
      input.name = control.name;
      input.value = choice;
      input.addEventListener("change", () => ctx.onChange());
      const hint = i < keyCount ? keyHint(ctx.keyOffset + i) : null;
      box.append(el("label", "choice", input, " ", ...(hint ? [hint, " "] : []), choice));
      return input;
    });
    return {
      element: box,
      keyCount,
      onKey(event) {
        const i = keyIndex(event, ctx.keyOffset, keyCount);
        if (i < 0) return false;
        const input = inputs[i];
        input.checked = input.type === "checkbox" ? !input.checked : true;
        ctx.onChange();
        return true;
      },
      result() {
        const chosen = inputs.filter((i) => i.checked).map((i) => i.value);
        if (!chosen.length && !control.required) return [];
        return [{ value: { choices: chosen } }];
      },
      missing() {
        return control.required && !inputs.some((i) => i.checked) ? `Choose an option for ${control.name} first.` : null;
      },
      destroy() {},
    };
  },
};

export function show(control, value) {
  const chosen = Array.isArray(value) ? value : [];
  if (!chosen.length) return shown("choices empty", "(none)");
  return shown("choices", ...chosen.flatMap((c, i) => [i ? ", " : "", el("span", "choice-value", String(c))]));
}
