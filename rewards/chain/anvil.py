"""Start and stop a local anvil node (npm `@foundry-rs/anvil`) for tests and benchmarks.

anvil speaks real JSON-RPC, so code that works here works against a public node; it also offers
fault injection the payout engine's tests need (anvil_dropTransaction, anvil_setAutomine,
anvil_reorg, evm_snapshot). It listens on a free 127.0.0.1 port only.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from rewards.chain.errors import ChainError

ANVIL = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "anvil"
ETHER = 10**18


def anvil_path() -> Path:
    """The anvil binary: node_modules/.bin/anvil (from `npm ci`), else one on PATH."""
    if ANVIL.exists():
        return ANVIL
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ChainError(f"anvil not found at {ANVIL} or on PATH: run `npm ci` (or `make install`).")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rpc(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    req = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())["result"]


@dataclass
class Anvil:
    """A running anvil process. Use as a context manager, or call stop()."""

    process: subprocess.Popen[bytes]
    url: str
    w3: Web3 = field(init=False)

    def __post_init__(self) -> None:
        self.w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))

    def funded_account(self, ether: int = 1_000) -> LocalAccount:
        """A new random key with `ether` set as its balance (anvil_setBalance)."""
        account: LocalAccount = Account.create()
        self.w3.provider.make_request("anvil_setBalance", [account.address, hex(ether * ETHER)])
        return account

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_anvil(*extra_args: str, startup_timeout: float = 20.0) -> Anvil:
    """Start anvil on a free 127.0.0.1 port and wait until it answers eth_chainId.

    `extra_args` go to anvil as is (e.g. "--gas-limit", "60000000"). Raises ChainError when anvil
    is missing or does not come up; the process is never left running on failure."""
    binary = anvil_path()
    last_error = ""
    for _attempt in range(3):  # the port could be taken between free_port() and anvil's bind
        port = free_port()
        process = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(port), "--quiet", *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        node = Anvil(process, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_error = (process.stderr.read() if process.stderr else b"").decode(errors="replace")
                node.stop()
                break
            try:
                _rpc(node.url, "eth_chainId")
                return node
            except OSError:
                time.sleep(0.05)
        else:
            node.stop()
            raise ChainError(f"anvil did not answer on {node.url} within {startup_timeout}s")
    raise ChainError(f"anvil failed to start: {last_error.strip()}")
