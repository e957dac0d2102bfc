"""Drift detection: how soon `DriftMonitor` notices an agent whose behaviour shifts, and how
often it cries wolf on one that does not.

A simulated agent answers a stream of tasks drawn from a few task families; each family has a
typical answer (its wording varied word by word at random) and a typical tool. A stable agent
keeps doing that; a drifting one, from interaction ``SHIFT`` on, answers off-topic at a
different length and calls other tools, each interaction with probability ``DRIFT_P``.
Reported: the detection delay (interactions after the shift until the alarm) over several
seeds, and false alarms per 1,000 interactions of the stable agent. The interactions are fed
to the monitor directly (`DriftMonitor.record`), as the trace would hand them over.

    python benchmarks/drift_detection.py [--seeds 10] [--stable 5000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from agentroute.health import DriftMonitor, Interaction

FAMILIES = {
    "refund": ("refund order {n} please", "your refund for order {n} was issued to the card "
               "you paid with and should arrive within five working days", "lookup_order"),
    "shipping": ("where is parcel {n}", "parcel {n} left the warehouse yesterday and the "
                 "carrier expects to deliver it on thursday before noon", "track_parcel"),
    "invoice": ("send invoice {n} again", "i sent invoice {n} again to the address on your "
                "account; it is also in your dashboard under billing", "find_invoice"),
    "password": ("reset my password", "i sent a reset link to your email; it works for one "
                 "hour, and the old password stops working once you set a new one", None),
}  # fmt: skip
FILLER = [
    "maybe",
    "perhaps",
    "also",
    "indeed",
    "really",
    "quite",
    "rather",
    "simply",
    "just",
    "certainly",
]
OFF = (
    "as an ai i find the question of {n} fascinating; consider the history of postal systems, "
    "the philosophy of refunds and several poems about parcels"
)
SHIFT = 200
DRIFT_P = 0.8
"""After the shift, the share of interactions that are off (the rest stay normal)."""


def _vary(text: str, rng: random.Random) -> str:
    """The typical answer with a few words dropped or added (an LLM never says it the same)."""
    words = [w for w in text.split() if rng.random() > 0.1]
    for _ in range(rng.randint(0, 3)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(FILLER))
    return " ".join(words)


def interaction(rng: random.Random, drifting: bool, p: float = DRIFT_P) -> Interaction:
    family = rng.choice(list(FAMILIES))
    task, answer, tool = FAMILIES[family]
    n = rng.randint(1000, 9999)
    if drifting and rng.random() < p:
        text = " ".join([OFF.format(n=n)] * rng.randint(1, 6))
        tools = tuple(rng.choice(["web_search", "python", "lookup_order"])
                      for _ in range(rng.randint(0, 3)))  # fmt: skip
        return Interaction("agent", task.format(n=n), text, tools)
    return Interaction("agent", task.format(n=n), _vary(answer.format(n=n), rng),
                       (tool,) if tool else ())  # fmt: skip


def delay(seed: int, p: float, **params: float) -> int | None:
    """Interactions after the shift until the alarm (None: never, within 300; negative: an
    alarm before the shift)."""
    rng = random.Random(seed)
    m = DriftMonitor(**params)  # type: ignore[arg-type]
    for i in range(SHIFT + 300):
        m.record(interaction(rng, i >= SHIFT, p))
        if m.alarmed("agent"):
            return i - SHIFT + 1 if i >= SHIFT else -(SHIFT - i)
    return None


def false_alarms(seed: int, n: int, **params: float) -> tuple[int, int]:
    """Alarms raised (rising edges) on a stable agent over ``n`` interactions, and how many
    interactions were scored (after the baseline)."""
    rng = random.Random(seed)
    m = DriftMonitor(**params)  # type: ignore[arg-type]
    alarms, was = 0, False
    for _ in range(n):
        m.record(interaction(rng, drifting=False))
        now = m.alarmed("agent")
        alarms += now and not was
        was = now
    return alarms, n - m.baseline


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--stable", type=int, default=5000, help="interactions per stable seed")
    args = ap.parse_args()
    started = time.process_time()
    base = {"window": 10, "stride": 5, "baseline": 20, "patience": 3, "recover": 2}
    print(f"DriftMonitor{base}, default weights; shift at interaction {SHIFT}; "
          f"{args.seeds} seeds; stable agent: {args.stable:,} interactions per seed")  # fmt: skip
    print()
    print("| threshold | share off after the shift | detected | delay, interactions: median "
          "(min-max) | stable agent: false alarms per 1,000 interactions |")  # fmt: skip
    print("|---|---|---|---|---|")
    for threshold in (0.75, 0.85, 0.9):
        params = {**base, "threshold": threshold}
        stable = [false_alarms(100 + s, args.stable, **params) for s in range(args.seeds)]
        alarms, scored = sum(a for a, _ in stable), sum(n for _, n in stable)
        rate = f"{1000 * alarms / scored:.2f} ({alarms} in {scored:,})"
        for p in (DRIFT_P, 0.4):
            delays = [delay(seed, p, **params) for seed in range(args.seeds)]
            found = [d for d in delays if d is not None and d > 0]
            early = sum(1 for d in delays if d is not None and d <= 0)
            spread = (f"{statistics.median(found):g} ({min(found)}-{max(found)})"
                      if found else "-")  # fmt: skip
            note = f", {early} before the shift" if early else ""
            print(f"| {threshold} | {p:.0%} | {len(found)} of {args.seeds}{note} | {spread} "
                  f"| {rate} |")  # fmt: skip
    print()
    print(f"CPU time: {time.process_time() - started:.1f} s")


if __name__ == "__main__":
    main()
