"""Streamed answers: pieces reach the run's listeners as they arrive, the budget is held
against them while the stream runs, and a stream that breaks mid-answer is continued.

When a stream breaks (a reset, a 5xx, a cut before the final chunk, or an attempt that runs
past its timeout: the timeout bounds the whole stream, not the gap between two pieces, so an
answer longer than ``attempt_timeout_s`` is cut and continued too), what arrived has already
reached the caller. The next attempt, a retry on the
same model or the failover to another one, is asked to continue that answer
(`ModelRequest.prefill`), and the `Seam` joins the continuation to it: models often repeat the
last words (or all) of what they are continuing, so the continuation's first characters are
held back until it is clear how much of them repeats the answer's end, and only the rest goes
on. The caller's stream goes on as one answer, with no text twice and none lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field

from agentroute.errors import BudgetExceededError, ModelError, StreamBrokenError
from agentroute.types import Completion, Delta, ModelRequest

SEAM_WINDOW = 256
"""The longest repeat looked for at a seam, in characters."""
MIN_REPEAT = 3
"""A shorter match at a seam is taken as chance, not a repeat (``so`` + ``on``)."""
Listen = Callable[[str], None]
"""Where the pieces of an answer go as they arrive (after the seam)."""


def repeated(before: str, after: str) -> int:
    """How many leading characters of ``after`` repeat the end of ``before``: the longest
    repeat of at least `MIN_REPEAT` characters within `SEAM_WINDOW`, else the whitespace that
    would double the whitespace ``before`` ends with."""
    for m in range(min(len(before), len(after), SEAM_WINDOW), MIN_REPEAT - 1, -1):
        if before.endswith(after[:m]):
            return m
    if before[-1:].isspace():
        return len(after) - len(after.lstrip())
    return 0


def joined(before: str, after: str) -> str:
    """``before`` continued by ``after``, the repeat at the seam taken out."""
    return before + after[repeated(before, after) :]


class Seam:
    """Joins a continuation to the answer it continues, piece by piece: the first characters
    are held until they can be checked against the answer's end (`repeated`)."""

    def __init__(self, before: str) -> None:
        self.before = before
        self._held = ""
        self._open = bool(before)
        self._need = min(len(before), SEAM_WINDOW) + 1

    def feed(self, text: str) -> str:
        """What of ``text`` may go on now."""
        if not self._open:
            return text
        self._held += text
        return self.release() if len(self._held) >= self._need else ""

    def release(self) -> str:
        """What is held, less the repeat (the stream ended, or enough has arrived)."""
        if not self._open:
            return ""
        out, self._held, self._open = self._held[repeated(self.before, self._held) :], "", False
        return out


@dataclass
class Answer:
    """One model call's answer as the caller's stream saw it, across the call's attempts."""

    text: str
    """The answer so far: the prefill it continues and everything passed on since."""
    raw: list[str] = field(default_factory=list)
    """This attempt's pieces as the model sent them (for the trace)."""
    tokens: int = 0
    """Output tokens this attempt streamed."""

    def attempt(self) -> Seam:
        self.raw, self.tokens = [], 0
        return Seam(self.text)


def continuation(request: ModelRequest, answer: Answer) -> ModelRequest:
    """``request``, or the request that continues ``answer`` when an earlier attempt
    streamed part of it (its text as the prefill). ``max_tokens`` stays: a continuation is
    reserved and bounded like a whole answer, and depends on nothing but the text, so a
    replay asks exactly what the run asked."""
    if answer.text == request.prefill:
        return request
    return request.model_copy(update={"prefill": answer.text})


async def read(
    pieces: AsyncGenerator[Delta | Completion, None],
    answer: Answer,
    *,
    max_tokens: int,
    listen: Listen,
    label: str,
) -> Completion:
    """Pass a stream's pieces on as they come (through the seam) until its final completion,
    returned as the model sent it (the whole answer is ``answer.text``). A stream that passes
    ``max_tokens`` is stopped (`BudgetExceededError`); one that breaks leaves the answer so far
    in ``answer`` and on the error (``partial``)."""
    seam = answer.attempt()
    try:
        async with contextlib.aclosing(pieces):  # a stream stopped early is closed now
            return await _pieces(pieces, answer, seam, max_tokens=max_tokens, listen=listen,
                                 label=label)  # fmt: skip
    except BaseException as exc:
        _pass(answer, seam.release(), listen)  # what was held back did arrive
        if isinstance(exc, ModelError):
            exc.partial = answer.text
        raise


async def _pieces(
    pieces: AsyncIterator[Delta | Completion], answer: Answer, seam: Seam, *,
    max_tokens: int, listen: Listen, label: str,
) -> Completion:  # fmt: skip
    """`read`'s loop: every piece through the seam, the budget checked piece by piece."""
    async for piece in pieces:
        if isinstance(piece, Completion):
            if not answer.raw and piece.text:  # an endpoint that answered whole
                answer.raw.append(piece.text)
                _pass(answer, seam.feed(piece.text), listen)
            _pass(answer, seam.release(), listen)
            if piece.text != "".join(answer.raw):  # the endpoint's last word (a tool call
                answer.text = joined(seam.before, piece.text)  # it read in the text)
            return piece
        answer.raw.append(piece.text)
        answer.tokens += piece.tokens
        if answer.tokens > max_tokens:
            raise BudgetExceededError(
                f"{label}: the stream passed max_tokens={max_tokens}, what was reserved; stopped",
                limit=float(max_tokens),
                spent=float(answer.tokens),
                requested=float(answer.tokens),
                unit="tokens",
                partial=answer.text,
            )
        _pass(answer, seam.feed(piece.text), listen)
    raise StreamBrokenError(f"{label}: the stream ended before its final chunk", model=label)


def _pass(answer: Answer, text: str, listen: Listen) -> None:
    if text:
        answer.text += text
        listen(text)
