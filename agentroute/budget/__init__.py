"""Budgets that are never exceeded, and the small/large switching policies that respect them."""

from agentroute.budget.ledger import Budget, Ledger, Reservation, estimate_input_tokens
from agentroute.budget.policy import EntropyPolicy, FixedTierPolicy, SwitchDecision, SwitchPolicy

__all__ = [
    "Budget", "EntropyPolicy", "FixedTierPolicy", "Ledger", "Reservation", "SwitchDecision",
    "SwitchPolicy", "estimate_input_tokens",
]  # fmt: skip
