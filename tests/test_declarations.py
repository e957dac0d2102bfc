from __future__ import annotations

import pytest

from agentroute import Agent, ConfigError, Model, Pipeline, tool
from agentroute.errors import ToolError
from tests.conftest import fake_model, run


def test_negative_price_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="price"):
        Model.openai_compatible("http://127.0.0.1:1/v1", "m", price_in=-1.0)


def test_non_finite_price_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Model.openai_compatible("http://127.0.0.1:1/v1", "m", price_out=float("inf"))


def test_base_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        Model.openai_compatible("127.0.0.1:8000", "m")


def test_unknown_local_tier() -> None:
    with pytest.raises(ConfigError, match="unknown local model"):
        Model.local("huge")  # type: ignore[arg-type]


def test_api_key_never_prints() -> None:
    m = Model.openai_compatible("http://127.0.0.1:1/v1", "m", api_key="sk-supersecret-123456")
    assert "supersecret" not in repr(m)
    assert "supersecret" not in str(m.model_dump())


def test_tool_schema_from_type_hints() -> None:
    @tool(cost=0.5)
    def lookup(order_id: str, include_items: bool = False) -> dict[str, str]:
        """Find an order."""
        return {"id": order_id}

    params = lookup.parameters
    assert params["properties"]["order_id"]["type"] == "string"
    assert params["properties"]["include_items"]["type"] == "boolean"
    assert params["required"] == ["order_id"]
    assert lookup.description == "Find an order."
    assert lookup.cost == 0.5


def test_tool_without_hint_has_no_schema() -> None:
    with pytest.raises(ConfigError, match="no type hint"):

        @tool
        def bad(x) -> None:  # type: ignore[no-untyped-def]
            """Doc."""


def test_tool_without_description() -> None:
    with pytest.raises(ConfigError, match="description"):

        @tool
        def nodoc(x: int) -> int:
            return x


def test_tool_varargs_rejected() -> None:
    with pytest.raises(ConfigError, match=r"\*args"):

        @tool
        def many(*xs: int) -> int:
            """Doc."""
            return 0


def test_tool_invoke_validates_arguments() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    assert run(add.invoke('{"a": 2, "b": 3}')) == 5
    with pytest.raises(ToolError, match="bad arguments"):
        run(add.invoke('{"a": "two"}'))
    with pytest.raises(ToolError, match="bad arguments"):
        run(add.invoke("not json"))


def test_tool_that_raises_becomes_tool_error() -> None:
    @tool
    def boom(x: int) -> int:
        """Explode."""
        raise RuntimeError("kaput")

    with pytest.raises(ToolError, match="kaput"):
        run(boom.invoke({"x": 1}))


@pytest.mark.parametrize("name", ["", "1abc", "has space", "x" * 65])
def test_bad_agent_names(name: str) -> None:
    with pytest.raises(ConfigError, match="name"):
        Agent(name, "does things")


def test_agent_needs_description() -> None:
    with pytest.raises(ConfigError, match="description"):
        Agent("a", "  ")


def test_unknown_handoff_fails_at_declaration(server) -> None:  # type: ignore[no-untyped-def]
    m = fake_model(server)
    a = Agent("a", "first", models=[m], handoffs=["ghost"])
    b = Agent("b", "second", models=[m])
    with pytest.raises(ConfigError, match="ghost"):
        Pipeline([a, b])


def test_duplicate_agent_names(server) -> None:  # type: ignore[no-untyped-def]
    m = fake_model(server)
    with pytest.raises(ConfigError, match="unique"):
        Pipeline([Agent("a", "x", models=[m]), Agent("a", "y", models=[m])])


def test_agent_without_model_cannot_run() -> None:
    with pytest.raises(ConfigError, match="no model"):
        Pipeline([Agent("a", "x")])


def test_unknown_router_name(server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="unknown router"):
        Pipeline([Agent("a", "x", models=[fake_model(server)])], router="psychic")


def test_models_sorted_by_tier(server) -> None:  # type: ignore[no-untyped-def]
    large = fake_model(server, "L", tier="large")
    small = fake_model(server, "S", tier="small")
    agent = Agent("a", "x", models=[large, small])
    assert [m.tier for m in agent.models] == ["small", "large"]
