"""Adapter routing through the engine: a fake server offers three LoRA adapters by name; the
engine picks one per call, sends it as the model name, learns from the answers' quality,
traces every pick and replays it."""

from __future__ import annotations

from typing import Any

from agentroute import Agent, FixedTierPolicy, Model, Pipeline
from agentroute.engine import Serving
from agentroute.events import AdapterPick, ModelCallEvent
from agentroute.models import Adapters
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Completion, ModelRequest
from tests.conftest import run

DOMAINS = {"select": "sql", "contract": "legal", "dose": "med"}


def features(query: str) -> list[float]:
    return [1.0, *(float(word in query) for word in DOMAINS)]


def quality(request: ModelRequest, completion: Completion) -> float:
    """1 when the adapter that answered is the query's domain's, else 0.2."""
    query = request.messages[-1].content
    want = next(a for w, a in DOMAINS.items() if w in query)
    return 1.0 if completion.text == f"served by {want}" else 0.2


def answer(body: dict[str, Any]) -> Reply:
    return Reply(f"served by {body['model']}")


def test_adapters_are_chosen_per_call_learned_and_replayed() -> None:
    with FakeModelServer(responder=answer) as server:
        adapters = Adapters(names=("sql", "legal", "med"), capacity=1, paging_s=0.4, epoch=8)
        model = Model.openai_compatible(server.url, "base", tier="small", adapters=adapters)
        p = Pipeline([Agent("a", "answers", models=[model], max_tokens=16)],
                     policy=FixedTierPolicy("small"))  # fmt: skip
        p.serving = Serving(quality=quality, features=features)
        queries = ["select rows", "select names", "select totals", "read this contract",
                   "dose for a child"] * 8  # fmt: skip

        async def go() -> list[Any]:
            out = [await p.arun(q) for q in queries]
            await p.aclose()
            return out

        results = run(go())
        picks = [r.trace.events(AdapterPick)[0] for r in results]
        # the request named the adapter the pick chose, and the call says so
        sent = [c.body["model"] for c in server.calls()]
        assert sent == [k.chosen for k in picks]
        assert all(r.trace.events(ModelCallEvent)[0].adapter == k.chosen
                   for r, k in zip(results, picks, strict=True))  # fmt: skip
        # learned: late queries reach their domain's adapter; the busiest stays resident
        late = picks[-10:]
        assert [k.chosen for k in late] == [DOMAINS[next(w for w in DOMAINS if w in q)]
                                            for q in queries[-10:]]  # fmt: skip
        assert late[-1].resident == ("sql",)
        assert any(k.paged and k.paging_s == 0.4 for k in late)  # a cold one, paging paid
        assert all(k.scores.keys() == {"sql", "legal", "med"} and k.reason for k in picks)
        before = len(server.calls())
        report = p.replay(results[-1].trace)
        assert report.identical, report.describe()
        assert len(server.calls()) == before
