"""The payout engine: exactly-once ERC-20 payouts through an outbox.

1. `build_epoch` (epochs.py; one unit of work, the caller commits): every worker with a wallet
   and at least MIN_PAYOUT available has it moved available → payout in flight (accounting.py);
   the epoch's trees are built and the transactions to post the roots, fund the distributor and
   push the payments are queued. Committed before anything is sent.
2. `send_queued` (sending.py): each queued transaction gets the signer's next nonce, allocated
   from the database under a row lock; it is signed (EIP-1559, fees under the configured cap)
   and the raw bytes are stored and committed; only then is it broadcast.
3. `confirm_sent` (confirming.py): the chain decides. A transaction buried under the
   confirmation rule settles; a reverted one returns the money to available and raises an alert;
   a dropped or reorged one is re-broadcast from its stored bytes; a stuck one is re-signed with
   the same nonce and fees raised 12.5%.
4. `reconcile_chain` (reconciling.py): per wallet, what the ledger paid must equal the
   distributor's `claimed`; the distributor must hold what is in flight. Reported, never fixed.
5. `contribution_proof` and `check_contribution_proof` (proofs.py): what an annotator downloads,
   valid only against the root posted on chain.

Transactions: the services flush and never commit. cycle.py is the boundary that sequences
them, committing between the database steps and calling the chain with no transaction open
(transactions.py holds that rule); the worker and the CLI call it. Replays are harmless by
construction: the distributor pays `cumulative − claimed` and skips anyone already paid.
"""
from rewards.payouts.accounting import (
    PayoutRef,
    complete_payout,
    complete_payouts,
    fail_payout,
    reserve_payout,
    reserve_payouts,
)
from rewards.payouts.alerts import alert
from rewards.payouts.confirming import OPEN_STATUSES, ConfirmReport
from rewards.payouts.cycle import (
    confirm_sent,
    rebroadcast_signed,
    reconcile_chain,
    run_payout_cycle,
    send_queued,
    start_epoch,
)
from rewards.payouts.epochs import ZERO_ROOT, build_epoch, label_json, open_epoch, paid_cumulatives
from rewards.payouts.proofs import (
    PostedRoot,
    ProofCheck,
    check_contribution_proof,
    contribution_proof,
    proof_structure_error,
    root_on_chain,
    root_on_record,
)
from rewards.payouts.reconciling import ChainReconciliation
from rewards.payouts.sending import Fees, current_fees

__all__ = [
    "OPEN_STATUSES", "ZERO_ROOT", "ChainReconciliation", "ConfirmReport", "Fees", "PayoutRef", "PostedRoot",
    "ProofCheck", "alert", "build_epoch", "check_contribution_proof", "complete_payout", "complete_payouts",
    "confirm_sent", "contribution_proof", "current_fees", "fail_payout", "label_json", "open_epoch",
    "paid_cumulatives", "proof_structure_error", "rebroadcast_signed", "reconcile_chain", "reserve_payout",
    "reserve_payouts", "root_on_chain", "root_on_record", "run_payout_cycle", "send_queued", "start_epoch",
]
