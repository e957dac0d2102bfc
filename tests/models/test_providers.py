"""Provider options against the fake server speaking each dialect: headers, extra body
fields, Azure OpenAI, named presets, and prices from the price database (with their source
in the trace)."""

from __future__ import annotations

import pytest

from agentroute import Agent, Model, Pipeline
from agentroute.errors import ConfigError
from agentroute.events import RunStart
from agentroute.testing import FakeModelServer, Reply


def answer(model: Model) -> Pipeline:
    return Pipeline([Agent("helper", "anything", models=[model])])


def test_headers_and_extra_body_reach_the_server_and_credential_headers_stay_secret(
    server: FakeModelServer,
) -> None:
    server.script(Reply("ok"))
    model = Model.openai_compatible(
        server.url, "m", headers={"X-Gateway-Token": "gw-secret-123456", "X-Team": "support"},
        extra_body={"continue_final_message": False, "top_k": 20},
    )  # fmt: skip
    result = answer(model).run("hi")
    call = server.calls()[0]
    assert call.headers["x-gateway-token"] == "gw-secret-123456"
    assert call.headers["x-team"] == "support"
    assert call.body["top_k"] == 20 and call.body["continue_final_message"] is False
    assert "gw-secret-123456" in model.secrets() and "support" not in model.secrets()
    assert "gw-secret-123456" not in repr(model)
    assert all("gw-secret-123456" not in e.model_dump_json() for e in result.trace)


def test_an_azure_deployment_is_called_at_its_path_with_its_version_and_key(
    server: FakeModelServer,
) -> None:
    server.script(Reply("from azure"))
    model = Model.azure("support-gpt4o", endpoint=server.root_url, api_version="2024-10-21",
                        model="gpt-4o", api_key="azure-key-0123456789")  # fmt: skip
    result = answer(model).run("hi")
    call = server.calls()[0]
    assert call.path.startswith("/openai/deployments/support-gpt4o/chat/completions")
    assert "api-version=2024-10-21" in call.path
    assert call.headers["api-key"] == "azure-key-0123456789"
    assert result.output == "from azure" and result.models == ("azure:support-gpt4o",)
    price = result.trace.events(RunStart)[0].prices["azure:support-gpt4o"]
    assert (
        price["in"] > 0
        and price["source"].startswith("genai-prices")
        and "gpt-4o" in price["source"]
    )


def test_a_preset_reads_its_key_from_its_variable_and_its_price_from_the_database(
    server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-key-0123456789")
    server.script(Reply("routed"))
    model = Model.preset("openrouter", "anthropic/claude-3.5-sonnet", base_url=server.url,
                         headers={"HTTP-Referer": "https://example.test"})  # fmt: skip
    assert (model.price.input_per_mtok, model.price.output_per_mtok) == (3.0, 15.0)
    result = answer(model).run("hi")
    call = server.calls()[0]
    assert call.headers["authorization"] == "Bearer or-key-0123456789"
    assert call.headers["http-referer"] == "https://example.test"
    start = result.trace.events(RunStart)[0]
    assert start.prices[model.label]["source"].endswith("openrouter/anthropic/claude-3.5-sonnet")
    assert result.cost_usd > 0  # priced by the database, not free


def test_declared_prices_win_and_unknown_or_half_prices_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gq-key-0123456789")
    mine = Model.preset("groq", "llama-3.1-8b-instant", price_in=1.0, price_out=2.0)
    assert (mine.price.input_per_mtok, mine.price_source) == (1.0, "declared")
    with pytest.raises(ConfigError, match="no known price"):
        Model.preset("groq", "a-model-nobody-prices")
    with pytest.raises(ConfigError, match="both"):
        Model.preset("groq", "llama-3.1-8b-instant", price_in=1.0)
    with pytest.raises(ConfigError, match="unknown service"):
        Model.preset("nowhere", "m")
    monkeypatch.delenv("GROQ_API_KEY")
    with pytest.raises(ConfigError, match="GROQ_API_KEY"):
        Model.preset("groq", "llama-3.1-8b-instant")
    local = Model.preset("vllm", "Qwen/Qwen2.5-7B-Instruct")  # self-hosted: no key, no price
    assert local.price.input_per_mtok == 0.0 and "self-hosted" in local.price_source


def test_a_credential_header_echoed_back_by_a_server_is_masked_in_the_trace(
    server: FakeModelServer,
) -> None:
    from agentroute.errors import AgentrouteError
    from agentroute.testing import Fail

    server.script(Fail(401, message="token gw-secret-123456 was refused"))
    model = Model.openai_compatible(
        server.url, "m", headers={"X-Gateway-Token": "gw-secret-123456"}
    )
    with pytest.raises(AgentrouteError) as caught:
        answer(model).run("hi")
    dumped = [e.model_dump_json() for e in caught.value.trace]  # type: ignore[attr-defined]
    assert any("[REDACTED]" in d for d in dumped)
    assert not any("gw-secret-123456" in d for d in dumped)


def test_text_that_only_looks_like_a_tool_call_stays_an_answer() -> None:
    from agentroute.models.translate import tool_calls_in_text

    assert tool_calls_in_text('{"name": {"first": "Ada"}, "arguments": {}}', ["lookup"]) == ()
    assert tool_calls_in_text("[" * 5000 + "]" * 5000, ["lookup"]) == ()
    (call,) = tool_calls_in_text('```json\n{"name": "lookup", "arguments": {"id": 7}}\n```',
                                 ["lookup"])  # fmt: skip
    assert (call.name, call.arguments) == ("lookup", '{"id": 7}')
