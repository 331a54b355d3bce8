"""The proof verify page checks OpenZeppelin-style proofs in the browser, byte for byte as Python
does, and calls a proof valid only if its root is the one posted on chain for its epoch (issue #9:
"/verify says Valid for a forged proof")."""
from __future__ import annotations

import json
import secrets

import pytest
from browser_support import CHROMIUM_ARGS
from eth_account import Account

from rewards.chain import client, merkle
from rewards.onchain import current_chain
from rewards.payouts import label_json, proof_structure_error

from live_server import serve

pytestmark = pytest.mark.browser


def _proofs(chain, n: int = 7) -> list[dict]:
    """Proofs for a contributions tree of `n` leaves, in the shape the platform serves, whose root
    is posted on the app's chain as the next epoch."""
    epoch = client.current_epoch(chain.distributor) + 1
    rows, labels, salts = [], [], []
    for i in range(n):
        salt = secrets.token_bytes(32)
        label = label_json({"sentiment": ["positive" if i % 2 else "negative"]})
        commitment = "0x" + merkle.label_commitment(salt, label).hex()
        rows.append((1000 + i, 50 + i, Account.create().address, commitment, 10 + i, epoch))
        labels.append(label)
        salts.append(salt)
    tree = merkle.contributions_tree(rows)
    client.post_epoch(chain.distributor, chain.signer, epoch, bytes(32), tree.root)
    out = []
    for i, row in enumerate(tree.values):
        k = next(j for j, r in enumerate(rows) if r[0] == row[0])
        out.append({"answer_id": row[0], "item_id": row[1], "wallet": row[2], "label_json": labels[k],
                    "salt": "0x" + salts[k].hex(), "label_commitment": rows[k][3], "reward": row[4],
                    "epoch": row[5], "proof": tree.proof_hex(i), "root": tree.root_hex, "chain_id": chain.chain_id,
                    "distributor": chain.distributor.address, "post_tx": None})
    return out


def _forged(proof: dict) -> dict:
    """Root = leaf, an empty proof, a made-up posting transaction: consistent with itself only."""
    leaf = merkle.leaf_hash(merkle.CONTRIBUTION_TYPES, (
        proof["answer_id"], proof["item_id"], proof["wallet"], bytes.fromhex(proof["label_commitment"][2:]),
        10**6, proof["epoch"]))
    return {**proof, "reward": 10**6, "proof": [], "root": "0x" + leaf.hex(), "post_tx": "0x" + "ab" * 32}


def test_the_browser_accepts_good_proofs_and_refuses_tampered_ones(app, chromium_path):
    from playwright.sync_api import sync_playwright

    chain = current_chain()
    proofs = _proofs(chain)
    assert all(proof_structure_error(p) is None for p in proofs)
    tampered = [{**proofs[0], "reward": proofs[0]["reward"] + 1},
                {**proofs[1], "label_json": '{"sentiment":["neutral"]}'},
                {**proofs[2], "proof": proofs[2]["proof"][::-1]}]
    assert all(proof_structure_error(p) for p in tampered)
    forged = _forged(proofs[3])
    assert proof_structure_error(forged) is None  # the old page said "Valid" to this
    other_distributor = {**proofs[4], "distributor": Account.create().address}
    cases = [(p_, "Valid:") for p_ in proofs] + [(t, "Invalid:") for t in tampered]
    cases += [(forged, "Invalid: root not posted."), (other_distributor, "Invalid: root not posted.")]
    with serve(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/verify")
        for proof, expected in cases:
            page.fill("#proof-text", json.dumps(proof))
            page.click("button[type=submit]")
            result = page.locator("#verify-result")
            result.filter(has_text=expected).wait_for(timeout=5000)
            text = result.inner_text()
            assert text.startswith(expected), (proof, text)
            if expected == "Valid:":  # and it says where the posted root came from
                assert f"read from distributor {chain.distributor.address} on chain {chain.chain_id}" in text
            page.evaluate("document.getElementById('verify-result').textContent = ''")
        page.fill("#proof-text", "not json")
        page.click("button[type=submit]")
        assert "Not a Fairlabel proof" in page.locator("#verify-result").inner_text()
        browser.close()
    assert errors == []
