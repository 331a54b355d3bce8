"""Wallet sign-in and linking in a real Chromium, on the real server, with CSRF on (issue #5).

The page talks to an injected EIP-1193 `window.ethereum` whose personal_sign is answered by a
Python eth_account key (Playwright's expose_function), exactly as a wallet extension would; a
second browser has no wallet and signs by hand: the message is copied out, signed, pasted back.
"""
from __future__ import annotations

import pytest
from browser_support import CHROMIUM_ARGS, SHARED_CONFIG
from eth_account import Account
from eth_account.messages import encode_defunct

from app import create_app
from app.extensions import db as _db
from app.identity.models import Role, User

from live_server import serve

CHAIN_ID = 31337

# A minimal EIP-1193 provider: one account (switchable), personal_sign delegated to Python.
FAKE_WALLET = """
window.__walletAccount = null;
window.ethereum = {
  isFake: true,
  async request({ method, params }) {
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [window.__walletAccount];
    if (method === "personal_sign") return await window.walletSign(params[0], params[1]);
    throw Object.assign(new Error(`unsupported ${method}`), { code: 4200 });
  },
};
"""


@pytest.fixture
def live_app(app, monkeypatch):
    monkeypatch.setattr("app.api.wallet.siwe_chain_id", lambda: CHAIN_ID)  # no EVM needed to sign in
    live = create_app({**{k: app.config[k] for k in SHARED_CONFIG}, "WTF_CSRF_ENABLED": True})
    yield live
    with live.app_context():
        _db.engine.dispose()


def test_sign_in_link_and_change_wallet_in_a_browser(app, live_app, chromium_path):
    from playwright.sync_api import sync_playwright

    keys = {}
    first, second, by_hand = Account.create(), Account.create(), Account.create()
    for account in (first, second, by_hand):
        keys[account.address] = account
    signed_texts: list[str] = []

    def wallet_sign(hex_message: str, address: str) -> str:
        text = bytes.fromhex(hex_message.removeprefix("0x")).decode()
        signed_texts.append(text)
        return keys[address].sign_message(encode_defunct(text=text)).signature.to_0x_hex()

    problems: list[str] = []
    with serve(live_app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.add_init_script(FAKE_WALLET)
            context.expose_function("walletSign", wallet_sign)
            page = context.new_page()
            page.on("pageerror", lambda exc: problems.append(f"JS error: {exc}"))
            page.goto(f"{base}/login")
            page.evaluate("address => { window.__walletAccount = address; }", first.address)
            page.get_by_role("button", name="Sign in with wallet").click()
            page.wait_for_url(f"{base}/work")
            pseudonym = f"wallet-{first.address[:6]}-{first.address[-4:]}".lower()
            assert pseudonym in page.locator(".topbar").inner_text()
            assert signed_texts[-1].startswith("http://127.0.0.1:")  # origin with its scheme
            assert f"Chain ID: {CHAIN_ID}" in signed_texts[-1] and "URI: http://127.0.0.1:" in signed_texts[-1]

            # Change the payout wallet: the new wallet signs a fresh link message.
            page.goto(f"{base}/wallet")
            assert page.locator("#wallet-address").inner_text() == first.address
            page.evaluate("address => { window.__walletAccount = address; }", second.address)
            page.get_by_role("button", name="Change wallet").click()
            page.wait_for_function(
                "expected => document.getElementById('wallet-address')?.textContent === expected",
                arg=second.address)
            assert "Link this wallet to the Fairlabel account" in signed_texts[-1]

            # No wallet extension: sign by hand.
            plain = browser.new_context()
            manual = plain.new_page()
            manual.on("pageerror", lambda exc: problems.append(f"JS error: {exc}"))
            manual.goto(f"{base}/login")
            manual.get_by_role("button", name="Sign in with wallet").click()
            assert "No wallet extension" in manual.locator("[data-siwe-status]").inner_text()
            manual.get_by_label("Your address").fill(by_hand.address)
            manual.get_by_role("button", name="Get the message").click()
            text_box = manual.get_by_label("Message to sign")
            manual.wait_for_function("() => document.querySelector('[data-siwe-text]').value !== ''")
            text = text_box.input_value()
            signature = by_hand.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
            manual.get_by_label("Signature").fill(signature)
            manual.get_by_role("button", name="Submit signature").click()
            manual.wait_for_url(f"{base}/work")
        finally:
            browser.close()
    assert problems == []

    _db.session.rollback()
    users = {u.wallet_address: u for u in _db.session.scalars(_db.select(User))}
    assert set(users) == {second.address, by_hand.address}
    assert users[second.address].username == pseudonym and users[second.address].role is Role.ANNOTATOR
