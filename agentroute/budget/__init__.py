"""Budgets that are never exceeded, and the small/large switching policies that respect them."""

from agentroute.budget.ledger import (
    Account,
    Budget,
    Ledger,
    Reservation,
    estimate_input_tokens,
)
from agentroute.budget.policy import (
    EntropyPolicy,
    FixedTierPolicy,
    SwitchDecision,
    SwitchPolicy,
    ThresholdPolicy,
)

__all__ = [
    "Account", "Budget", "EntropyPolicy", "FixedTierPolicy", "Ledger", "Reservation",
    "SwitchDecision", "SwitchPolicy", "ThresholdPolicy", "estimate_input_tokens",
]  # fmt: skip
