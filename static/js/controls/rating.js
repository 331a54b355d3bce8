// Rating: 1…max stars as radio buttons; number keys pick a star (while keys 1–9 last).
import { el, fieldset, keyHint, keyIndex, keysLeft, shown } from "./common.js";

export default {
  kind: "rating",
  keyed: true,
  mount(control, ctx) {
    const max = Number(control.options?.max) || 5;
    const box = fieldset("rating", control);
    const keyCount = keysLeft(ctx.keyOffset, max);
    const row = el("div", "stars");
    const labels = [];
    const inputs = [];
    for (let n = 1; n <= max; n += 1) {
      const input = el("input");
      input.type = "radio";
      input.name = control.name;
      input.value = String(n);
      input.className = "star-input";
      input.addEventListener("change", () => { paint(); ctx.onChange(); });
      const hint = n <= keyCount ? keyHint(ctx.keyOffset + n - 1) : null;
      const label = el("label", "star", input, el("span", "star-glyph", "★"),
        el("span", "sr-only", `${n} of ${max}`), ...(hint ? [hint] : []));
      label.title = `${n} of ${max}`;
      labels.push(label);
      inputs.push(input);
      row.append(label);
    }
    const said = el("span", "muted rating-value", "");
    box.append(row, said);
    function paint() {
      const value = Number(inputs.find((i) => i.checked)?.value ?? 0);
      labels.forEach((label, i) => label.classList.toggle("lit", i < value));
      said.textContent = value ? `${value} of ${max}` : "";
    }
    return {
      element: box,
      keyCount,
      onKey(event) {
        const i = keyIndex(event, ctx.keyOffset, keyCount);
        if (i < 0) return false;
        inputs[i].checked = true;
        paint();
        ctx.onChange();
        return true;
      },
      result() {
        const chosen = inputs.find((i) => i.checked);
        return chosen ? [{ value: { rating: Number(chosen.value) } }] : [];
      },
      missing() {
        return control.required && !inputs.some((i) => i.checked) ? `Give ${control.name} a rating first.` : null;
      },
      destroy() {},
    };
  },
};

export function show(control, value) {
  const max = Number(control.options?.max) || 5;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) return shown("rating empty", "(none)");
  const node = shown("rating", el("span", "stars-shown", "★".repeat(Math.min(n, max)) + "☆".repeat(Math.max(0, max - n))),
    ` ${n}/${max}`);
  node.title = `${n} of ${max}`;
  return node;
}
