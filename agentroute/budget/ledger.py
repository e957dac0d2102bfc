"""`Budget` (a frozen value) and `Ledger` (reserve before a call, settle after).

The ledger reserves each call's worst case before it is made: an upper bound on its prompt
tokens times the input price, plus ``max_tokens`` times the output price. A call that does not
fit is refused before any byte leaves the machine, so the limit holds even when every call
runs to its maximum. Settling replaces the reservation with the cost from reported usage.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentroute.errors import BudgetExceededError, ConfigError
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
    """Per-task limits; ``None`` means unlimited. Tokens count input plus output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    calls: int | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)
    wall_s: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)

    def __init__(self, **limits: Any) -> None:
        try:
            super().__init__(**limits)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(
                f"invalid budget: {'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None

    def __str__(self) -> str:
        parts = [f"${self.usd:.6g}" if self.usd is not None else "unlimited USD"]
        if self.calls is not None:
            parts.append(f"{self.calls} calls")
        if self.tokens is not None:
            parts.append(f"{self.tokens} tokens")
        if self.wall_s is not None:
            parts.append(f"{self.wall_s:g} s")
        return "Budget(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class Reservation:
    id: int
    label: str
    amount_usd: float
    tokens: int
    max_tokens: int
    parent: Reservation | None = None


class Account(Protocol):
    """What a ledger's parent must do: a `Ledger`, or an account held elsewhere (the Ray
    fleet's escrow actor), which hears of every reservation before its request is sent."""

    def reserve(
        self, label: str, price: Price, input_tokens: int, max_tokens: int
    ) -> Reservation: ...

    def settle(
        self, reservation: Reservation, price: Price, usage: Usage | None
    ) -> tuple[float, float]: ...

    def release(self, reservation: Reservation) -> None: ...

    def remaining_usd(self) -> float: ...

    def remaining_tokens(self) -> float: ...


class Ledger:
    """Thread- and task-safe accounting of one task's spend against its `Budget`.

    A child ledger (`child`) holds a sub-budget, for a step or a sub-agent: every reservation
    in it is also a reservation in its parent, so neither limit can be passed.
    """

    def __init__(
        self,
        budget: Budget | None = None,
        *,
        parent: Account | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = budget or Budget()
        self.parent = parent
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._spent = 0.0
        self._spent_tokens = 0
        self._reserved: dict[int, tuple[float, int]] = {}
        # running totals of what is reserved, so a reservation costs O(1) however many are
        # outstanding (a fleet's or a busy parent's ledger holds many)
        self._held_usd = 0.0
        self._held_tokens = 0
        self._next_id = 0
        self.calls = 0
        self.overshoot_usd = 0.0

    def child(self, budget: Budget) -> Ledger:
        return Ledger(budget, parent=self, clock=self._clock)

    @property
    def spent_usd(self) -> float:
        return self._spent

    @property
    def spent_tokens(self) -> int:
        return self._spent_tokens

    @property
    def reserved_usd(self) -> float:
        return self._held_usd

    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def remaining_usd(self) -> float:
        own = math.inf
        if self.budget.usd is not None:
            with self._lock:
                own = max(0.0, self.budget.usd - self._spent - self.reserved_usd)
        return min(own, self.parent.remaining_usd()) if self.parent else own

    def remaining_tokens(self) -> float:
        own: float = math.inf
        if self.budget.tokens is not None:
            with self._lock:
                own = max(0, self.budget.tokens - self._spent_tokens - self._held_tokens)
        return min(own, self.parent.remaining_tokens()) if self.parent else own

    def affordable_max_tokens(self, price: Price, input_tokens: int, wanted: int) -> int:
        """The largest ``max_tokens`` (at most ``wanted``) whose worst case still fits every
        limit up the chain; 0 if not even the prompt fits."""
        best: float = wanted
        tokens_left = self.remaining_tokens()
        if not math.isinf(tokens_left):
            best = min(best, tokens_left - input_tokens)
        usd_left = self.remaining_usd()
        if not math.isinf(usd_left):
            left = usd_left - price.worst_case(input_tokens, 0)
            if left < 0:
                return 0
            if price.output_per_mtok > 0:
                best = min(best, int(left * 1_000_000 / price.output_per_mtok))
        return max(0, int(best))

    def reserve(self, label: str, price: Price, input_tokens: int, max_tokens: int) -> Reservation:
        if self.budget.wall_s is not None and self.elapsed_s() > self.budget.wall_s:
            raise BudgetExceededError(
                f"{label}: wall-time budget of {self.budget.wall_s:g}s is used up",
                limit=self.budget.wall_s, spent=self.elapsed_s(), requested=0.0, unit="seconds",
            )  # fmt: skip
        above = self.parent.reserve(label, price, input_tokens, max_tokens) if self.parent else None
        try:
            return self._reserve_here(label, price, input_tokens, max_tokens, above)
        except BudgetExceededError:
            if above is not None and self.parent is not None:
                self.parent.release(above)
            raise

    def _reserve_here(
        self,
        label: str,
        price: Price,
        input_tokens: int,
        max_tokens: int,
        above: Reservation | None,
    ) -> Reservation:
        amount = price.worst_case(input_tokens, max_tokens)
        tokens = input_tokens + max_tokens
        with self._lock:
            committed = self._spent + self.reserved_usd
            held = self._spent_tokens + self._held_tokens
            b = self.budget
            if b.calls is not None and self.calls >= b.calls:
                raise BudgetExceededError(
                    f"call limit of {b.calls} reached",
                    limit=b.calls,
                    spent=self.calls,
                    requested=1,
                    unit="calls",
                )
            if b.tokens is not None and held + tokens > b.tokens:
                raise BudgetExceededError(
                    f"{label}: up to {tokens} tokens do not fit: {held} of {b.tokens} committed",
                    limit=b.tokens, spent=held, requested=tokens, unit="tokens",
                )  # fmt: skip
            if b.usd is not None and committed + amount > b.usd + 1e-12:
                raise BudgetExceededError(
                    f"{label}: worst case ${amount:.6g} does not fit: ${committed:.6g} of "
                    f"${b.usd:.6g} already committed",
                    limit=b.usd, spent=committed, requested=amount,
                )  # fmt: skip
            rid = self._next_id
            self._next_id += 1
            self._reserved[rid] = (amount, tokens)
            self._held_usd += amount
            self._held_tokens += tokens
            self.calls += 1
            return Reservation(rid, label, amount, tokens, max_tokens, above)

    def settle(
        self, reservation: Reservation, price: Price, usage: Usage | None
    ) -> tuple[float, float]:
        """Book the real cost (the reserved worst case when usage was not reported), here and
        up the chain. Returns (actual cost, overshoot beyond the reservation)."""
        actual = reservation.amount_usd if usage is None else price.cost(usage)
        tokens = reservation.tokens if usage is None else usage.total_tokens
        overshoot = max(0.0, actual - reservation.amount_usd)
        with self._lock:
            self._unhold(reservation.id)
            self._spent += actual
            self._spent_tokens += tokens
            self.overshoot_usd += overshoot
        if reservation.parent is not None and self.parent is not None:
            self.parent.settle(reservation.parent, price, usage)
        return actual, overshoot

    def release(self, reservation: Reservation) -> None:
        """Drop a reservation whose call produced no billable answer, here and up the chain."""
        with self._lock:
            self._unhold(reservation.id)
        if reservation.parent is not None and self.parent is not None:
            self.parent.release(reservation.parent)

    def _unhold(self, rid: int) -> None:
        """Drop reservation ``rid`` from the running totals (call with the lock held)."""
        held = self._reserved.pop(rid, None)
        if held is None:
            return
        if self._reserved:
            self._held_usd -= held[0]
            self._held_tokens -= held[1]
        else:  # nothing outstanding: exactly zero, no float drift carried on
            self._held_usd, self._held_tokens = 0.0, 0

    def carry(self, usd: float, tokens: int = 0, calls: int = 0) -> None:
        """Book spend from an earlier part of the same task (a durable run resumed in a new
        process), here only: each ledger of a chain carries its own part."""
        if usd < 0 or tokens < 0 or calls < 0:
            raise ValueError("carried spend cannot be negative")
        with self._lock:
            self._spent += usd
            self._spent_tokens += tokens
            self.calls += calls

    def outstanding(self) -> int:
        """Reservations neither settled nor released (zero once a task has ended)."""
        with self._lock:
            return len(self._reserved)
