"""Ledger, settlement and payouts. Importing it connects settlement to annotation's signals."""
from rewards import settlement as settlement  # noqa: F401  (connects the signal handlers)
