// Pairwise: which of the two objects named by toName is better: "left" (the first) or "right".
import { el, fieldset, keyHint, keyIndex, keysLeft, shown } from "./common.js";

const SIDES = [["left", "Left is better"], ["right", "Right is better"]];

export default {
  kind: "pairwise",
  keyed: true,
  mount(control, ctx) {
    const box = fieldset("pairwise", control);
    const keyCount = keysLeft(ctx.keyOffset, 2);
    const row = el("div", "pairwise-options");
    const inputs = SIDES.map(([side, text], i) => {
      const input = el("input");
      input.type = "radio";
      input.name = control.name;
      input.value = side;
      input.addEventListener("change", () => ctx.onChange());
      const hint = i < keyCount ? keyHint(ctx.keyOffset + i) : null;
      row.append(el("label", `choice pairwise-${side}`, input, " ", ...(hint ? [hint, " "] : []), text));
      return input;
    });
    box.append(row);
    return {
      element: box,
      keyCount,
      onKey(event) {
        const i = keyIndex(event, ctx.keyOffset, keyCount);
        if (i < 0) return false;
        inputs[i].checked = true;
        ctx.onChange();
        return true;
      },
      result() {
        const chosen = inputs.find((i) => i.checked);
        return chosen ? [{ value: { selected: chosen.value } }] : [];
      },
      missing() {
        return control.required && !inputs.some((i) => i.checked)
          ? `Choose the better one for ${control.name} first.` : null;
      },
      destroy() {},
    };
  },
};

export function show(control, value) {
  const side = SIDES.find(([s]) => s === value);
  const names = String(control.to_name ?? "").split(",");
  if (!side) return shown("pairwise empty", "(none)");
  const object = names[value === "left" ? 0 : 1];
  return shown("pairwise", side[1], ...(object ? [" ", el("span", "muted", `(${object})`)] : []));
}
