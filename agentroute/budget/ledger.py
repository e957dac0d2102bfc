"""`Budget` (a frozen value) and `Ledger` (reserve before a call, settle after).

The ledger reserves each call's worst case before it is made: an upper bound on its prompt
tokens times the input price, plus ``max_tokens`` times the output price. A call that does not
fit is refused before any byte leaves the machine, so the limit holds even when every call
runs to its maximum. Settling replaces the reservation with the cost from reported usage.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from agentroute.errors import BudgetExceededError
from agentroute.types import Message, Price, Usage

# Chat templates add a few special tokens around each message; byte-level BPE never makes
# more tokens than there are UTF-8 bytes, so bytes + this overhead is a true upper bound.
_PER_MESSAGE_OVERHEAD = 8
_PER_REQUEST_OVERHEAD = 16


def estimate_input_tokens(messages: tuple[Message, ...], tool_schema_bytes: int = 0) -> int:
    """An upper bound on the prompt's token count, with no tokenizer at hand."""
    total = _PER_REQUEST_OVERHEAD + tool_schema_bytes
    for m in messages:
        total += len(m.content.encode()) + _PER_MESSAGE_OVERHEAD
        total += sum(len(c.arguments.encode()) + len(c.name) for c in m.tool_calls)
    return total


class Budget(BaseModel):
    """Per-task limits. ``None`` means unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd: float | None = Field(default=None, ge=0.0)
    calls: int | None = Field(default=None, ge=0)

    def __str__(self) -> str:
        parts = [f"${self.usd:.6g}" if self.usd is not None else "unlimited USD"]
        if self.calls is not None:
            parts.append(f"{self.calls} calls")
        return "Budget(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class Reservation:
    id: int
    label: str
    amount_usd: float
    max_tokens: int


class Ledger:
    """Thread- and task-safe accounting of one task's spend against its `Budget`."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self._lock = threading.Lock()
        self._spent = 0.0
        self._reserved: dict[int, float] = {}
        self._next_id = 0
        self.calls = 0
        self.overshoot_usd = 0.0

    @property
    def spent_usd(self) -> float:
        return self._spent

    @property
    def reserved_usd(self) -> float:
        return sum(self._reserved.values())

    def remaining_usd(self) -> float:
        if self.budget.usd is None:
            return math.inf
        with self._lock:
            return max(0.0, self.budget.usd - self._spent - sum(self._reserved.values()))

    def affordable_max_tokens(self, price: Price, input_tokens: int, wanted: int) -> int:
        """The largest ``max_tokens`` (at most ``wanted``) whose worst case still fits; 0 if
        not even the prompt fits."""
        if self.budget.usd is None:
            return wanted
        left = self.remaining_usd() - price.worst_case(input_tokens, 0)
        if left < 0:
            return 0
        if price.output_per_mtok == 0:
            return wanted
        return max(0, min(wanted, int(left * 1_000_000 / price.output_per_mtok)))

    def reserve(self, label: str, price: Price, input_tokens: int, max_tokens: int) -> Reservation:
        amount = price.worst_case(input_tokens, max_tokens)
        with self._lock:
            committed = self._spent + sum(self._reserved.values())
            if self.budget.calls is not None and self.calls >= self.budget.calls:
                raise BudgetExceededError(
                    f"call limit of {self.budget.calls} reached",
                    limit=self.budget.calls,
                    spent=self.calls,
                    requested=1,
                    unit="calls",
                )
            if self.budget.usd is not None and committed + amount > self.budget.usd + 1e-12:
                raise BudgetExceededError(
                    f"{label}: worst case ${amount:.6g} does not fit: ${committed:.6g} of "
                    f"${self.budget.usd:.6g} already committed",
                    limit=self.budget.usd,
                    spent=committed,
                    requested=amount,
                )
            rid = self._next_id
            self._next_id += 1
            self._reserved[rid] = amount
            self.calls += 1
            return Reservation(rid, label, amount, max_tokens)

    def settle(
        self, reservation: Reservation, price: Price, usage: Usage | None
    ) -> tuple[float, float]:
        """Book the real cost (the reserved worst case when usage was not reported).

        Returns (actual cost, overshoot beyond the reservation)."""
        actual = reservation.amount_usd if usage is None else price.cost(usage)
        overshoot = max(0.0, actual - reservation.amount_usd)
        with self._lock:
            self._reserved.pop(reservation.id, None)
            self._spent += actual
            self.overshoot_usd += overshoot
        return actual, overshoot

    def release(self, reservation: Reservation) -> None:
        """Drop a reservation whose call produced no billable answer."""
        with self._lock:
            self._reserved.pop(reservation.id, None)
