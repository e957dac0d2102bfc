"""A learned small/large policy: logistic regression on the signals a step already has,
labelled by what the two boundary policies achieved on the same tasks.

Run the tasks once with always-small and once with always-large (a `FixedTierPolicy` with
``probe_top_logprobs`` set records the probe signals in its ``model_switch`` events), judge each
run, and label each task with `boundary_label`:

- easy: the small model succeeds; hard: only the large one does; intractable: neither.

`LearnedPolicy.fit` learns P(hard | signals). Escalating pays only on hard tasks, so easy and
intractable both count as "stay small": spending more on an intractable task buys nothing.
Fitting uses scikit-learn (``pip install 'agentroute[learn]'``); the fitted policy is a plain
`Logistic` value that scores without it and saves as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentroute.budget.policy import SwitchDecision
from agentroute.errors import ConfigError
from agentroute.events import EventBase, ModelSwitch
from agentroute.types import TIER_ORDER, Logistic

Label = Literal["easy", "hard", "intractable"]


def boundary_label(small_ok: bool, large_ok: bool) -> Label:
    if small_ok:
        return "easy"
    return "hard" if large_ok else "intractable"


def probe_signals(events: Iterable[EventBase], step: int | None = None) -> dict[str, float]:
    """The signals of the first ``model_switch`` event (of ``step``, when given) in a trace."""
    for e in events:
        if isinstance(e, ModelSwitch) and (step is None or e.step == step):
            return dict(e.signals)
    raise ConfigError("no model_switch event in these events: was the run traced with a policy?")


def fit_logistic(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[bool],
    features: Sequence[str] | None = None,
    c: float = 1.0,
) -> Logistic:
    """Fit L2-regularised logistic regression (inverse strength ``c``) on standardised
    features; ``features`` defaults to every key seen. Missing values count as the mean."""
    if len(rows) != len(labels) or not rows:
        raise ConfigError(f"need matching, non-empty rows and labels ({len(rows)}, {len(labels)})")
    if len(set(labels)) < 2:
        raise ConfigError("labels are all the same: a classifier cannot be fitted")
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ConfigError("fitting needs scikit-learn: pip install 'agentroute[learn]'") from e
    names = list(features or sorted({k for r in rows for k in r}))
    if not names:
        raise ConfigError("no features to fit on")
    means, scales = [], []
    for f in names:
        present = [float(r[f]) for r in rows if f in r]
        mean = sum(present) / len(present) if present else 0.0
        var = sum((v - mean) ** 2 for v in present) / len(present) if present else 0.0
        means.append(mean)
        scales.append(var**0.5 if var > 1e-12 else 1.0)
    matrix = [
        [(float(r.get(f, m)) - m) / s for f, m, s in zip(names, means, scales, strict=True)]
        for r in rows
    ]
    clf = LogisticRegression(C=c, max_iter=1000).fit(matrix, [int(y) for y in labels])
    return Logistic(
        features=tuple(names),
        weights=tuple(float(w) for w in clf.coef_[0]),
        bias=float(clf.intercept_[0]),
        means=tuple(means),
        scales=tuple(scales),
    )


@dataclass(frozen=True)
class LearnedPolicy:
    """Large when the fitted P(hard | signals) is at or above ``threshold``."""

    model: Logistic
    threshold: float = 0.5
    probe_top_logprobs: int = 10
    name: str = "learned"

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError("threshold must lie in [0, 1]")
        if "first_token_entropy" not in self.model.features:
            object.__setattr__(self, "probe_top_logprobs", 0)

    @classmethod
    def fit(
        cls,
        signals: Sequence[Mapping[str, float]],
        labels: Sequence[Label],
        features: Sequence[str] | None = None,
        threshold: float = 0.5,
        c: float = 1.0,
    ) -> LearnedPolicy:
        return cls(fit_logistic(signals, [y == "hard" for y in labels], features, c), threshold)

    def choose(self, tiers: tuple[str, ...], signals: Mapping[str, float]) -> SwitchDecision:
        small = min(tiers, key=TIER_ORDER.__getitem__)
        large = max(tiers, key=TIER_ORDER.__getitem__)
        p = self.model.probability(dict(signals))
        out = {**signals, "p_hard": p}
        if p >= self.threshold and large != small:
            return SwitchDecision(large, f"P(hard) {p:.2f} >= {self.threshold:g}", out)
        return SwitchDecision(small, f"P(hard) {p:.2f} < {self.threshold:g}", out)

    def save(self, path: str | Path) -> None:
        data = {"threshold": self.threshold, "model": self.model.model_dump(mode="json")}
        Path(path).write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> LearnedPolicy:
        try:
            data = json.loads(Path(path).read_text())
            return cls(Logistic.model_validate(data["model"]), float(data["threshold"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot load a learned policy from {path}: {e}") from e
