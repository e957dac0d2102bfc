"""Typed output on the embedded models: llama.cpp constrains the answer to the schema
(``response_format`` json_object with the schema), and the result is the validated object."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentroute import Agent, Model, Pipeline
from agentroute.events import OutputCheck

pytestmark = pytest.mark.local_model


class Refund(BaseModel):
    order_id: str
    amount: float


def test_the_small_model_answers_in_the_agents_output_type(small_and_large: None) -> None:
    agent = Agent("billing", "refunds", models=[Model.local("small")], output_type=Refund,
                  max_tokens=60)  # fmt: skip
    result = Pipeline([agent]).run("Refund order A7: the customer paid 49.90.")
    assert isinstance(result.data, Refund) and result.data.order_id.strip()
    assert [c.ok for c in result.trace.events(OutputCheck)][-1] is True
