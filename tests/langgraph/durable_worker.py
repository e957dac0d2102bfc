"""A worker process for the durable-execution test: starts or resumes one trip booking on a
SQLite checkpoint. Its tools append to an effects file, so a repeated tool call would show."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, ReasoningRouter, tool
from agentroute.runtime.langgraph_backend import DurablePipeline, step_key


def build(url: str, effects: Path) -> Pipeline:
    def effect(line: str) -> None:
        with effects.open("a") as f:
            f.write(f"{line} key={step_key()}\n")

    @tool
    def book_flight(city: str) -> str:
        """Book a flight to the city."""
        effect(f"flight {city}")
        return f"flight to {city} booked"

    @tool
    def book_hotel(city: str) -> str:
        """Book a hotel in the city."""
        effect(f"hotel {city}")
        return f"hotel in {city} booked"

    model = Model.openai_compatible(url, "m", tier="small", price_in=1.0, price_out=2.0)
    router = Model.openai_compatible(url, "router", tier="small", price_in=1.0, price_out=2.0)
    agents = [
        Agent("travel", "Books flights and hotels", tools=[book_flight, book_hotel],
              models=[model]),
        Agent("support", "Answers questions about accounts", models=[model]),
    ]  # fmt: skip
    return Pipeline(
        agents,
        router=ReasoningRouter(),
        router_model=router,
        policy=FixedTierPolicy("small"),
        budget_usd=0.01,
        trace_dir="traces",
    )


async def main(url: str, db: str, effects: str, thread: str, mode: str) -> None:
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        durable = DurablePipeline(build(url, Path(effects)), checkpointer=saver)
        if mode == "start":
            result = await durable.arun("Book me a trip to Lisbon", thread_id=thread)
        else:
            result = await durable.aresume(thread)
    print(json.dumps({"output": result.output, "model_calls": result.model_calls,
                      "cost_usd": result.cost_usd, "trace": str(result.trace_path)}))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
