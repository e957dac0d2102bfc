"""A fast OpenAI-compatible stub: a minimal asyncio HTTP/1.1 server with one canned chat
completion, in its own process, so a client benchmark measures the client.

It answers every POST with the same completion (keep-alive, Content-Length framing) and
``GET /stats`` with the number of TCP connections it has accepted, so a benchmark can count
the new connections a client opened. Run it as a script: it prints its port and serves until
its stdin closes. `start()` does that from a benchmark.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

BODY = json.dumps({
    "id": "c", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
}).encode()  # fmt: skip


def _response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


COMPLETION = _response(BODY)
accepted = 0


async def _client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global accepted
    accepted += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"GET /stats"):
                writer.write(_response(json.dumps({"connections": accepted}).encode()))
                await writer.drain()
                continue
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(COMPLETION)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        writer.close()


async def _serve() -> None:
    server = await asyncio.start_server(_client, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def start() -> tuple[subprocess.Popen[str], str]:
    """Start the stub in its own process: the process and its ``/v1`` base URL. Close the
    process's stdin (or kill it) to stop it."""
    proc = subprocess.Popen(
        [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/v1"


def connections(base_url: str) -> int:
    """How many TCP connections the stub has accepted so far."""
    import urllib.request

    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats") as response:
        return int(json.load(response)["connections"])


if __name__ == "__main__":
    asyncio.run(_serve())
