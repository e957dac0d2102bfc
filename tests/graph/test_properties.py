"""Property tests on random graphs, with networkx as the oracle."""

from __future__ import annotations

import math

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute.graph import TaskGraph, node_factors, reweight, shortest_path
from agentroute.runtime import GraphRunner, NodeContext
from agentroute.types import HealthSignal


@st.composite
def graphs(draw: st.DrawFn) -> tuple[TaskGraph, set[str]]:
    n = draw(st.integers(min_value=3, max_value=12))
    names = [f"n{i}" for i in range(n)]
    edges = draw(st.lists(
        st.tuples(st.sampled_from(names), st.sampled_from(names),
                  st.floats(min_value=0.0, max_value=10.0)),
        min_size=1, max_size=40,
    ))  # fmt: skip
    edges = [(u, v, c) for u, v, c in edges if u != v]
    edges.append(("n0", f"n{n - 1}", 50.0))  # the goal is always reachable when all is well
    failed = set(draw(st.lists(st.sampled_from(names[1:-1]), max_size=4)))
    return TaskGraph(edges, start="n0", goal=f"n{n - 1}"), failed


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_path_is_a_shortest_path_among_healthy_nodes(case: tuple[TaskGraph, set[str]]) -> None:
    g, failed = case
    signals = [HealthSignal(monitor="t", target=f, kind="down", down=True) for f in failed]
    plan = shortest_path(g, reweight(g, node_factors(signals)), g.start, g.goal)
    healthy = g.g.subgraph(n for n in g.g if n not in failed)
    try:
        oracle = nx.dijkstra_path_length(healthy, g.start, g.goal, weight="cost")
    except nx.NetworkXNoPath:
        assert plan is None
        return
    assert plan is not None
    assert not failed & set(plan.path)
    assert math.isclose(plan.cost, oracle, rel_tol=1e-9, abs_tol=1e-9)
    assert all(healthy.has_edge(u, v) for u, v in zip(plan.path, plan.path[1:], strict=False))


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_runs_end_at_the_goal_or_in_an_escalation(case: tuple[TaskGraph, set[str]]) -> None:
    g, failed = case

    def handler(ctx: NodeContext) -> str:
        if ctx.node in failed:
            raise ConnectionError(ctx.node)
        return ctx.node

    result = GraphRunner(g, {n: handler for n in g.nodes if n != g.start}).run("t")
    ran = [e for e in result.trace.of_kind("node_run") if e.ok]  # type: ignore[union-attr]
    assert not failed & {e.node for e in ran}  # type: ignore[union-attr]
    if result.status == "completed":
        assert result.path[-1] == g.goal
    else:
        assert result.status == "escalated"
        assert [e.reason for e in result.trace.of_kind("escalation")] == ["no_feasible_path"]  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_goal_tree_matches_a_fresh_dijkstra_after_every_change(
    case: tuple[TaskGraph, set[str]], data: st.DataObject
) -> None:
    from agentroute.graph import GoalTree, changed

    g, _ = case
    weights = reweight(g, {})
    tree = GoalTree(g, g.goal, weights)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        factors = data.draw(st.dictionaries(
            st.sampled_from(list(g.nodes)),
            st.sampled_from([math.inf, 0.5, 2.0, 1.0, 7.0]),
            max_size=4,
        ))  # fmt: skip
        new = reweight(g, factors)
        tree.update(changed(weights, new))
        weights = new
        for source in g.nodes:
            got = tree.path(source)
            fresh = shortest_path(g, weights, source, g.goal)
            if fresh is None:
                assert got is None
            else:
                assert got is not None
                assert math.isclose(got.cost, fresh.cost, rel_tol=1e-9, abs_tol=1e-9)
                assert math.isclose(
                    sum(weights[(u, v)] for u, v in zip(got.path, got.path[1:], strict=False)),
                    got.cost,
                    rel_tol=1e-9,
                    abs_tol=1e-9,
                )
