"""Multi-round routing (Router-R1) on a real fake server: the agent's model routes sub-questions
to pool models round by round inside the engine (every round a traced decision and a booked
call), format errors end their round visibly, the budget and the round limit hold, a failed
pool model is routed around, and runs replay with no model call. The parser is a pure function
with typed errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute import Agent, FixedTierPolicy, Pipeline
from agentroute.agents import PoolModel
from agentroute.errors import ActionFormatError, ConfigError, ResponseFormatError
from agentroute.events import BudgetRefused, ModelCallEvent, ModelSwitch, RoundEvent, RunStart
from agentroute.routers import (
    AnswerAction,
    Candidate,
    Member,
    MultiRoundRouter,
    RouteAction,
    parse_action,
    parse_choice,
)
from agentroute.routers.conformance import HOSTILE_OUTPUTS
from agentroute.routers.multi_round import effect, ranked, values, within
from agentroute.runtime.langgraph_backend import DurablePipeline
from agentroute.testing import Fail, FakeModelServer, Reply
from agentroute.types import RouteDecision
from tests.conftest import fake_model, run
from tests.routers.helpers import reasoning_complete

POOL = ("openai:small", "openai:large")


def route(model: str, query: str, think: str = "") -> Reply:
    return Reply(json.dumps({"think": think, "action": "route", "model": model, "query": query}))


def answer(text: str, think: str = "") -> Reply:
    return Reply(json.dumps({"think": think, "action": "answer", "answer": text}))


def solver(server: FakeModelServer, dear: float = 1.0, **rounds: Any) -> Agent:
    """A router over a cheap small model and a dear large one (``dear`` times dearer)."""
    small = fake_model(server, "small", tier="small", price_in=0.1, price_out=0.2)
    large = fake_model(server, "large", tier="large", price_in=2.0 * dear, price_out=8.0 * dear)
    return Agent(
        "solver",
        "answers questions that take several steps",
        models=[fake_model(server, "router", tier="large")],
        pool=[
            PoolModel(small, "knows common facts; weak at sums", latency_s=0.5, score=0.4),
            PoolModel(large, "good at arithmetic", latency_s=2.0, score=0.8),
        ],
        rounds=MultiRoundRouter(**rounds),
        max_tokens=96,
    )


def two_hops(server: FakeModelServer) -> None:
    server.script(
        route("openai:small", "How many legs does a spider have?", "first the fact"),
        route("openai:large", "What is 8 * 37 - 19?", "now the sum"),
        answer("277", "the large model computed it"),
        model="router",
    )
    server.script(Reply("A spider has 8 legs."), model="small")
    server.script(Reply("8 * 37 = 296; 296 - 19 = 277. Answer: 277"), model="large")


QUESTION = "Multiply the number of legs a spider has by 37, then subtract 19."


# -- the parser: pure, typed errors ---------------------------------------------------------
def test_json_and_tag_actions_parse_to_the_same_actions() -> None:
    as_json = parse_action(
        '{"think": "need a fact", "action": "route", "model": "openai:small", "query": "Legs?"}',
        POOL,
    )
    as_tags = parse_action("<think>need a fact</think>\n<search>openai:small: Legs?</search>", POOL)
    assert as_json == as_tags == RouteAction("openai:small", "Legs?", "need a fact")
    short = parse_action("<search> small : Legs? </search>", POOL)  # the name after the provider
    assert short == RouteAction("openai:small", "Legs?", "")
    assert parse_action('{"action": "answer", "answer": " 277 "}', POOL) == AnswerAction("277")
    assert parse_action("<think>done</think><answer>277</answer>", POOL, final=True) == (
        AnswerAction("277", "done")
    )
    # the first action written is the one taken; a tag left open at the end still counts
    assert isinstance(parse_action("<answer>8</answer><search>small: x</search>", POOL),
                      AnswerAction)  # fmt: skip
    assert parse_action("<search>openai:large: What is 8*37?", POOL).model == "openai:large"


@pytest.mark.parametrize(
    ("text", "offered", "final", "problem"),
    [
        ("I think it is 277", POOL, False, "no_action"),
        ("", POOL, False, "no_action"),
        ('{"action": "route", "model": "gpt-9", "query": "x"}', POOL, False, "unknown_model"),
        ('{"action": "route", "model": "openai:large", "query": "x"}', POOL[:1], False,
         "unavailable_model"),
        ('{"action": "route", "model": "openai:small", "query": "  "}', POOL, False,
         "empty_query"),
        ('{"action": "answer", "answer": ""}', POOL, False, "empty_answer"),
        ("<search>openai:small: legs?</search>", POOL, True, "must_answer"),
        ("<search>openai:small: " + "x" * 1200 + "</search>", POOL, False, "too_long"),
    ],
)  # fmt: skip
def test_an_action_that_cannot_be_followed_is_a_typed_format_error(
    text: str, offered: tuple[str, ...], final: bool, problem: str
) -> None:
    with pytest.raises(ActionFormatError) as e:
        parse_action(text, offered, pool=POOL, final=final)
    assert e.value.problem == problem and str(e.value)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.sampled_from(HOSTILE_OUTPUTS)), st.booleans())
def test_the_parser_never_raises_anything_but_a_format_error(text: str, final: bool) -> None:
    try:
        action = parse_action(text, POOL, pool=POOL, final=final)
    except ActionFormatError:
        return
    if isinstance(action, RouteAction):
        assert action.model in POOL and action.query and not final
    else:
        assert action.answer


def test_the_one_round_choice_parses_json_and_tags() -> None:
    assert parse_choice('{"think": "sums", "model": "large"}', ["small", "large"]) == (
        "large", "sums")  # fmt: skip
    assert parse_choice("<think>facts</think><search>small: q</search>", ["small", "large"]) == (
        "small", "facts")  # fmt: skip
    for bad, problem in (("<answer>7</answer>", "must_route"), ('{"model": "x"}', "unknown_model")):
        with pytest.raises(ActionFormatError) as e:
            parse_choice(bad, ["small", "large"])
        assert e.value.problem == problem


def test_the_cost_weight_moves_value_from_quality_to_price() -> None:
    members = [Member("cheap", "facts", price_in=0.1, price_out=0.2, score=0.4),
               Member("dear", "sums", price_in=2.0, price_out=8.0, score=0.8)]  # fmt: skip
    assert [m.name for m in ranked(members, 0.0)] == ["dear", "cheap"]
    assert [m.name for m in ranked(members, 0.7)] == ["cheap", "dear"]
    worth = values(members, 0.7)
    assert worth["dear"] == pytest.approx(0.3 * 0.8 - 0.7)
    assert "dear ranks 2 of 2" in effect("dear", worth, 0.7)
    listing = MultiRoundRouter(cost_weight=0.7).listing(members)
    assert listing.index("- cheap:") < listing.index("- dear:") and "cost weight 0.7" in listing


def test_the_value_margin_keeps_only_models_near_the_best_usable_value() -> None:
    members = [Member("cheap", "facts", price_in=0.1, price_out=0.2, score=0.4),
               Member("dear", "sums", price_in=2.0, price_out=8.0, score=0.8)]  # fmt: skip
    assert within(members, 0.0, None) == ["dear", "cheap"]
    assert within(members, 0.0, 0.3) == ["dear"]  # 0.4 below the best
    assert within(members, 0.0, 0.4) == ["dear", "cheap"]  # exactly at the margin
    assert within(members, 0.7, 0.3) == ["cheap"]  # price weighs most: the dear one drops
    assert within(members, 0.0, 0.3, unusable={"dear"}) == ["cheap"]  # the next comes in reach
    assert within(members, 0.0, 0.3, unusable={"dear", "cheap"}) == []


def test_declarations_are_checked_when_declared(server: FakeModelServer) -> None:
    m = fake_model(server, "m")
    pool = [PoolModel(fake_model(server, "small"), "facts")]
    for bad in (
        lambda: Agent("a", "d", pool=pool),  # nothing to route with
        lambda: Agent("a", "d", models=[m], rounds=MultiRoundRouter()),  # no pool
        lambda: Agent("a", "d", models=[m], pool=pool * 2),
        lambda: Agent("a", "d", models=[m], pool=[m]),  # type: ignore[list-item]
        lambda: MultiRoundRouter(cost_weight=1.5),
        lambda: MultiRoundRouter(max_rounds=0),
        lambda: MultiRoundRouter(value_margin=-0.1),
        lambda: MultiRoundRouter(value_margin=float("nan")),
        lambda: PoolModel(m, "   "),
        lambda: PoolModel(m, "facts", score=2.0),
    ):
        with pytest.raises(ConfigError):
            bad()


# -- in the engine ---------------------------------------------------------------------------
def test_two_hops_each_round_a_traced_decision_and_a_booked_call(server: FakeModelServer) -> None:
    two_hops(server)
    pipeline = Pipeline([solver(server, cost_weight=0.3)], budget_usd=1.0)
    result = pipeline.run(QUESTION)
    assert result.output == "277"
    trace = result.trace
    # the pool models are the run's models too: priced in run_start, started by prepare
    assert (
        set(POOL) <= set(trace.events(RunStart)[0].prices) <= {m.label for m in pipeline.models()}
    )
    rounds = trace.events(RoundEvent)
    assert [(r.round, r.action, r.model) for r in rounds] == [
        (1, "route", "openai:small"),
        (2, "route", "openai:large"),
        (3, "answer", None),
    ]
    assert rounds[0].query == "How many legs does a spider have?"
    assert rounds[0].think == "first the fact" and rounds[0].cost_weight == 0.3
    assert "openai:small ranks 1 of 2 by value" in rounds[0].effect  # cheap at weight 0.3
    calls = trace.events(ModelCallEvent)
    assert [(c.purpose, c.model) for c in calls] == [
        ("round", "openai:router"), ("consult", "openai:small"), ("round", "openai:router"),
        ("consult", "openai:large"), ("round", "openai:router")]  # fmt: skip
    assert result.cost_usd == pytest.approx(sum(c.cost_usd for c in calls)) and result.cost_usd > 0
    bodies = [c.body for c in server.calls()]
    # the router reads the pool, then each answer; its output is held to a schema
    assert "openai:small: $" in bodies[0]["messages"][0]["content"]
    schema = bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["anyOf"][0]["properties"]["model"]["enum"] == list(POOL)
    assert bodies[1]["messages"][-1]["content"] == "How many legs does a spider have?"
    assert "openai:small: A spider has 8 legs." in bodies[2]["messages"][-1]["content"]
    third = bodies[4]  # round 3 of 4: it may still route
    assert "anyOf" in third["response_format"]["json_schema"]["schema"]
    assert "Round 3 of 4." in third["messages"][-1]["content"]


def test_a_run_replays_identically_with_no_model_call(server: FakeModelServer) -> None:
    two_hops(server)
    pipeline = Pipeline([solver(server, cost_weight=0.3)], budget_usd=1.0)
    result = pipeline.run(QUESTION)
    before = len(server.calls())
    report = pipeline.replay(result.trace)
    assert report.identical, report.describe()
    assert len(server.calls()) == before
    assert len(report.replayed.events(RoundEvent)) == 3


def test_a_format_error_ends_its_round_visibly_and_the_model_is_told(
    server: FakeModelServer,
) -> None:
    server.script(Reply("the answer is probably 277"), answer("277"), model="router")
    result = Pipeline([solver(server)]).run(QUESTION)
    assert result.output == "277"
    first, second = result.trace.events(RoundEvent)
    assert first.action == "format_error" and first.problem == "no_action" and first.error
    # offered best value first: at cost weight 0 the better model leads, in the schema too
    assert first.offered == ("openai:large", "openai:small")
    schema = server.calls()[0].body["response_format"]["json_schema"]["schema"]
    assert schema["anyOf"][0]["properties"]["model"]["enum"] == list(first.offered)
    assert second.action == "answer" and second.round == 2
    told = server.calls()[1].body["messages"]
    assert told[-2] == {"role": "assistant", "content": "the answer is probably 277"}
    assert told[-1]["content"].startswith("That action could not be followed: no action")


def test_every_round_counts_and_the_last_must_answer(server: FakeModelServer) -> None:
    # a router that only ever routes (a server ignoring the schema): rounds run out
    server.script(*(route("openai:small", f"fact {i}?") for i in range(3)), model="router")
    server.responder = lambda body: Reply("a fact")
    with pytest.raises(ResponseFormatError) as e:
        Pipeline([solver(server, max_rounds=3)]).run(QUESTION)
    rounds = e.value.trace.events(RoundEvent)  # type: ignore[attr-defined]
    assert [(r.action, r.final) for r in rounds] == [
        ("route", False), ("route", False), ("format_error", True)]  # fmt: skip
    assert rounds[-1].problem == "must_answer"
    routed = [c.body for c in server.calls() if c.body["model"] == "router"]
    assert len(routed) == 3
    assert "anyOf" not in routed[-1]["response_format"]["json_schema"]["schema"]


def test_a_last_round_format_error_fails_over_to_the_agents_next_model(
    server: FakeModelServer,
) -> None:
    agent = solver(server, max_rounds=2)
    backup = fake_model(server, "backup", tier="large")
    agent = Agent(agent.name, agent.description, models=agent.models, fallbacks=[backup],
                  pool=agent.pool, rounds=agent.rounds)  # fmt: skip
    server.script(route("openai:small", "legs?"), Reply("no idea"), model="router")
    server.script(Reply("8 legs"), model="small")
    server.script(answer("277"), model="backup")
    result = Pipeline([agent], policy=FixedTierPolicy("large")).run(QUESTION)
    assert result.output == "277"
    [switch] = [s for s in result.trace.events(ModelSwitch) if s.policy == "failover"]
    assert switch.to_model == "openai:backup"
    # the backup reads everything so far: the pool's answer and the round it failed
    seen = server.calls()[-1].body["messages"]
    assert any("8 legs" in m["content"] for m in seen)


def test_the_budget_holds_a_consult_it_cannot_pay_for_is_refused_and_told(
    server: FakeModelServer,
) -> None:
    server.script(route("openai:large", "What is 8 * 37 - 19?"), answer("277"), model="router")
    # a large model so dear that eight tokens of its answer cost more than the whole budget
    pipeline = Pipeline([solver(server, dear=200.0)], budget_usd=0.01)
    result = pipeline.run(QUESTION)
    assert result.output == "277" and result.cost_usd <= 0.01
    [refused] = result.trace.events(BudgetRefused)
    assert refused.model == "openai:large"
    assert not [c for c in server.calls() if c.body["model"] == "large"]
    told = server.calls()[-1].body["messages"][-1]["content"]
    assert "openai:large gave no answer: what is left of the budget cannot pay for it" in told


def test_a_pool_model_that_fails_is_told_and_not_offered_again(server: FakeModelServer) -> None:
    server.script(route("openai:small", "legs?"), answer("8"), model="router")
    server.script(Fail(500), Fail(500), Fail(500), model="small")
    result = Pipeline([solver(server)]).run("How many legs does a spider have?")
    assert result.output == "8"
    failed = [c for c in result.trace.events(ModelCallEvent) if not c.ok]
    assert [c.model for c in failed] == ["openai:small"] * 3
    last = server.calls()[-1].body
    assert "it failed (ServerError) and is out of this task" in last["messages"][-1]["content"]
    second = result.trace.events(RoundEvent)[1]
    assert second.offered == ("openai:large",)
    enum = last["response_format"]["json_schema"]["schema"]["anyOf"][0]["properties"]["model"]
    assert enum["enum"] == ["openai:large"]


def test_a_pool_model_a_monitor_holds_down_is_not_offered_in_the_next_run(
    server: FakeModelServer,
) -> None:
    from agentroute.health import CircuitBreakerMonitor

    pipeline = Pipeline([solver(server)], monitors=[CircuitBreakerMonitor(failure_threshold=3)])
    server.script(route("openai:small", "legs?"), answer("8"), answer("9"), model="router")
    server.script(Fail(500), Fail(500), Fail(500), model="small")
    pipeline.run("How many legs does a spider have?")  # three failures open the breaker
    later = pipeline.run("How many legs does an insect have?")
    first = later.trace.events(RoundEvent)[0]
    assert first.offered == ("openai:large",) and later.output == "9"
    enum = server.calls()[-1].body["response_format"]["json_schema"]["schema"]["anyOf"][0]
    assert enum["properties"]["model"]["enum"] == ["openai:large"]


def test_a_value_margin_offers_the_best_model_until_it_fails(server: FakeModelServer) -> None:
    """At cost weight 0 a margin of 0.2 leaves only the large model (value 0.8 against 0.4) in
    the schema; when it fails for good the small one comes within reach, visibly."""
    server.script(route("openai:large", "legs?"), route("openai:small", "legs?"), answer("8"),
                  model="router")  # fmt: skip
    server.script(Fail(500), Fail(500), Fail(500), model="large")
    server.script(Reply("8 legs"), model="small")
    result = Pipeline([solver(server, value_margin=0.2)]).run("How many legs has a spider?")
    assert result.output == "8"
    first, second, _ = result.trace.events(RoundEvent)
    assert first.offered == ("openai:large",) and second.offered == ("openai:small",)
    routers = [c.body for c in server.calls() if c.body["model"] == "router"]
    enum = routers[0]["response_format"]["json_schema"]["schema"]["anyOf"][0]["properties"]
    assert enum["model"]["enum"] == ["openai:large"]


def test_router_r1_tags_for_a_trained_checkpoint(server: FakeModelServer) -> None:
    server.script(
        Reply("<think>I need the fact.</think>\n<search>openai:small: Legs of a spider?</search>"),
        Reply("<think>8 legs.</think>\n<answer>8</answer>"),
        model="router",
    )
    server.script(Reply("Eight."), model="small")
    result = Pipeline([solver(server, constrained=False)]).run("How many legs has a spider?")
    assert result.output == "8"
    assert all("response_format" not in c.body for c in server.calls())
    system = server.calls()[0].body["messages"][0]["content"]
    assert "<search>" in system and "<information>" in server.calls()[2].body["messages"][-1][
        "content"]  # fmt: skip
    assert [r.action for r in result.trace.events(RoundEvent)] == ["route", "answer"]


def test_a_durable_run_checkpoints_between_rounds(server: FakeModelServer, tmp_path: Any) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    two_hops(server)
    pipeline = Pipeline([solver(server)])

    async def go() -> str:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "runs.db")) as saver:
            result = await DurablePipeline(pipeline, checkpointer=saver).arun(
                QUESTION, thread_id="t"
            )
            again = await DurablePipeline(pipeline, checkpointer=saver).aresume("t")
        await pipeline.aclose()
        assert again.output == result.output
        return result.output

    assert run(go()) == "277"
    assert len(server.calls()) == 5  # the finished thread gave its result back with no call


# -- the one-round form: a Router over agents ------------------------------------------------
def test_the_one_round_router_picks_one_agent_by_the_same_description(
    server: FakeModelServer,
) -> None:
    members = (Member("small", "facts", price_in=0.1, price_out=0.2, score=0.4),
               Member("large", "sums", price_in=2.0, price_out=8.0, score=0.8))  # fmt: skip
    agents = [Agent(m.name, m.performance, models=[fake_model(server, m.name)]) for m in members]
    router = MultiRoundRouter(members=members, cost_weight=0.2)
    server.script(Reply('{"think": "a sum", "model": "large"}'), model="router")
    server.script(Reply("277"), model="large")
    pipeline = Pipeline(agents, router=router, router_model=fake_model(server, "router"),
                        policy=FixedTierPolicy("small"))  # fmt: skip
    result = pipeline.run(QUESTION)
    assert result.output == "277" and result.agents == ("large",)
    [decision] = result.trace.of_kind("route")
    assert decision.scores == values(members, 0.2)  # type: ignore[union-attr]
    assert "large ranks 1 of 2 by value" in decision.reason  # type: ignore[union-attr]


def test_the_one_round_choice_keeps_to_the_value_margin(server: FakeModelServer) -> None:
    """The schema names only the models within the margin, and a model outside it that the
    answer names anyway is not taken: the default is, visibly."""
    members = (Member("small", "facts", price_in=0.1, price_out=0.2, score=0.4),
               Member("large", "sums", price_in=2.0, price_out=8.0, score=0.8))  # fmt: skip
    candidates = [Candidate(m.name, m.performance) for m in members]
    router = MultiRoundRouter(members=members, value_margin=0.2, default="large")
    server.script(Reply('{"think": "cheap", "model": "small"}'), model="router")

    d = run(router.route(QUESTION, candidates, reasoning_complete(server)))
    assert d.chosen == ("large",) and d.fallback
    body = server.calls()[-1].body
    assert body["response_format"]["json_schema"]["schema"]["properties"]["model"] == {
        "enum": ["large"]
    }


def test_an_unreadable_one_round_choice_is_a_routing_error_or_the_default(
    server: FakeModelServer,
) -> None:
    from tests.routers.helpers import AGENTS

    server.script(Reply("hmm"), Reply("hmm"), model="router")
    complete = reasoning_complete(server)

    async def both() -> RouteDecision:
        with pytest.raises(ActionFormatError):
            await MultiRoundRouter().route("refund?", AGENTS, complete)
        return await MultiRoundRouter(default="billing").route("refund?", AGENTS, complete)

    d = run(both())
    assert d.chosen == ("billing",) and d.fallback


def test_a_pool_agent_answers_itself_and_a_pool_without_rounds_gets_the_defaults(
    server: FakeModelServer,
) -> None:
    from agentroute import tool

    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return q

    agent = solver(server)
    assert Agent("a", "d", models=agent.models, pool=agent.pool).rounds == MultiRoundRouter()
    for more in ({"tools": [lookup]}, {"output_type": ConfigError}, {"handoffs": ["b"]}):
        with pytest.raises(ConfigError):
            Agent("a", "d", models=agent.models, pool=agent.pool, **more)  # type: ignore[arg-type]
