"""Intent inference: mixture weights over task types for a query.

`EmbeddingIntent` (the default) embeds a few examples per task type, keeps one centroid per
type, and turns the query's cosine similarities into weights with a softmax at
``temperature``. `LLMIntent` asks a small model to name the task type and puts most weight on
it. Both return ``{task_type: weight}`` summing to 1; the embedding function and the model call
are injected, so this package imports only the kernel.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from agentroute.errors import ConfigError
from agentroute.types import Completer, Message, ModelRequest

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]


def _normalise(v: Sequence[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n else [0.0 for _ in v]


def softmax(scores: Mapping[str, float], temperature: float) -> dict[str, float]:
    top = max(scores.values())
    exp = {k: math.exp((v - top) / temperature) for k, v in scores.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


@dataclass
class EmbeddingIntent:
    embed: Embed = field(repr=False)
    examples: Mapping[str, Sequence[str]]
    temperature: float = 0.05
    _centroids: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.examples or any(not v for v in self.examples.values()):
            raise ConfigError("every task type needs at least one example")
        if self.temperature <= 0:
            raise ConfigError("temperature must be > 0")
        for task_type, texts in self.examples.items():
            vectors = [_normalise(v) for v in self.embed(list(texts))]
            mean = [sum(col) / len(vectors) for col in zip(*vectors, strict=True)]
            self._centroids[task_type] = _normalise(mean)

    def weights(self, query: str) -> dict[str, float]:
        (q,) = self.embed([query])
        qn = _normalise(q)
        sims = {
            t: sum(a * b for a, b in zip(qn, c, strict=True)) for t, c in self._centroids.items()
        }
        return softmax(sims, self.temperature)


@dataclass(frozen=True)
class LLMIntent:
    """The small model names one task type; it gets ``confidence`` of the weight and the rest
    share what is left. An answer naming no known type gives uniform weights."""

    complete: Completer = field(repr=False)
    task_types: Sequence[str]
    confidence: float = 0.85

    async def weights(self, query: str) -> dict[str, float]:
        types = list(self.task_types)
        request = ModelRequest(
            messages=(
                Message.system(
                    "Classify the request into exactly one task type. Answer with the type "
                    f"name only, one of: {', '.join(types)}."
                ),
                Message.user(query),
            ),
            max_tokens=8,
        )
        text = (await self.complete(request)).text.lower()
        named = [t for t in types if re.search(rf"\b{re.escape(t.lower())}\b", text)]
        if len(named) != 1 or len(types) == 1:
            return {t: 1.0 / len(types) for t in types}
        rest = (1.0 - self.confidence) / (len(types) - 1)
        return {t: self.confidence if t == named[0] else rest for t in types}
