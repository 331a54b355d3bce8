"""Small typed functions over the two contracts: deploy, mint, post an epoch, push, claim, read.

Transactions are built here, signed locally with eth-account and sent raw (design.md §6): no key
ever goes to a node, so the same code runs against the in-process EVM, anvil or a public RPC.
`build_*_tx` return unsigned dicts so the payout engine can record a transaction before sending
it (outbox) and choose nonces and gas itself; the one-call helpers (`push`, `claim`, ...) build,
sign, send and wait, for scripts, the demo and tests.

Reverts raise TransactionReverted with the contract's custom error decoded by name
(`NothingToClaim`, `InvalidProof`, `OwnableUnauthorizedAccount`, `EnforcedPause`, ...).
"""
from __future__ import annotations

import ast
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, to_bytes, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, Web3Exception
from web3.logs import DISCARD
from web3.providers import JSONBaseProvider
from web3.types import TxParams, TxReceipt

from rewards.chain import gas
from rewards.chain.build import load_artifact
from rewards.chain.errors import ChainError, TransactionReverted

TOKEN = "FairlabelToken"
DISTRIBUTOR = "CumulativeMerkleDistributor"
RECEIPT_TIMEOUT = 120  # seconds to wait for a receipt before giving up (the tx may still mine)


# --- contracts and reverts --------------------------------------------------------------------

def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for the compiled contract `name` deployed at `address`."""
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name)["abi"])


_BUILTIN_ERRORS = [  # what Solidity itself reverts with: require(cond, "msg") and panics
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
]

try:  # the in-process EVM reports reverts with its own exception, not web3's
    from eth_tester.exceptions import TransactionFailed as _TesterFailed

    _REVERTS: tuple[type[Exception], ...] = (ContractLogicError, _TesterFailed)
except ImportError:  # pragma: no cover - an install without the embedded chain
    _REVERTS = (ContractLogicError,)


def decode_revert(abi: Sequence[dict[str, Any]], data: str | bytes | None) -> tuple[str | None, dict[str, Any]]:
    """(error name, arguments) for revert `data` using the custom errors in `abi` (OpenZeppelin's
    included, since they are part of the compiled ABI) and Solidity's Error/Panic; (None, {})
    when the data is empty or unknown."""
    if not data:
        return None, {}
    raw = to_bytes(hexstr=data) if isinstance(data, str) else bytes(data)
    for item in [*abi, *_BUILTIN_ERRORS]:
        if item.get("type") == "error" and function_abi_to_4byte_selector(item) == raw[:4]:
            types = [i["type"] for i in item["inputs"]]
            values = abi_decode(types, raw[4:])
            return item["name"], {i["name"]: _plain(i["type"], v)
                                  for i, v in zip(item["inputs"], values, strict=True)}
    return None, {}


def _plain(typ: str, v: Any) -> Any:
    if typ == "address":
        return to_checksum_address(v)
    return "0x" + v.hex() if isinstance(v, bytes) else v


def _revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes behind `exc`: web3 keeps them in `.data` (hex); eth-tester's
    provider re-raises with a string, but the original exception (its context) holds bytes."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return to_bytes(hexstr=data)
    seen: BaseException | None = exc
    while seen is not None:
        arg = seen.args[0] if seen.args else None
        if isinstance(arg, Exception):
            arg = arg.args[0] if arg.args else None
        if isinstance(arg, bytes):
            return arg
        if isinstance(arg, str):  # eth-tester's eth_call path keeps only repr(bytes)
            text = arg.removeprefix("execution reverted: ")
            if text[:2] in ("b'", 'b"'):
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    value = None
                if isinstance(value, bytes):
                    return value
        seen = seen.__cause__ or seen.__context__
    return None


@lru_cache(maxsize=1)
def _our_errors() -> tuple[dict[str, Any], ...]:
    """Custom errors of all our contracts: a revert can bubble up from another contract (the
    distributor's push failing inside the token's transfer with ERC20InsufficientBalance)."""
    return tuple(item for name in (TOKEN, DISTRIBUTOR)
                 for item in load_artifact(name)["abi"] if item.get("type") == "error")


def _reverted(abi: Sequence[dict[str, Any]], exc: BaseException, what: str) -> TransactionReverted:
    data = _revert_data(exc)
    name, args = decode_revert([*abi, *_our_errors()], data)
    reason = name or getattr(exc, "message", None) or str(exc) or "execution reverted"
    shown = ", ".join(f"{k}={v}" for k, v in args.items())
    return TransactionReverted(f"{what} reverted: {reason}({shown})" if name else f"{what} reverted: {reason}",
                               error_name=name, error_args=args,
                               data="0x" + data.hex() if data else None)


# --- building, signing, sending ---------------------------------------------------------------

def build_tx(fn: ContractFunction, sender: str, *, nonce: int | None = None,
             gas: int | None = None, **fields: Any) -> TxParams:
    """An unsigned transaction calling `fn` from `sender`. Without `gas` the node estimates it,
    which also runs the call: a call that would revert raises TransactionReverted here, before
    anything is signed or sent."""
    w3 = fn.w3
    params: dict[str, Any] = {"from": to_checksum_address(sender), **fields}
    params["nonce"] = w3.eth.get_transaction_count(params["from"], "pending") if nonce is None else nonce
    if gas is not None:
        params["gas"] = gas
    try:
        return fn.build_transaction(params)  # type: ignore[arg-type]
    except _REVERTS as exc:
        raise _reverted(fn.contract_abi, exc, fn.fn_name) from exc


def send(w3: Web3, signer: LocalAccount, tx: TxParams, *, abi: Sequence[dict[str, Any]] = (),
         timeout: float = RECEIPT_TIMEOUT) -> TxReceipt:
    """Sign `tx` locally, send it raw, wait for the receipt; raise TransactionReverted when it
    failed on chain (decoding the reason by replaying the call against the parent block)."""
    if "from" in tx and tx["from"] != signer.address:
        raise ChainError("The transaction's sender is not the signer.", sender=tx["from"],
                         signer=signer.address)
    signed = signer.sign_transaction(tx)  # type: ignore[arg-type]
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}  # type: ignore[literal-required]
        try:
            w3.eth.call(call, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except _REVERTS as exc:
            raise _reverted(abi, exc, "transaction " + tx_hash.to_0x_hex()) from exc
        raise TransactionReverted(f"transaction {tx_hash.to_0x_hex()} reverted", receipt=dict(receipt))
    return receipt


def transact(fn: ContractFunction, signer: LocalAccount, **overrides: Any) -> TxReceipt:
    """Build, sign, send and wait for one contract call."""
    return send(fn.w3, signer, build_tx(fn, signer.address, **overrides), abi=fn.contract_abi)


def _deploy(w3: Web3, name: str, signer: LocalAccount, *args: Any) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(*args).build_transaction({
        "from": signer.address,
        "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
    })
    receipt = send(w3, signer, tx, abi=artifact["abi"])
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


# --- the token --------------------------------------------------------------------------------

def deploy_token(w3: Web3, owner: LocalAccount) -> Contract:
    """Deploy FairlabelToken owned (and mintable) by `owner`."""
    return _deploy(w3, TOKEN, owner, owner.address)


def mint(token: Contract, owner: LocalAccount, to: str, amount: int) -> TxReceipt:
    """Mint `amount` (smallest units) to `to`; owner only."""
    return transact(token.functions.mint(to_checksum_address(to), amount), owner)


def balance_of(token: Contract, account: str) -> int:
    """`account`'s token balance in smallest units."""
    return token.functions.balanceOf(to_checksum_address(account)).call()


# --- the distributor --------------------------------------------------------------------------

def deploy_distributor(w3: Web3, token_address: str, owner: LocalAccount) -> Contract:
    """Deploy CumulativeMerkleDistributor paying in the ERC-20 at `token_address`."""
    return _deploy(w3, DISTRIBUTOR, owner, to_checksum_address(token_address), owner.address)


def post_epoch(distributor: Contract, owner: LocalAccount, epoch: int,
               earnings_root: bytes, contributions_root: bytes) -> TxReceipt:
    """Publish an epoch's roots (epochs strictly increase; the earnings root replaces the last)."""
    return transact(distributor.functions.postEpoch(epoch, earnings_root, contributions_root), owner)


def push_gas_limit(n_wallets: int) -> int:
    """A gas limit that covers pushing to `n_wallets` even if all are paid for the first time
    (the one formula, in rewards/chain/gas.py).

    Passing it as `gas=` skips estimation, which matters on the in-process EVM (py-evm's
    estimator re-runs the call in a binary search: ~5 s for 300 wallets) and lets the payout
    engine sign a batch without a node round trip. Only gas used is paid for. Batches of at most
    `gas.MAX_PUSH_BATCH` (321) wallets stay under Osaka's 2^24 (16.8M) per-transaction cap
    (EIP-7825); app/config.py refuses a larger PAYOUT_BATCH_SIZE."""
    return gas.push_gas_limit(n_wallets)


def build_push_tx(distributor: Contract, sender: str, accounts: Sequence[str],
                  cumulatives: Sequence[int], *, nonce: int | None = None,
                  gas: int | None = None) -> TxParams:
    """An unsigned push of cumulative totals to many wallets (owner only). Paying is idempotent:
    each wallet gets `cumulative - claimed`, or is skipped, so the same batch can be resent."""
    if len(accounts) != len(cumulatives):
        raise ChainError("accounts and cumulatives differ in length",
                         accounts=len(accounts), cumulatives=len(cumulatives))
    fn = distributor.functions.push([to_checksum_address(a) for a in accounts], list(cumulatives))
    return build_tx(fn, sender, nonce=nonce, gas=gas)


def push(distributor: Contract, owner: LocalAccount, accounts: Sequence[str],
         cumulatives: Sequence[int], **overrides: Any) -> TxReceipt:
    tx = build_push_tx(distributor, owner.address, accounts, cumulatives, **overrides)
    return send(distributor.w3, owner, tx, abi=distributor.abi)


def build_claim_tx(distributor: Contract, sender: str, account: str, cumulative: int,
                   proof: Sequence[bytes | str], *, nonce: int | None = None,
                   gas: int | None = None) -> TxParams:
    """An unsigned claim of `account`'s unpaid earnings (anyone may send it; `account` is paid)."""
    fn = distributor.functions.claim(to_checksum_address(account), cumulative,
                                     [to_bytes(hexstr=p) if isinstance(p, str) else p for p in proof])
    return build_tx(fn, sender, nonce=nonce, gas=gas)


def claim(distributor: Contract, signer: LocalAccount, account: str, cumulative: int,
          proof: Sequence[bytes | str], **overrides: Any) -> TxReceipt:
    tx = build_claim_tx(distributor, signer.address, account, cumulative, proof, **overrides)
    return send(distributor.w3, signer, tx, abi=distributor.abi)


def claimed_of(distributor: Contract, account: str) -> int:
    """Total ever paid to `account` by this distributor, by claim or push."""
    return distributor.functions.claimed(to_checksum_address(account)).call()


CLAIMED_BATCH = 500  # `claimed` reads per JSON-RPC batch


def claimed_of_many(w3: Web3, distributor: Contract, wallets: Sequence[str]) -> dict[str, int]:
    """Each wallet's `claimed` on the distributor. Over HTTP the reads go in JSON-RPC batches
    (one round trip per 500 wallets instead of one each: a 10,000-wallet reconcile took minutes);
    a provider that cannot batch (the in-process EVM) is asked one wallet at a time."""
    batches = isinstance(w3.provider, JSONBaseProvider)  # what web3 can batch over
    out: dict[str, int] = {}
    wallets = list(wallets)
    for i in range(0, len(wallets), CLAIMED_BATCH):
        chunk = wallets[i:i + CLAIMED_BATCH]
        if batches:
            with w3.batch_requests() as batch:
                for wallet in chunk:
                    batch.add(distributor.functions.claimed(wallet))
                values = batch.execute()
        else:
            values = [distributor.functions.claimed(wallet).call() for wallet in chunk]
        out.update(zip(chunk, (int(v) for v in values), strict=True))
    return out


def contributions_root(distributor: Contract, epoch: int, *, block: int | str = "latest") -> str | None:
    """The contributions root posted for `epoch` as of `block` (hex), or None if none was posted.

    A node that cannot answer the call (no contract at the address, a pruned block) raises
    ChainError, not web3's exceptions."""
    try:
        root = bytes(distributor.functions.contributionsRoot(int(epoch)).call(block_identifier=block))
    except (Web3Exception, ValueError) as exc:
        raise ChainError(f"Could not read epoch {epoch}'s root from the distributor at {distributor.address}: "
                         f"{type(exc).__name__}.", epoch=epoch) from exc
    return None if root == bytes(32) else "0x" + root.hex()


def current_epoch(distributor: Contract) -> int:
    """The latest epoch posted (0 before the first)."""
    return distributor.functions.currentEpoch().call()


def pushed_events(distributor: Contract, receipt: TxReceipt) -> list[dict[str, int]]:
    """The Pushed(paidCount, totalAmount) events in `receipt`, as plain dicts."""
    events = distributor.events.Pushed().process_receipt(receipt, errors=DISCARD)  # skip Transfers
    return [dict(e["args"]) for e in events]

