// Small DOM helpers the control modules share (no module-specific logic here).

/** An element with a class and children (strings become text, never HTML). */
export function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** The <kbd> showing number key `key` (1-based), or null above 9 (no key left). */
export function keyHint(key) {
  return key >= 1 && key <= 9 ? el("kbd", "", String(key)) : null;
}

/** How many of `wanted` keys are left from `keyOffset` (keys 1–9 only). */
export function keysLeft(keyOffset, wanted) {
  return Math.max(0, Math.min(wanted, 10 - keyOffset));
}

/** The index (0-based) a number key names within [keyOffset, keyOffset + keyCount), or -1. */
export function keyIndex(event, keyOffset, keyCount) {
  if (!/^[1-9]$/.test(event.key)) return -1;
  const index = Number(event.key) - keyOffset;
  return index >= 0 && index < keyCount ? index : -1;
}

/** A <fieldset> for `control` with its legend. */
export function fieldset(className, control, legendText) {
  const box = el("fieldset", `control ${className}`);
  box.dataset.control = control.name;
  box.append(el("legend", "", legendText ?? control.name));
  return box;
}

let uid = 0;
/** A page-unique id, for label/aria wiring. */
export function uniqueId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A read-only value on the results page. */
export function shown(className, ...children) {
  return el("span", `shown ${className}`, ...children);
}
