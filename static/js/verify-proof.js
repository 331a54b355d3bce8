// Verify a Fairlabel contribution proof in the browser (OpenZeppelin StandardMerkleTree rules):
//   commitment = keccak256(salt ‖ utf8(label_json))
//   leaf       = keccak256(keccak256(abi.encode(answerId, itemId, wallet, commitment, reward, epoch)))
//   node       = keccak256(sorted(a, b))  up to the root.
// That only shows the proof agrees with its own root (anyone can make a one-leaf "tree"); a proof
// is valid only if its root is the one posted on chain for its epoch, which the page asks the
// server for (GET <data-root-url>?epoch=N) and compares, saying where the server read it.
// keccak comes from @noble/hashes (audited, MIT), copied from npm into static/vendor at setup.
import { keccak_256 } from "/static/vendor/noble-hashes/sha3.js";

const hexToBytes = (hex) => {
  const clean = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (clean.length % 2 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`not hex: ${hex}`);
  return Uint8Array.from(clean.match(/../g) || [], (b) => parseInt(b, 16));
};
const bytesToHex = (bytes) => "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const word = (value) => {  // a uint256 or address as one 32-byte ABI word
  const hex = BigInt(value).toString(16).padStart(64, "0");
  if (hex.length > 64) throw new Error(`does not fit 256 bits: ${value}`);
  return hexToBytes(hex);
};
const compare = (a, b) => {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
};

export function verifyProof(proof) {
  const salt = hexToBytes(proof.salt);
  const commitment = bytesToHex(keccak_256(concat(salt, new TextEncoder().encode(proof.label_json))));
  if (commitment !== proof.label_commitment.toLowerCase()) {
    return { ok: false, reason: "The salted label does not open the label commitment." };
  }
  const encoded = concat(word(proof.answer_id), word(proof.item_id), word(proof.wallet),
    hexToBytes(proof.label_commitment), word(proof.reward), word(proof.epoch));
  let node = keccak_256(keccak_256(encoded));
  for (const siblingHex of proof.proof) {
    const sibling = hexToBytes(siblingHex);
    node = keccak_256(compare(node, sibling) <= 0 ? concat(node, sibling) : concat(sibling, node));
  }
  if (bytesToHex(node) !== proof.root.toLowerCase()) {
    return { ok: false, reason: "The leaf does not climb to the root." };
  }
  return { ok: true };
}

// Whether the root posted for the proof's epoch (`posted`, from /verify/root) is the proof's.
export function checkPosted(proof, posted) {
  const where = posted.source_text;
  if (!posted.root) {
    return { ok: false, reason: `root not posted. Epoch ${proof.epoch} has no contributions root (${where}).` };
  }
  if (Number(proof.chain_id) !== posted.chain_id
      || String(proof.distributor).toLowerCase() !== posted.distributor.toLowerCase()) {
    return { ok: false, reason: `root not posted. The proof names distributor ${proof.distributor} on chain ` +
                                `${proof.chain_id}; the root checked is ${where}.` };
  }
  if (posted.root.toLowerCase() !== String(proof.root).toLowerCase()) {
    return { ok: false, reason: `root not posted. Epoch ${proof.epoch}'s posted root is ${posted.root}, ` +
                                `not the proof's ${proof.root} (${where}).` };
  }
  return { ok: true, where };
}

async function fetchPosted(form, epoch) {
  const url = `${form.dataset.rootUrl}?epoch=${encodeURIComponent(epoch)}`;
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  const data = await response.json().catch(() => null);
  if (!response.ok || !data) throw new Error(data?.error?.message ?? `the server answered ${response.status}`);
  return data;
}

function show(text, ok) {
  const box = document.getElementById("verify-result");
  box.className = ok ? "flash success" : "flash error";
  box.textContent = text;
}

document.getElementById("proof-file")?.addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) document.getElementById("proof-text").value = await file.text();
});

document.getElementById("verify-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  let proof;
  try {
    proof = JSON.parse(document.getElementById("proof-text").value);
    if (!Number.isSafeInteger(proof.epoch) || proof.epoch < 1) throw new Error("epoch must be a positive whole number");
    const result = verifyProof(proof);
    if (!result.ok) return show(`Invalid: ${result.reason}`, false);
  } catch (error) {
    return show(`Not a Fairlabel proof: ${error.message}`, false);
  }
  show(`Checking the root posted for epoch ${proof.epoch}…`, true);
  let posted;
  try {
    posted = await fetchPosted(form, proof.epoch);
  } catch (error) {
    return show(`Not verified: the root posted for epoch ${proof.epoch} could not be learned (${error.message}).`, false);
  }
  const check = checkPosted(proof, posted);
  if (!check.ok) return show(`Invalid: ${check.reason}`, false);
  show(`Valid: answer ${proof.answer_id} (reward ${proof.reward}) is in epoch ${proof.epoch}'s root ` +
       `${posted.root}, ${check.where}.`, true);
});
