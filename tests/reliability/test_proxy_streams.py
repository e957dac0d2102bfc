"""The fault proxy passes streamed (SSE) and chunked answers on when no fault is scripted, and
its log says what it delivered."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from agentroute.fault_proxy import FaultProxy
from agentroute.testing import FakeModelServer, Reply


def _ask(port: int, body: bytes, path: str = "/v1/chat/completions") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_a_streamed_answer_arrives_through_the_proxy(server: FakeModelServer) -> None:
    server.script(Reply("one two three"))
    body = json.dumps({"model": "m", "stream": True,
                       "messages": [{"role": "user", "content": "q"}]}).encode()  # fmt: skip
    with FaultProxy(server.port) as proxy:
        answer = _ask(proxy.port, body)
    assert b"data: [DONE]" in answer and b"three" in answer
    [handled] = proxy.log
    assert handled.delivered_bytes == handled.answer_bytes == len(answer)


@pytest.fixture
def chunked_upstream() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: text/plain\r\n\r\n"
                         b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")  # fmt: skip

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    thread.join(timeout=5)
    listener.close()


def test_a_chunked_answer_arrives_through_the_proxy(chunked_upstream: int) -> None:
    with FaultProxy(chunked_upstream) as proxy:
        answer = _ask(proxy.port, b"{}", path="/anything")
    assert answer.endswith(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    [handled] = proxy.log
    assert handled.delivered_bytes == len(answer)
