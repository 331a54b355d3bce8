"""Gas and wall time of paying 10,000 workers through CumulativeMerkleDistributor.

    # from the repository's root
    .venv/bin/python bench/chain_gas.py                       # anvil, 10,000 wallets, batches of 300
    .venv/bin/python bench/chain_gas.py --chain embedded --wallets 2000

Deploys the token and distributor on a fresh anvil (or the in-process EVM), then:

1. first push: `--wallets` fresh wallets in batches of `--batch` (each wallet's first payment:
   `claimed` and the token balance go from zero to non-zero, the expensive SSTOREs);
2. returning push: the same wallets again with higher cumulatives (non-zero to non-zero);
3. replayed push: the returning batches sent again (everyone skipped, nothing paid);
4. claims against a 10,000-leaf earnings tree, with a depth-14 proof, for a first-time and a
   returning wallet; and one plain ERC-20 transfer to a fresh wallet for comparison.

"gas / wallet" is the transaction's whole gasUsed (21k base, calldata, loop) divided by the
wallets in it. Batches of 300 keep a first push near 15M gas, under the 2^24 (16.8M)
per-transaction cap of Osaka (EIP-7825) as well as the 30M block limit; with --no-estimate each
push's limit is rewards/chain/gas.py's formula, the one the payout engine signs with. Transactions are
signed locally and sent one after another, each waited for, as the payout engine will.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from eth_account import Account
from eth_utils import to_checksum_address

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rewards.chain import client  # noqa: E402
from rewards.chain.merkle import earnings_tree  # noqa: E402


def push_all(distributor, owner, wallets, amounts, batch, estimate):
    """Push in batches; return (total gas, transactions, seconds, max gas in one tx)."""
    gas = txs = peak = 0
    start = time.perf_counter()
    for i in range(0, len(wallets), batch):
        chunk = wallets[i:i + batch]
        receipt = client.push(distributor, owner, chunk, amounts[i:i + batch],
                              gas=None if estimate else client.push_gas_limit(len(chunk)))
        gas += receipt["gasUsed"]
        peak = max(peak, receipt["gasUsed"])
        txs += 1
    return gas, txs, time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chain", choices=["anvil", "embedded"], default="anvil")
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--estimate", action=argparse.BooleanOptionalAction, default=True,
                        help="ask the node to estimate each push's gas (default), or use "
                             "client.push_gas_limit(n) and skip estimation (--no-estimate)")
    args = parser.parse_args()
    n, batch = args.wallets, args.batch

    node = None
    if args.chain == "anvil":
        from rewards.chain.anvil import start_anvil

        node = start_anvil()
        w3, owner = node.w3, node.funded_account(100_000)
        info = w3.provider.make_request("anvil_nodeInfo", [])["result"]
        fork = f"anvil {w3.client_version.split('/')[1]}, hardfork {info.get('hardFork')}"
        token = client.deploy_token(w3, owner)
        distributor = client.deploy_distributor(w3, token.address, owner)
    else:
        from rewards.chain.embedded import start_embedded_chain

        chain = start_embedded_chain(owner_ether=100_000)
        w3, owner, token, distributor = chain.w3, chain.owner, chain.token, chain.distributor
        fork = "py-evm (eth-tester), Prague"
    try:
        client.mint(token, owner, distributor.address, 10**18)
        client.mint(token, owner, owner.address, 10**9)
        wallets = [to_checksum_address(os.urandom(20)) for _ in range(n)]  # only receive: no keys
        unit = 1_000_000  # a million token units per wallet
        rows = []

        gas, txs, secs, peak = push_all(distributor, owner, wallets, [unit] * n, batch, args.estimate)
        rows.append(("push, first payment", n, txs, gas, peak, secs))
        gas, txs, secs, peak = push_all(distributor, owner, wallets, [2 * unit] * n, batch, args.estimate)
        rows.append(("push, returning wallet", n, txs, gas, peak, secs))
        gas, txs, secs, peak = push_all(distributor, owner, wallets, [2 * unit] * n, batch, args.estimate)
        rows.append(("push replayed (all skipped)", n, txs, gas, peak, secs))

        # A 10,000-leaf tree: 9,000 wallets already paid (returning) and 1,000 fresh ones.
        fresh = [to_checksum_address(os.urandom(20)) for _ in range(1_000)]
        cumulatives = {a: 3 * unit for a in wallets[:9_000]} | {a: 3 * unit for a in fresh}
        start = time.perf_counter()
        tree = earnings_tree(cumulatives)
        tree_secs = time.perf_counter() - start
        client.post_epoch(distributor, owner, 1, tree.root, bytes(32))
        index = {a: i for i, (a, _) in enumerate(tree.values)}
        claimer = owner
        for label, pool in (("claim, first payment", fresh), ("claim, returning wallet", wallets)):
            account = max((a for a in pool if a in index), key=lambda a: len(tree.proof(index[a])))
            proof = tree.proof(index[account])
            start = time.perf_counter()
            receipt = client.claim(distributor, claimer, account, 3 * unit, proof)
            rows.append((f"{label} (proof depth {len(proof)})", 1, 1, receipt["gasUsed"],
                         receipt["gasUsed"], time.perf_counter() - start))
        start = time.perf_counter()
        receipt = client.transact(token.functions.transfer(Account.create().address, unit), owner)
        rows.append(("plain ERC-20 transfer, fresh wallet", 1, 1, receipt["gasUsed"],
                     receipt["gasUsed"], time.perf_counter() - start))
    finally:
        if node:
            node.stop()

    print(f"\nchain: {args.chain}, {n:,} wallets, batches of {batch}, "
          f"gas {'estimated' if args.estimate else 'from push_gas_limit'}; "
          f"{len(tree):,}-leaf earnings tree built in {tree_secs:.2f} s\n")
    print("| operation | wallets | txs | gas / wallet | max gas in one tx | wall time |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, wallets_, txs, gas, peak, secs in rows:
        print(f"| {label} | {wallets_:,} | {txs} | {gas / wallets_:,.0f} | {peak:,} | {secs:.2f} s |")
    print(f"\nnode: {fork}; contracts compiled for evmVersion cancun, solc 0.8.37, optimizer 200 runs")


if __name__ == "__main__":
    main()
