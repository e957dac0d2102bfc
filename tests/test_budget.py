"""Ledger accounting and budget enforcement through a real pipeline run."""

from __future__ import annotations

import contextlib
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute import Agent, Budget, BudgetExceededError, FixedTierPolicy, Pipeline
from agentroute.budget import Ledger, estimate_input_tokens
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Message, Price, Usage
from tests.conftest import fake_model

PRICE = Price(input_per_mtok=1_000.0, output_per_mtok=2_000.0)  # $0.001 / $0.002 per token


def test_reserve_settle_release_accounting() -> None:
    ledger = Ledger(Budget(usd=1.0))
    r = ledger.reserve("m", PRICE, input_tokens=100, max_tokens=50)
    assert r.amount_usd == pytest.approx(0.1 + 0.1)
    assert ledger.remaining_usd() == pytest.approx(0.8)
    actual, over = ledger.settle(r, PRICE, Usage(input_tokens=40, output_tokens=10))
    assert actual == pytest.approx(0.04 + 0.02) and over == 0
    assert ledger.spent_usd == pytest.approx(0.06)
    r2 = ledger.reserve("m", PRICE, 10, 10)
    ledger.release(r2)
    assert ledger.remaining_usd() == pytest.approx(0.94)


def test_unreported_usage_settles_at_the_worst_case() -> None:
    ledger = Ledger(Budget(usd=1.0))
    r = ledger.reserve("m", PRICE, 10, 10)
    actual, _ = ledger.settle(r, PRICE, None)
    assert actual == pytest.approx(r.amount_usd)


def test_refuses_what_does_not_fit() -> None:
    ledger = Ledger(Budget(usd=0.05))
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("m", PRICE, input_tokens=30, max_tokens=30)
    assert info.value.requested == pytest.approx(0.09)
    assert ledger.spent_usd == 0 and ledger.reserved_usd == 0


def test_call_limit() -> None:
    ledger = Ledger(Budget(calls=2))
    ledger.reserve("m", PRICE, 1, 1)
    ledger.reserve("m", PRICE, 1, 1)
    with pytest.raises(BudgetExceededError, match="call limit"):
        ledger.reserve("m", PRICE, 1, 1)


def test_affordable_max_tokens_clamps() -> None:
    ledger = Ledger(Budget(usd=0.1))
    assert ledger.affordable_max_tokens(PRICE, 50, 1000) == 25
    assert ledger.affordable_max_tokens(PRICE, 500, 1000) == 0
    assert Ledger().affordable_max_tokens(PRICE, 10**6, 77) == 77


def test_concurrent_reservations_never_exceed_the_limit() -> None:
    ledger = Ledger(Budget(usd=1.0))
    granted: list[float] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(200):
            try:
                r = ledger.reserve("m", PRICE, rng.randint(1, 30), rng.randint(1, 30))
            except BudgetExceededError:
                continue
            with lock:
                granted.append(r.amount_usd)
            ledger.settle(r, PRICE, Usage(input_tokens=1, output_tokens=rng.randint(0, 1)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.spent_usd <= 1.0 + 1e-12
    assert len(granted) > 10


def test_input_estimate_is_an_upper_bound_of_bytes() -> None:
    msgs = (Message.system("héllo"), Message.user("x" * 100))
    assert estimate_input_tokens(msgs) >= len("héllo".encode()) + 100


def _agent(server: FakeModelServer, *, max_tokens: int = 100) -> Agent:
    small = fake_model(server, "small", tier="small", price_in=1.0, price_out=2.0)
    large = fake_model(server, "large", tier="large", price_in=10.0, price_out=30.0)
    return Agent("a", "answers", models=[small, large], max_tokens=max_tokens)


def test_budget_pressure_downshifts_to_small(server: FakeModelServer) -> None:
    agent = _agent(server)
    # large worst case: ~(16+8+8+19 bytes)*10 + 100*30 = ~3.5e-3 USD; small: ~0.25e-3 USD
    pipeline = Pipeline([agent], budget_usd=0.001, policy=FixedTierPolicy("large"))
    result = pipeline.run("hello there")
    assert result.models == ("openai:small",)
    [switch] = result.trace.of_kind("model_switch")
    assert "downshift" in switch.reason  # type: ignore[union-attr]
    assert result.cost_usd <= 0.001
    assert [c.body["model"] for c in server.calls()] == ["small"]


def test_unaffordable_task_ends_with_typed_error_and_no_request(server: FakeModelServer) -> None:
    pipeline = Pipeline([_agent(server)], budget_usd=0.00001, policy=FixedTierPolicy("small"))
    with pytest.raises(BudgetExceededError) as info:
        pipeline.run("hello there")
    assert server.calls() == []
    trace = info.value.trace  # type: ignore[attr-defined]
    assert [e.kind for e in trace][-2:] == ["budget_refused", "run_end"]
    assert trace[-1].status == "error" and trace[-1].cost_usd == 0


def test_max_tokens_clamped_to_what_the_budget_allows(server: FakeModelServer) -> None:
    pipeline = Pipeline(
        [_agent(server, max_tokens=1000)], budget_usd=0.0005, policy=FixedTierPolicy("small")
    )
    result = pipeline.run("hi")
    sent = server.calls()[0].body["max_tokens"]
    assert 8 <= sent < 1000
    assert result.cost_usd <= 0.0005


def test_server_that_ignores_max_tokens_stops_the_task(server: FakeModelServer) -> None:
    server.script(Reply("a very long answer", usage=(10, 50_000)))
    pipeline = Pipeline(
        [_agent(server, max_tokens=16)], budget_usd=1.0, policy=FixedTierPolicy("small")
    )
    with pytest.raises(BudgetExceededError, match="ignored max_tokens") as info:
        pipeline.run("hi")
    assert info.value.partial == "a very long answer"
    trace = info.value.trace  # type: ignore[attr-defined]
    [esc] = [e for e in trace if e.kind == "escalation"]
    assert esc.reason == "budget_overshoot"
    [settle] = [e for e in trace if e.kind == "budget_settle"]
    assert settle.overshoot_usd > 0


@pytest.mark.parametrize("seed", range(5))
def test_random_runs_never_overspend(server: FakeModelServer, seed: int) -> None:
    rng = random.Random(seed)
    budget = rng.uniform(0.0002, 0.004)

    def responder(body: dict) -> Reply:  # type: ignore[type-arg]
        return Reply("x", usage=(rng.randint(1, 40), rng.randint(0, body["max_tokens"])))

    server.responder = responder
    pipeline = Pipeline(
        [_agent(server)], budget_usd=budget, policy=FixedTierPolicy(rng.choice(["small", "large"]))
    )
    spent = 0.0
    for _ in range(3):
        try:
            spent = pipeline.run("question " + "y" * rng.randint(0, 60)).cost_usd
        except BudgetExceededError as exc:
            spent = exc.trace[-1].cost_usd  # type: ignore[attr-defined]
        assert spent <= budget + 1e-12


def test_token_budget_clamps_and_refuses() -> None:
    ledger = Ledger(Budget(tokens=100))
    assert ledger.affordable_max_tokens(PRICE, 30, 500) == 70
    r = ledger.reserve("m", PRICE, 30, 70)
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("m", PRICE, 1, 1)
    assert info.value.unit == "tokens"
    ledger.settle(r, PRICE, Usage(input_tokens=30, output_tokens=10))
    assert ledger.remaining_tokens() == 60 and ledger.outstanding() == 0


def test_child_budget_counts_against_both() -> None:
    parent = Ledger(Budget(usd=1.0))
    child = parent.child(Budget(usd=0.3))
    r = child.reserve("m", PRICE, 100, 50)  # $0.2 worst case
    assert parent.reserved_usd == pytest.approx(0.2)
    with pytest.raises(BudgetExceededError):
        child.reserve("m", PRICE, 100, 50)  # the child's 0.3 would be passed
    assert parent.reserved_usd == pytest.approx(0.2)  # the refused one left no trace above
    child.settle(r, PRICE, Usage(input_tokens=100, output_tokens=20))
    assert parent.spent_usd == pytest.approx(0.14) and child.spent_usd == pytest.approx(0.14)
    sibling = parent.child(Budget(usd=5.0))
    assert sibling.remaining_usd() == pytest.approx(0.86)  # the parent's limit binds


def test_wall_time_budget(server: FakeModelServer) -> None:
    from agentroute.testing import Hang

    server.script(Hang(5.0))
    agent = Agent("a", "x", models=[fake_model(server)])
    with pytest.raises(BudgetExceededError) as info:
        Pipeline([agent], budget=Budget(wall_s=0.4), policy=FixedTierPolicy("small")).run("q")
    assert info.value.unit == "seconds"
    assert info.value.trace[-1].error_type == "BudgetExceededError"  # type: ignore[attr-defined]


def test_agent_sub_budget_is_enforced_inside_the_task_budget(server: FakeModelServer) -> None:
    small = fake_model(server, "small", tier="small", price_in=1.0, price_out=2.0)
    thrifty = Agent("thrifty", "cheap", models=[small], max_tokens=100, budget=Budget(usd=0.00005))
    with pytest.raises(BudgetExceededError):
        Pipeline([thrifty], budget_usd=1.0, policy=FixedTierPolicy("small")).run("hello")
    assert server.calls() == []
    roomy = Agent("roomy", "fine", models=[small], max_tokens=100, budget=Budget(usd=0.01))
    result = Pipeline([roomy], budget_usd=1.0, policy=FixedTierPolicy("small")).run("hello")
    assert result.cost_usd > 0


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_no_interleaving_of_reserves_and_settles_overspends(data: st.DataObject) -> None:
    """Several workers share a task ledger (some through sub-budgets); every possible order
    of their reserve / settle / release steps keeps spend within every limit, and nothing
    stays reserved at the end."""
    task = Ledger(
        Budget(usd=data.draw(st.floats(0.01, 0.2)), tokens=data.draw(st.integers(50, 400)))
    )
    books = [task, task.child(Budget(usd=data.draw(st.floats(0.005, 0.1)))), task]
    open_: list[tuple[Ledger, object]] = []
    for _ in range(data.draw(st.integers(1, 40))):
        action = data.draw(st.sampled_from(["reserve", "settle", "release"]))
        if action == "reserve":
            book = data.draw(st.sampled_from(books))
            tin, tout = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40))
            with contextlib.suppress(BudgetExceededError):
                open_.append((book, book.reserve("m", PRICE, tin, tout)))
        elif open_:
            book, res = open_.pop(data.draw(st.integers(0, len(open_) - 1)))
            if action == "settle":
                used = Usage(
                    input_tokens=res.tokens - res.max_tokens,  # type: ignore[attr-defined]
                    output_tokens=data.draw(st.integers(0, res.max_tokens)),
                )  # type: ignore[attr-defined]
                book.settle(res, PRICE, used)  # type: ignore[arg-type]
            else:
                book.release(res)  # type: ignore[arg-type]
        for b in {id(b): b for b in books}.values():
            if b.budget.usd is not None:
                assert b.spent_usd + b.reserved_usd <= b.budget.usd + 1e-9
        assert task.spent_tokens <= (task.budget.tokens or 0)
    for book, res in open_:
        book.release(res)  # type: ignore[arg-type]
    assert all(b.outstanding() == 0 for b in books)


def test_threshold_policy_triggers_and_budget_guard() -> None:
    from agentroute.budget import ThresholdPolicy

    tiers = ("small", "large")
    p = ThresholdPolicy(entropy_at=1.0, failures_at=2, from_step=5, min_remaining_ratio=0.3)
    assert p.choose(tiers, {"first_token_entropy": 0.4, "step": 1}).tier == "small"
    assert p.choose(tiers, {"first_token_entropy": 1.2, "remaining_ratio": 0.9}).tier == "large"
    assert p.choose(tiers, {"recent_failures": 2}).tier == "large"
    assert p.choose(tiers, {"step": 5}).tier == "large"
    guarded = p.choose(tiers, {"first_token_entropy": 1.5, "remaining_ratio": 0.1})
    assert guarded.tier == "small" and "10%" in guarded.reason
    assert ThresholdPolicy(entropy_at=None).probe_top_logprobs == 0


def test_threshold_policy_escalates_after_a_failure_in_the_task(server: FakeModelServer) -> None:
    from agentroute.budget import ThresholdPolicy
    from agentroute.testing import Fail

    small = fake_model(server, "small", tier="small")
    large = fake_model(server, "large", tier="large", price_in=5, price_out=15)
    triage = Agent("triage", "first look", models=[small, large])
    fixer = Agent("fixer", "second look", models=[small, large])
    # the router (on the large model) fails once with a 500 and is retried: one failure
    server.script(Fail(500), Reply("Reason: x\nAgents: fixer"), Reply("from large"), model="large")
    pipeline = Pipeline(
        [triage, fixer],
        router="reasoning",
        budget_usd=1.0,
        router_model=large,
        policy=ThresholdPolicy(entropy_at=None, failures_at=1),
    )
    result = pipeline.run("q")
    assert result.agents == ("fixer",) and result.output == "from large"
    assert [c.body["model"] for c in server.calls()] == ["large", "large", "large"]
    [switch] = result.trace.of_kind("model_switch")
    assert switch.to_model == "openai:large" and "failure" in switch.reason  # type: ignore[union-attr]
