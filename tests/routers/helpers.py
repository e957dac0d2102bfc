"""Shared pieces for router tests: model candidates on a real fake server, a toy embedder."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from agentroute.routers import Candidate
from agentroute.runtime.candidates import ModelCandidates
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Completer
from tests.conftest import fake_model

# one token with a spread of alternatives (entropy about 1.1 nats) and one that is sure
UNSURE = (("The", -1.1, (("The", -1.1), ("A", -1.2), ("So", -1.3), ("We", -1.4))),)
SURE = (("The", -0.01, (("The", -0.01), ("A", -5.0))),)


@asynccontextmanager
async def model_candidates(server: FakeModelServer) -> AsyncIterator[list[Candidate]]:
    """A cheap ``small`` and a dear ``large`` model, both on ``server``."""
    models = [
        fake_model(server, "small", tier="small", price_in=0.1, price_out=0.2),
        fake_model(server, "large", tier="large", price_in=2.0, price_out=8.0),
    ]
    async with ModelCandidates(models) as cands:
        yield cands


AGENTS = [
    Candidate("billing", "refunds, invoices, charges and payment methods",
              ("I was charged twice", "where is my invoice")),
    Candidate("shipping", "parcels, delivery dates, tracking and couriers",
              ("my parcel is late", "track my order")),
    Candidate("security", "passwords, logins, account takeovers and two-factor codes",
              ("I cannot log in", "reset my password")),
]  # fmt: skip


def toy_embed(texts: Sequence[str]) -> list[list[float]]:
    """Hashed bag of words, L2-normalised: enough to make word overlap look similar."""
    out = []
    for t in texts:
        v = [0.0] * 64
        for w in re.findall(r"[a-z]+", t.lower()):
            v[int(hashlib.sha256(w.encode()).hexdigest(), 16) % 64] += 1.0
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        out.append([x / n for x in v])
    return out


def reasoning_complete(server: FakeModelServer) -> Completer:
    from agentroute.models import connect

    endpoint = connect(fake_model(server, "router"))

    async def complete(req):  # type: ignore[no-untyped-def]
        return await endpoint.complete(req, timeout_s=5.0)

    return complete


def answer_everything(server: FakeModelServer, text: str) -> None:
    server.responder = lambda body: Reply(text, logprobs=UNSURE if body.get("logprobs") else None)
