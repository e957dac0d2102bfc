"""Per-step small/large choice. Policies are pure: they read signals, return a decision.

`FixedTierPolicy` gives the boundary runs (always-small, always-large). `EntropyPolicy` is
GlimpRouter's rule: the smallest model writes one probe token; when that token's entropy is
at or above the threshold, a larger model writes the step. The runtime applies budget
pressure afterwards: a tier the budget cannot pay for is downshifted, never overspent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from agentroute.types import TIER_ORDER, Tier


@dataclass(frozen=True)
class SwitchDecision:
    tier: str
    reason: str
    signals: dict[str, float] = field(default_factory=dict)


class SwitchPolicy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def probe_top_logprobs(self) -> int:
        """How many alternatives the one-token probe should return; 0 means no probe."""
        ...

    def choose(self, tiers: tuple[str, ...], signals: Mapping[str, float]) -> SwitchDecision: ...


@dataclass(frozen=True)
class FixedTierPolicy:
    """Always the given tier (or the nearest one the agent has): the boundary policies."""

    tier: Tier = "small"
    name: str = "fixed"
    probe_top_logprobs: int = 0

    def choose(self, tiers: tuple[str, ...], signals: Mapping[str, float]) -> SwitchDecision:
        want = TIER_ORDER[self.tier]
        best = min(tiers, key=lambda t: (abs(TIER_ORDER[t] - want), -TIER_ORDER[t]))
        return SwitchDecision(best, f"always {self.tier}", dict(signals))


@dataclass(frozen=True)
class EntropyPolicy:
    """Escalate from the smallest to the largest tier when the probe token's entropy (nats,
    over the returned alternatives) is at or above ``threshold``."""

    threshold: float = 1.0
    probe_top_logprobs: int = 10
    name: str = "entropy"

    def choose(self, tiers: tuple[str, ...], signals: Mapping[str, float]) -> SwitchDecision:
        small = min(tiers, key=TIER_ORDER.__getitem__)
        large = max(tiers, key=TIER_ORDER.__getitem__)
        entropy = signals.get("first_token_entropy")
        if entropy is None:
            return SwitchDecision(small, "no probe signal: stay small", dict(signals))
        if entropy >= self.threshold and large != small:
            return SwitchDecision(
                large,
                f"probe entropy {entropy:.2f} >= {self.threshold:g}: {large} writes",
                dict(signals),
            )
        return SwitchDecision(
            small,
            f"probe entropy {entropy:.2f} < {self.threshold:g}: {small} writes",
            dict(signals),
        )
