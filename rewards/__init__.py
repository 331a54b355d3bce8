"""Money: the ledger, escrow and the pay floor, earnings and holds, bonuses, disputes, deposits,
payouts and the chain. Services here are called explicitly by app/operations; nothing listens."""
