"""A multi-turn session: each message runs one task that sees the conversation so far.

The history is plain data (the user's messages and the answers), kept by the `Conversation`,
saved as JSON and loaded again in another process: a session survives a restart. A run that
pauses for a person (`Result.paused`) joins the history once it is resumed and answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from agentroute.engine.loop import Decision
from agentroute.engine.run_stream import RunStream
from agentroute.errors import ConfigError
from agentroute.runtime.pipeline import Pipeline
from agentroute.runtime.result import Pause, Result
from agentroute.types import Message

VERSION = 1


class Conversation:
    """``conv = Conversation(pipeline)``, then ``conv.ask("...")`` (``await conv.aask``, or
    ``conv.stream``) for each user message: agents get the whole conversation, routers its
    last turns with the new message, and every turn is one run with its own trace, under the
    pipeline's budget."""

    def __init__(self, pipeline: Pipeline, messages: tuple[Message, ...] = ()) -> None:
        self.pipeline = pipeline
        self.messages: list[Message] = list(messages)
        self._asked: str | None = None
        """A message whose run paused: it joins the history with the answer after `resume`."""

    async def aask(self, text: str) -> Result:
        """One turn: run ``text`` with the conversation so far; the history grows by the
        message and its answer (not while the run waits for a person)."""
        return self._keep(text, await self.pipeline.arun(text, history=tuple(self.messages)))

    def stream(self, text: str) -> RunStream[Result]:
        """One turn as a stream (`Pipeline.stream`); the history grows when it ends."""
        stream = self.pipeline.stream(text, history=tuple(self.messages))
        return stream.then(lambda result: self._keep(text, result))

    async def aresume(self, pause: Pause, decision: Decision, why: str = "") -> Result:
        """Go on with this conversation's paused turn (`Pipeline.aresume`)."""
        result = await self.pipeline.aresume(pause, decision, why)
        text = self._asked or pause.checkpoint.get("task", "")
        return self._keep(str(text), result)

    def _keep(self, text: str, result: Result) -> Result:
        if result.paused is not None:
            self._asked = text
            return result
        self._asked = None
        self.messages += [Message.user(text), Message.assistant(result.output)]
        return result

    # -- as data ------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {"version": VERSION, "messages": [m.model_dump(mode="json") for m in self.messages]}

    @classmethod
    def from_data(cls, pipeline: Pipeline, data: dict[str, Any]) -> Conversation:
        """A conversation from `dump`'s data (checked: data only, nothing in it is run)."""
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ConfigError(f"not a saved conversation (version {VERSION})")
        try:
            messages = tuple(Message.model_validate(m) for m in data["messages"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"a saved conversation with unreadable messages: {exc}") from exc
        return cls(pipeline, messages)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.dump(), ensure_ascii=False))
        return path

    @classmethod
    def load(cls, pipeline: Pipeline, path: str | Path) -> Conversation:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a saved conversation: {exc}") from exc
        return cls.from_data(pipeline, data)

    def ask(self, text: str) -> Result:
        """`aask`, blocking (outside an event loop)."""
        return asyncio.run(self._closing(self.aask(text)))

    def resume(self, pause: Pause, decision: Decision, why: str = "") -> Result:
        """`aresume`, blocking (outside an event loop)."""
        return asyncio.run(self._closing(self.aresume(pause, decision, why)))

    async def _closing(self, turn: Awaitable[Result]) -> Result:
        try:
            return await turn
        finally:
            await self.pipeline.aclose()
