"""Public test helpers: a real OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1.

Use it in your own tests the way agentroute's tests do: script what the server answers
(text, logprobs, tool calls, latency, status codes, malformed bodies, cut connections) and
point a `Model` at ``server.url``. Nothing is patched; real sockets, real HTTP.

    with FakeModelServer() as server:
        server.script(Fail(429, retry_after=0.1), Reply("4"))
        model = Model.openai_compatible(server.url, "m")
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

LogprobSpec = tuple[str, float, tuple[tuple[str, float], ...]]


@dataclass(frozen=True)
class Reply:
    """A successful answer. ``usage=None`` omits the usage block, as some servers do."""

    text: str = "ok"
    logprobs: tuple[LogprobSpec, ...] | None = None
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    usage: tuple[int, int] | None = (10, 5)
    delay_s: float = 0.0
    finish_reason: str = "stop"
    gap_s: float = 0.0
    """In a stream: the pause between two chunks."""


@dataclass(frozen=True)
class Fail:
    """An HTTP error status, optionally with ``Retry-After``."""

    status: int = 500
    message: str = "scripted failure"
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Raw:
    """Exactly these bytes with this status and content type (for malformed answers)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    """More headers, such as ``("Content-Encoding", "gzip")`` for a compressed body."""


@dataclass(frozen=True)
class Cut:
    """Announce a full body, send ``fraction`` of it, then close the connection. For a
    streaming request: send that fraction of the chunks and close without ``[DONE]``."""

    fraction: float = 0.5
    delay_s: float = 0.0


@dataclass(frozen=True)
class Break:
    """A stream that sends ``reply``'s first ``after`` chunks, then an error event (an
    overloaded server, mid-answer) and closes. A request that does not stream gets ``status``."""

    reply: Reply
    after: int = 3
    status: int = 529
    message: str = "overloaded"
    delay_s: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Wait ``seconds`` before answering with ``then`` (the client usually gives up first)."""

    seconds: float
    then: Reply = field(default_factory=Reply)


Action = Reply | Fail | Raw | Cut | Hang | Break
Responder = Callable[[dict[str, Any]], Action]


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class FakeModelServer:
    """Threaded HTTP server speaking ``/v1/chat/completions``, ``/v1/messages`` and ``/v1/models``.

    Scripted actions are served in order per model name (or for any model); when the script
    runs out, ``responder`` decides (default: echo a short reply).
    """

    def __init__(self, *, responder: Responder | None = None, host: str = "127.0.0.1") -> None:
        self.responder: Responder = responder or (lambda body: Reply("ok"))
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, deque[Action]] = {}
        self._lock = threading.Lock()
        self._httpd = _QuietHTTPServer((host, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for OpenAI-compatible clients (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """Base URL for the Anthropic client (which appends ``/v1/messages`` itself)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeModelServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fake-model-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------
    def script(self, *actions: Action, model: str = "*") -> None:
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(actions)

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.requests.clear()

    def calls(self, path_suffix: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(path_suffix)]

    def _next(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Action:
        with self._lock:
            self.requests.append(RecordedRequest(path, headers, body, time.time()))
            for key in (str(body.get("model", "")), "*"):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
        return self.responder(body)


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that hangs up mid-request is normal in tests: no traceback for it. The
    listen backlog is deep enough for load tests with hundreds of concurrent clients."""

    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _openai_body(body: dict[str, Any], r: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": r.text}
    if r.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(r.tool_calls)
        ]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "finish_reason": "tool_calls" if r.tool_calls else r.finish_reason,
    }
    if r.logprobs is not None and body.get("logprobs"):
        choice["logprobs"] = {
            "content": [
                {
                    "token": tok,
                    "logprob": lp,
                    "bytes": None,
                    "top_logprobs": [{"token": t, "logprob": v, "bytes": None} for t, v in top],
                }
                for tok, lp, top in r.logprobs
            ]
        }
    out: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [choice],
    }
    if r.usage is not None:
        out["usage"] = {
            "prompt_tokens": r.usage[0],
            "completion_tokens": r.usage[1],
            "total_tokens": sum(r.usage),
        }
    return out


def _anthropic_body(body: dict[str, Any], r: Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": r.text}] if r.text else []
    content += [
        {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
        for i, (name, args) in enumerate(r.tool_calls)
    ]
    usage = r.usage or (0, 0)
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake"),
        "content": content,
        "stop_reason": "tool_use" if r.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def _sse_chunks(body: dict[str, Any], r: Reply) -> list[bytes]:
    """An OpenAI chat completion stream: one chunk per word, the tool calls in two pieces
    each, the final chunk, usage when asked for (``stream_options``), ``[DONE]``."""
    model = body.get("model", "fake")

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> bytes:
        data = {
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more,
        }  # fmt: skip
        return f"data: {json.dumps(data)}\n\n".encode()

    chunks = [chunk({"content": piece}) for piece in _words(r.text)]
    for i, (name, args) in enumerate(r.tool_calls):
        text = json.dumps(args)
        head = {"index": i, "id": f"call_{i}", "type": "function",
                "function": {"name": name, "arguments": text[: len(text) // 2]}}  # fmt: skip
        tail = {"index": i, "function": {"arguments": text[len(text) // 2 :]}}
        chunks += [chunk({"tool_calls": [head]}), chunk({"tool_calls": [tail]})]
    chunks.append(chunk({}, "tool_calls" if r.tool_calls else r.finish_reason))
    if r.usage is not None and (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": r.usage[0], "completion_tokens": r.usage[1],
                 "total_tokens": sum(r.usage)}  # fmt: skip
        data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                "choices": [], "usage": usage}  # fmt: skip
        chunks.append(f"data: {json.dumps(data)}\n\n".encode())
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def _anthropic_events(body: dict[str, Any], r: Reply) -> list[bytes]:
    """An Anthropic Messages stream: a text block with one delta per word, a tool_use block
    per tool call (its input in two pieces), the stop reason and usage, ``message_stop``."""
    usage = r.usage or (0, 0)

    def event(kind: str, data: dict[str, Any]) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

    start = {"id": "msg_fake", "type": "message", "role": "assistant", "content": [],
             "model": body.get("model", "fake"), "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": usage[0], "output_tokens": 0}}  # fmt: skip
    out = [event("message_start", {"message": start})]
    index = 0
    if r.text:
        text_block = {"type": "text", "text": ""}
        out.append(event("content_block_start", {"index": 0, "content_block": text_block}))
        for piece in _words(r.text):
            delta = {"type": "text_delta", "text": piece}
            out.append(event("content_block_delta", {"index": 0, "delta": delta}))
        out.append(event("content_block_stop", {"index": 0}))
        index = 1
    for i, (name, args) in enumerate(r.tool_calls, start=index):
        text = json.dumps(args)
        block: dict[str, Any] = {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {}}
        out.append(event("content_block_start", {"index": i, "content_block": block}))
        for part in (text[: len(text) // 2], text[len(text) // 2 :]):
            delta = {"type": "input_json_delta", "partial_json": part}
            out.append(event("content_block_delta", {"index": i, "delta": delta}))
        out.append(event("content_block_stop", {"index": i}))
    stop = "tool_use" if r.tool_calls else "end_turn"
    out.append(event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                       "usage": {"output_tokens": usage[1]}}))  # fmt: skip
    out.append(event("message_stop", {}))
    return out


def _words(text: str) -> list[str]:
    """``text`` in pieces of one word each, spaces kept (joined, they give ``text`` back)."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _make_handler(server: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out as separate writes; without TCP_NODELAY, Nagle's algorithm
        # and delayed ACKs add about 40 ms to every keep-alive request
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _send(
            self,
            status: int,
            payload: bytes,
            content_type: str = "application/json",
            extra: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(
                    200,
                    json.dumps(
                        {
                            "object": "list",
                            "data": [{"id": "fake", "object": "model", "owned_by": "agentroute"}],
                        }
                    ).encode(),
                )
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if len(raw) < length:
                self.close_connection = True  # the client went away mid-request
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, b'{"error": {"message": "request body is not JSON"}}')
                return
            route = urlsplit(self.path).path.rstrip("/")  # a gateway's key may ride in the query
            anthropic_route = route.endswith("/messages")
            if not (anthropic_route or route.endswith("/chat/completions")):
                # like many servers' 404 pages, it echoes the URL it was asked for
                echo = json.dumps({"error": {"message": f"unknown route {self.path}"}})
                self._send(404, echo.encode())
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                action = server._next(self.path, headers, body)
            except Exception as exc:  # a broken responder answers 500 and says why
                action = Fail(500, message=f"responder raised {type(exc).__name__}: {exc}")
            # a client that gave up (timeout) closes the socket: nothing left to do then
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._act(action, body, anthropic_route)

        def _act(self, action: Action, body: dict[str, Any], anthropic_route: bool) -> None:
            if isinstance(action, Hang):
                time.sleep(action.seconds)
                action = action.then
            if action.delay_s:
                time.sleep(action.delay_s)
            if isinstance(action, Fail):
                extra = (
                    {} if action.retry_after is None else {"Retry-After": f"{action.retry_after:g}"}
                )
                err = {"type": "error", "error": {"type": "api_error", "message": action.message}}
                self._send(action.status, json.dumps(err).encode(), extra=extra)
            elif isinstance(action, Raw):
                self._send(action.status, action.body, content_type=action.content_type,
                           extra=dict(action.headers))  # fmt: skip
            elif isinstance(action, Break) and body.get("stream"):
                self._stream(body, action.reply, anthropic_route, broken=action)
            elif isinstance(action, Break):
                err = {"type": "error", "error": {"type": "api_error", "message": action.message}}
                self._send(action.status, json.dumps(err).encode())
            elif isinstance(action, Cut) and body.get("stream"):
                self._stream(
                    body, Reply("one two three four five six seven eight"), anthropic_route,
                    cut=action.fraction,
                )  # fmt: skip
            elif isinstance(action, Cut):
                payload = json.dumps(_openai_body(body, Reply("x" * 200))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: int(len(payload) * action.fraction)])
                self.wfile.flush()
                self.close_connection = True
            elif isinstance(action, Reply):
                if body.get("stream"):
                    self._stream(body, action, anthropic_route)
                elif anthropic_route:
                    self._send(200, json.dumps(_anthropic_body(body, action)).encode())
                else:
                    self._send(200, json.dumps(_openai_body(body, action)).encode())

        def _stream(
            self, body: dict[str, Any], r: Reply, anthropic: bool, cut: float | None = None,
            broken: Break | None = None,
        ) -> None:  # fmt: skip
            """Server-sent events, one chunk per word (``gap_s`` apart); with ``cut`` the
            connection closes after that fraction of the chunks, before the final one; with
            ``broken``, after its first chunks, with an error event."""
            chunks = _anthropic_events(body, r) if anthropic else _sse_chunks(body, r)
            if cut is not None:
                chunks = chunks[: max(1, int((len(chunks) - 2) * cut))]
            if broken is not None:
                head = 2 if anthropic else 0  # message_start and the text block's start
                error = {"type": "overloaded_error" if broken.status == 529 else "api_error",
                         "message": broken.message}  # fmt: skip
                event = (f"event: error\ndata: {json.dumps({'type': 'error', 'error': error})}"
                         if anthropic else f"data: {json.dumps({'error': error})}")  # fmt: skip
                chunks = [*chunks[: head + broken.after], f"{event}\n\n".encode()]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for i, chunk in enumerate(chunks):
                if i and r.gap_s:
                    time.sleep(r.gap_s)
                self.wfile.write(chunk)
                self.wfile.flush()
            self.close_connection = True

    return Handler
