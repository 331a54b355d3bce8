"""Gas limits of the payout transactions: one formula, used to sign and to validate the config.

A push pays every wallet in one transaction, so its limit must cover the worst case, a batch of
first payments (`claimed` and the token balance go from zero to non-zero: the expensive
SSTOREs), and must stay under the per-transaction gas cap of EIP-7825 (Osaka: 2^24 = 16,777,216).
Only the gas used is paid for, so the limit may be generous; it may not be short (an out-of-gas
push reverts and its payouts return to available).

Measured (bench/chain_gas.py, bench/payout_epoch.py; docs/benchmarks.md): a first payment costs
about 48,750 gas on top of ~35k for the transaction itself (1 wallet: 84,117; 300: 14,661,622 on
py-evm, 14,650,930 on anvil). The formula below adds 7% per wallet and leaves the fixed part
room, so a batch of up to MAX_PUSH_BATCH (321) wallets fits under the cap.

Pure arithmetic: imported by app/config.py at start-up, so nothing here may need web3.
"""
from __future__ import annotations

MAX_TX_GAS = 2**24  # EIP-7825's per-transaction cap (16,777,216)
PUSH_GAS_BASE = 60_000  # 21k intrinsic, owner and pause checks, the Pushed event, cold accesses
PUSH_GAS_PER_WALLET = 52_000  # a first payment measures ~48.75k all-in
POST_EPOCH_GAS = 150_000  # postEpoch: two roots and an event (measured 72.6k first, 38.4k after)
FUND_GAS = 120_000  # an ERC-20 transfer to the distributor (measured 51.5k)


def push_gas_limit(n_wallets: int) -> int:
    """A gas limit that covers pushing to `n_wallets` even if all are paid for the first time."""
    return PUSH_GAS_BASE + PUSH_GAS_PER_WALLET * n_wallets


MAX_PUSH_BATCH = (MAX_TX_GAS - PUSH_GAS_BASE) // PUSH_GAS_PER_WALLET  # 321 wallets
