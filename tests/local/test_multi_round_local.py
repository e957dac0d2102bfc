"""Multi-round routing on the real embedded models: the large model routes sub-questions of a
two-hop question to the pool (small, large) round by round, held to the round's JSON schema by
llama.cpp's grammar, and the run replays from its trace with no model call. Exact answers are
not asserted (small models); the shape of every decision is."""

from __future__ import annotations

import pytest

from agentroute import Agent, Model, MultiRoundRouter, Pipeline, PoolModel
from agentroute.errors import RunError
from agentroute.events import ModelCallEvent, RoundEvent
from agentroute.trace import Trace

pytestmark = pytest.mark.local_model
QUESTION = (
    "Take the number of legs a spider has, multiply it by 37, then subtract 19. "
    "What number do you get?"
)


def pipeline(cost_weight: float = 0.3, margin: float | None = None, rounds: int = 3) -> Pipeline:
    small, large = Model.local("small"), Model.local("large")
    agent = Agent(
        "solver",
        "answers questions that take several steps",
        models=[large],
        pool=[
            PoolModel(small, "common facts; multi-step sums often wrong", latency_s=5.0, score=0.5),
            PoolModel(large, "facts and multi-step sums", latency_s=10.0, score=1.0),
        ],
        rounds=MultiRoundRouter(
            cost_weight=cost_weight, max_rounds=rounds, consult_tokens=96, value_margin=margin
        ),
        max_tokens=160,
    )
    return Pipeline([agent], budget_usd=0.05)


def test_rounds_on_the_local_models_are_well_formed_and_replay(small_and_large: None) -> None:
    p = pipeline()
    try:
        result = p.run(QUESTION)
        trace: Trace = result.trace
    except RunError as exc:  # the last round's action could not be followed: typed, traced
        trace = exc.trace  # type: ignore[attr-defined]
    rounds = trace.events(RoundEvent)
    assert 1 <= len(rounds) <= 3 and [r.round for r in rounds] == list(range(1, len(rounds) + 1))
    labels = {"local:small", "local:large"}
    for r in rounds:
        if r.action == "route":
            assert r.model in labels and r.query and "ranks" in r.effect
        assert set(r.values) == labels and r.cost_weight == 0.3
    # the grammar holds the JSON: no round the model wrote was unreadable
    assert not [r for r in rounds if r.action == "format_error"]
    purposes = [c.purpose for c in trace.events(ModelCallEvent) if c.ok]
    assert purposes.count("round") == len(rounds)
    assert purposes.count("consult") == sum(r.action == "route" for r in rounds)
    report = p.replay(trace)  # on recorded responses only: a request not recorded would fail
    assert report.identical, report.describe()


def test_the_grammar_holds_a_round_to_the_value_margin(small_and_large: None) -> None:
    """At cost weight 0 a margin of 0.2 leaves only the large model (value 1.0 against 0.5):
    llama.cpp's grammar lets the router name no other."""
    p = pipeline(cost_weight=0.0, margin=0.2, rounds=2)
    try:
        trace: Trace = p.run(QUESTION).trace
    except RunError as exc:
        trace = exc.trace  # type: ignore[attr-defined]
    first = trace.events(RoundEvent)[0]
    assert first.offered == ("local:large",)
    assert first.action == "answer" or first.model == "local:large"
