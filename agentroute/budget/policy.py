"""Per-step small/large choice. Policies are pure: they read signals, return a decision.

`FixedTierPolicy` gives the boundary runs (always-small, always-large). `EntropyPolicy` is
GlimpRouter's rule: the smallest model writes one probe token; when that token's entropy is
at or above the threshold, a larger model writes the step. `ThresholdPolicy` combines that
signal with the step index, recent failures and the share of budget left. The runtime applies budget
pressure afterwards: a tier the budget cannot pay for is downshifted, never overspent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from agentroute.errors import ConfigError
from agentroute.types import TIER_ORDER, Tier


@dataclass(frozen=True)
class SwitchDecision:
    tier: str
    reason: str
    signals: dict[str, float] = field(default_factory=dict)


class SwitchPolicy(Protocol):
    """Chooses a tier from signals. Optional members the engine reads when present:
    ``sigma_probes`` (sample that many small answers and add their disagreement as ``sigma``)
    and ``prompt_signals(text) -> dict[str, float]`` (called with the step's last user message;
    its result joins the signals, as `PromptPolicy` in ``agentroute.budget.prompted`` uses)."""

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


@dataclass(frozen=True)
class ThresholdPolicy:
    """Large when any trigger fires (probe entropy, recent failures, a late step), unless
    less than ``min_remaining_ratio`` of the budget is left: then small, to save the rest.

    Signals the runtime provides: ``first_token_entropy`` (when probing), ``sigma`` (when
    ``sigma_at`` is set: the disagreement of ``sigma_probes`` sampled small answers), ``step``,
    ``recent_failures`` (failed model attempts so far in the task) and ``remaining_ratio``.
    """

    entropy_at: float | None = 1.0
    failures_at: int | None = 1
    from_step: int | None = None
    sigma_at: float | None = None
    sigma_probes: int = 3
    min_remaining_ratio: float = 0.25
    probe_top_logprobs: int = 10
    name: str = "threshold"

    def __post_init__(self) -> None:
        if self.entropy_at is None:
            object.__setattr__(self, "probe_top_logprobs", 0)
        if self.sigma_at is None:
            object.__setattr__(self, "sigma_probes", 0)
        elif self.sigma_probes < 2:
            raise ConfigError("sigma needs at least 2 probes")

    def choose(self, tiers: tuple[str, ...], signals: Mapping[str, float]) -> SwitchDecision:
        small = min(tiers, key=TIER_ORDER.__getitem__)
        large = max(tiers, key=TIER_ORDER.__getitem__)
        fired = []
        entropy = signals.get("first_token_entropy")
        if self.entropy_at is not None and entropy is not None and entropy >= self.entropy_at:
            fired.append(f"entropy {entropy:.2f} >= {self.entropy_at:g}")
        failures = signals.get("recent_failures", 0.0)
        if self.failures_at is not None and failures >= self.failures_at:
            fired.append(f"{failures:.0f} recent failure(s)")
        s = signals.get("sigma")
        if self.sigma_at is not None and s is not None and s >= self.sigma_at:
            fired.append(f"sigma {s:.2f} >= {self.sigma_at:g}")
        step = signals.get("step", 0.0)
        if self.from_step is not None and step >= self.from_step:
            fired.append(f"step {step:.0f} >= {self.from_step}")
        remaining = signals.get("remaining_ratio", 1.0)
        if not fired:
            return SwitchDecision(small, "no trigger: stay small", dict(signals))
        if remaining < self.min_remaining_ratio:
            return SwitchDecision(
                small, f"{'; '.join(fired)}, but only {remaining:.0%} of the budget is left",
                dict(signals))  # fmt: skip
        return SwitchDecision(large, "; ".join(fired), dict(signals))
