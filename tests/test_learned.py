"""The learned switching policy: fitted from boundary runs' traces, then used in a run; and
sigma probes as a switching signal."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agentroute import Agent, FixedTierPolicy, Pipeline
from agentroute.budget import ThresholdPolicy
from agentroute.budget.learned import LearnedPolicy, boundary_label, fit_logistic, probe_signals
from agentroute.errors import ConfigError
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import fake_model
from tests.routers.helpers import SURE, UNSURE


def test_fit_logistic_learns_the_direction_and_fills_missing_features() -> None:
    rng = random.Random(0)
    rows = [{"x": rng.random(), "noise": rng.random()} for _ in range(400)]
    labels = [r["x"] + rng.gauss(0, 0.1) > 0.6 for r in rows]
    model = fit_logistic(rows, labels)
    w = dict(zip(model.features, model.weights, strict=True))
    assert w["x"] > 2 and abs(w["noise"]) < 0.5
    assert model.probability({"x": 0.9}) > 0.8 > 0.2 > model.probability({"x": 0.2})
    with pytest.raises(ConfigError):
        fit_logistic(rows, [True] * len(rows))
    with pytest.raises(ConfigError):
        fit_logistic(rows, labels[:-1])


def test_boundary_labels() -> None:
    assert boundary_label(True, True) == boundary_label(True, False) == "easy"
    assert boundary_label(False, True) == "hard"
    assert boundary_label(False, False) == "intractable"


def _hard(prompt: str) -> bool:
    return "hard" in prompt


def _responder(body: dict[str, Any]) -> Reply:
    """Hard prompts make the small model unsure, and only the large model solves them."""
    prompt = body["messages"][-1]["content"]
    if body.get("logprobs"):
        return Reply("The", logprobs=UNSURE if _hard(prompt) else SURE)
    solved = body["model"] == "large" or not _hard(prompt)
    return Reply("right" if solved else "wrong")


def _pipeline(server: FakeModelServer, policy: Any) -> Pipeline:
    models = [fake_model(server, "small", tier="small"), fake_model(server, "large", tier="large")]
    return Pipeline([Agent("solver", "solves", models=models)], policy=policy)


def test_policy_fitted_from_boundary_traces_escalates_only_hard_tasks(
    server: FakeModelServer, tmp_path: Path
) -> None:
    server.responder = _responder
    tasks = [f"{'hard' if i % 3 == 0 else 'easy'} task {i}" for i in range(12)]
    small_run = _pipeline(server, FixedTierPolicy("small", probe_top_logprobs=10))
    large_run = _pipeline(server, FixedTierPolicy("large"))
    signals, labels = [], []
    for task in tasks:
        small = small_run.run(task)
        large = large_run.run(task)
        signals.append(probe_signals(small.trace))
        labels.append(boundary_label(small.output == "right", large.output == "right"))
    assert labels.count("hard") == 4 and "first_token_entropy" in signals[0]

    policy = LearnedPolicy.fit(signals, labels, features=["first_token_entropy"])
    policy.save(tmp_path / "policy.json")
    policy = LearnedPolicy.load(tmp_path / "policy.json")
    learned = _pipeline(server, policy)
    for task in ("hard one", "easy one"):
        result = learned.run(task)
        assert result.output == "right"
        [switch] = result.trace.of_kind("model_switch")
        assert switch.to_model.endswith("large" if _hard(task) else "small")  # type: ignore[union-attr]
        assert "p_hard" in switch.signals  # type: ignore[union-attr]


def test_load_rejects_a_broken_policy_file(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"threshold": 0.5, "model": {"features": ["x"]}}')
    with pytest.raises(ConfigError, match="cannot load"):
        LearnedPolicy.load(tmp_path / "p.json")


def test_sigma_probes_that_agree_answer_without_another_call(server: FakeModelServer) -> None:
    server.script(Reply("it is 18"), Reply("#### 18"), Reply("18"), model="small")
    policy = ThresholdPolicy(entropy_at=None, failures_at=None, sigma_at=0.5)
    result = _pipeline(server, policy).run("how many?")
    assert result.output in {"it is 18", "#### 18", "18"}
    assert [c.body["model"] for c in server.calls()] == ["small"] * 3
    [switch] = result.trace.of_kind("model_switch")
    assert switch.signals["sigma"] == 0.0  # type: ignore[union-attr]


def test_sigma_probes_that_disagree_hand_the_step_to_large(server: FakeModelServer) -> None:
    server.script(Reply("17"), Reply("18"), Reply("19"), model="small")
    server.script(Reply("18, for sure"), model="large")
    policy = ThresholdPolicy(entropy_at=None, failures_at=None, sigma_at=0.5)
    result = _pipeline(server, policy).run("how many?")
    assert result.output == "18, for sure"
    [switch] = result.trace.of_kind("model_switch")
    assert switch.signals["sigma"] == 1.0 and "sigma" in switch.reason  # type: ignore[union-attr]
