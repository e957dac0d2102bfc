"""Model pools end to end: several fake servers on 127.0.0.1 serve one model; the engine
picks a replica per attempt, routes around one that dies, traces and replays every pick."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, RetryPolicy
from agentroute.events import ModelCallEvent, ReplicaPick, RunEnd
from agentroute.fault_proxy import FaultProxy
from agentroute.health import BreakerState, CircuitBreakerMonitor
from agentroute.models.pool import Balance, Policy
from agentroute.testing import FakeModelServer, Reply
from agentroute.trace import Trace
from agentroute.types import Message
from tests.conftest import run

QUICK = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02)


@dataclass
class Replicas:
    servers: list[FakeModelServer]
    proxies: list[FaultProxy]
    dead: set[int] = field(default_factory=set)

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.proxies]

    def model(self, policy: Policy = "dualmap", **kw: object) -> Model:
        return Model.openai_compatible(
            self.urls, "m", tier="small", retry=QUICK,
            balance=Balance(policy=policy, **kw),  # type: ignore[arg-type]
        )  # fmt: skip

    def kill(self, index: int) -> None:
        """The replica's listener and every open connection go away, as when it dies."""
        self.proxies[index].stop()
        self.dead.add(index)

    def kill_named(self, name: str, model: Model) -> None:
        self.kill(model.replica_names.index(name))

    def served(self) -> list[int]:
        """Requests each replica answered."""
        return [len(s.calls()) for s in self.servers]


@pytest.fixture
def replicas() -> Iterator[Replicas]:
    servers = [FakeModelServer().start() for _ in range(4)]
    proxies = [FaultProxy(s.port).start() for s in servers]
    pool = Replicas(servers, proxies)
    yield pool
    for i, p in enumerate(proxies):
        if i not in pool.dead:
            p.stop()
    for s in servers:
        s.stop()


def pipeline(*models: Model, **kw: object) -> Pipeline:
    agent = Agent("a", "answers", models=list(models), max_tokens=16)
    return Pipeline([agent], policy=FixedTierPolicy("small"), **kw)  # type: ignore[arg-type]


def picks(trace: Trace) -> list[ReplicaPick]:
    return trace.events(ReplicaPick)


def calls(trace: Trace) -> list[ModelCallEvent]:
    return trace.events(ModelCallEvent)


def test_a_shared_prefix_stays_on_one_replica_and_distinct_ones_spread(
    replicas: Replicas,
) -> None:
    model = replicas.model()
    p = pipeline(model)
    system = "You are the billing desk of a large shop. " * 30  # past prefix_chars

    async def go() -> tuple[list[str | None], list[str | None]]:
        shared = []
        for i in range(6):
            r = await p.arun(f"question {i}", history=[Message.system(system)])
            shared += [c.replica for c in calls(r.trace)]
        distinct = []
        for i in range(16):
            r = await p.arun(f"an unrelated question number {i}")
            distinct += [c.replica for c in calls(r.trace)]
        await p.aclose()
        return shared, distinct

    shared, distinct = run(go())
    assert len(set(shared)) == 1  # the prefix's KV cache is reused every time
    assert len(set(distinct)) >= 3  # distinct prefixes use the pool
    assert sum(replicas.served()) == 22


def test_under_concurrency_dualmap_relieves_the_replica_a_hot_prefix_lands_on(
    replicas: Replicas,
) -> None:
    """Twelve calls sharing one prefix at once: prefix-hashing piles them on one replica,
    the dual mapping spills to the second candidate, then to the rest of the pool."""
    for s in replicas.servers:
        s.responder = lambda body: Reply("ok", delay_s=0.5)
    system = [Message.system("You are the shipping desk. " * 50)]

    def spread(policy: Policy) -> Counter[str | None]:
        p = pipeline(replicas.model(policy))

        async def go() -> list[Trace]:
            runs = await asyncio.gather(
                *(p.arun(f"parcel {i} is late", history=system) for i in range(12))
            )
            await p.aclose()
            return [r.trace for r in runs]

        return Counter(c.replica for t in run(go()) for c in calls(t))

    assert len(spread("prefix_hash")) == 1
    dual = spread("dualmap")
    assert len(dual) >= 3 and max(dual.values()) < 12
    assert sorted(spread("least_loaded").values()) == [3, 3, 3, 3]


def test_round_robin_takes_turns(replicas: Replicas) -> None:
    p = pipeline(replicas.model("round_robin"))

    async def go() -> list[str | None]:
        out = []
        for i in range(8):
            out += [c.replica for c in calls((await p.arun(f"q{i}")).trace)]
        await p.aclose()
        return out

    served = run(go())
    assert served[:4] == list(replicas.model().replica_names)
    assert served[4:] == served[:4]


def test_a_replica_killed_mid_run_loses_nothing_and_is_routed_around(
    replicas: Replicas,
) -> None:
    model = replicas.model()
    breaker = CircuitBreakerMonitor(failure_threshold=1, cooldown_s=600)
    p = pipeline(model, monitors=[breaker])

    async def go() -> tuple[list[Trace], int]:
        traces = [(await p.arun("warm up")).trace]
        replicas.kill_named(str(calls(traces[0])[0].replica), model)
        found = 0
        for i in range(40):  # until a prefix maps to the dead replica, then eight more
            traces.append((await p.arun(f"question {i}")).trace)
            if not found and any(not c.ok for c in calls(traces[-1])):
                found = len(traces) - 1
            if found and len(traces) - 1 - found == 8:
                break
        await p.aclose()
        return traces, found

    traces, found = run(go())
    assert found, "no prefix mapped to the dead replica"
    dead = calls(traces[0])[0].replica
    assert all(t.events(RunEnd)[-1].status == "ok" for t in traces)  # nothing lost
    after = [c for t in traces[1:] for c in calls(t)]
    failed = [c for c in after if not c.ok]
    assert len(failed) == 1 and failed[0].replica == dead  # one attempt found it dead
    assert failed[0].error_type == "TransportError"
    retried = picks(traces[found])
    assert [k.avoided for k in retried] == [(), (dead,)] and retried[1].chosen != dead
    later = [k for t in traces[found + 1 :] for k in picks(t)]
    names = list(model.replica_names)
    assert len(later) == 8 and all(k.chosen != dead for k in later)
    assert all(k.health[names.index(str(dead))] == float("inf") for k in later)
    # the breaker judged the replica (its outcomes name it), not the whole model
    assert breaker.state(f"{model.label}@{dead}") is BreakerState.OPEN
    assert breaker.state(model.label) is BreakerState.CLOSED


def test_every_replica_down_fails_over_to_the_next_model_with_no_call(
    replicas: Replicas,
) -> None:
    pool = replicas.model()
    with FakeModelServer() as backup_server:
        backup = Model.openai_compatible(backup_server.url, "backup", tier="large")
        breaker = CircuitBreakerMonitor(failure_threshold=1, cooldown_s=600)
        p = pipeline(pool, backup, monitors=[breaker])

        async def go() -> list[Trace]:
            out = []
            for i in range(4):  # every replica dies; failed attempts open their breakers
                replicas.kill(i)
            for i in range(4):  # (which replicas a question tries depends on the ports)
                out.append((await p.arun(f"question {i}")).trace)
            out.append((await p.arun("after the pool is gone")).trace)
            await p.aclose()
            return out

        traces = run(go())
        last = traces[-1]
        assert [k.rule for k in picks(last)] == ["down"]
        assert [(c.model, c.ok) for c in calls(last)] == [(backup.label, True)]
        assert any(e.kind == "reroute" for e in last)
        assert len(backup_server.calls()) >= 1


def test_every_pick_is_traced_with_its_inputs_and_the_call_names_the_replica(
    replicas: Replicas,
) -> None:
    model = replicas.model()
    p = pipeline(model)
    result = run(p.arun("hello there"))
    run(p.aclose())
    (k,) = picks(result.trace)
    (c,) = calls(result.trace)
    assert k.model == model.label and k.policy == "dualmap" and k.attempt == 1
    assert len(k.candidates) == 2 and k.chosen == k.candidates[0] and k.rule == "affinity"
    assert len(k.in_flight) == len(k.ttft_s) == len(k.health) == 4
    assert k.key is not None and k.reason
    assert c.replica == k.chosen and c.ttft_s is not None and c.ttft_s > 0


def test_a_one_server_model_makes_no_pick(replicas: Replicas) -> None:
    p = pipeline(Model.openai_compatible(replicas.urls[0], "m", tier="small"))
    result = run(p.arun("hello"))
    run(p.aclose())
    assert not picks(result.trace)
    assert calls(result.trace)[0].replica is None


def test_a_pooled_run_replays_with_no_call_and_a_changed_policy_diverges_at_the_pick(
    replicas: Replicas,
) -> None:
    model = replicas.model()
    breaker = CircuitBreakerMonitor(failure_threshold=1, cooldown_s=600)
    p = pipeline(model, monitors=[breaker])

    async def go() -> Trace:
        first = await p.arun("warm up")
        replicas.kill_named(str(calls(first.trace)[0].replica), model)
        recorded = await p.arun("warm up")  # same prefix: the dead replica, then another
        await p.aclose()
        return recorded.trace

    trace = run(go())
    assert [c.ok for c in calls(trace)] == [False, True]
    served = replicas.served()
    report = p.replay(trace)
    assert report.identical, report.describe()
    assert replicas.served() == served
    other = pipeline(replicas.model("round_robin"), monitors=[breaker]).replay(trace)
    assert not other.identical and other.divergence is not None
    assert other.divergence.recorded is not None
    assert other.divergence.recorded["kind"] == "replica_pick"


def test_a_streamed_call_measures_the_time_to_its_first_token(replicas: Replicas) -> None:
    for s in replicas.servers:
        s.responder = lambda body: Reply("one two three four five", gap_s=0.1)
    p = pipeline(replicas.model())

    async def go() -> Trace:
        stream = p.stream("tell me")
        async for _ in stream:
            pass
        trace = (await stream.result()).trace
        await p.aclose()
        return trace

    (c,) = calls(run(go()))
    assert c.streamed and c.ttft_s is not None and c.ttft_s < c.latency_s / 2
