"""The proof verify page checks OpenZeppelin-style proofs in the browser, byte for byte as Python does."""
from __future__ import annotations

import json
import secrets

import pytest
from browser_support import CHROMIUM_ARGS
from eth_account import Account

from rewards.chain import merkle
from rewards.payouts import label_json, verify_contribution_proof

from live_server import serve

pytestmark = pytest.mark.browser


def _proofs(n: int = 7) -> list[dict]:
    """Proofs for a contributions tree of `n` leaves, in the shape the platform serves."""
    rows, labels, salts = [], [], []
    for i in range(n):
        salt = secrets.token_bytes(32)
        label = label_json({"sentiment": ["positive" if i % 2 else "negative"]})
        commitment = "0x" + merkle.label_commitment(salt, label).hex()
        rows.append((1000 + i, 50 + i, Account.create().address, commitment, 10 + i, 3))
        labels.append(label)
        salts.append(salt)
    tree = merkle.contributions_tree(rows)
    out = []
    for i, row in enumerate(tree.values):
        k = next(j for j, r in enumerate(rows) if r[0] == row[0])
        out.append({"answer_id": row[0], "item_id": row[1], "wallet": row[2], "label_json": labels[k],
                    "salt": "0x" + salts[k].hex(), "label_commitment": rows[k][3], "reward": row[4],
                    "epoch": row[5], "proof": tree.proof_hex(i), "root": tree.root_hex, "chain_id": 1,
                    "distributor": Account.create().address, "post_tx": None})
    return out


def test_the_browser_accepts_good_proofs_and_refuses_tampered_ones(app, chromium_path):  
    from playwright.sync_api import sync_playwright

    proofs = _proofs()
    assert all(verify_contribution_proof(p) for p in proofs)
    tampered = [{**proofs[0], "reward": proofs[0]["reward"] + 1},
                {**proofs[1], "label_json": '{"sentiment":["neutral"]}'},
                {**proofs[2], "proof": proofs[2]["proof"][::-1]}]
    assert not any(verify_contribution_proof(p) for p in tampered)
    with serve(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/verify")
        for proof, valid in [(p_, True) for p_ in proofs] + [(t, False) for t in tampered]:
            page.fill("#proof-text", json.dumps(proof))
            page.click("button[type=submit]")
            result = page.locator("#verify-result")
            expected = "Valid:" if valid else "Invalid:"
            result.filter(has_text=expected).wait_for(timeout=5000)
            assert result.inner_text().startswith(expected), (proof, result.inner_text())
            page.evaluate("document.getElementById('verify-result').textContent = ''")
        page.fill("#proof-text", "not json")
        page.click("button[type=submit]")
        assert "Not a Fairlabel proof" in page.locator("#verify-result").inner_text()
        browser.close()
    assert errors == []
