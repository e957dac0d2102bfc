"""A TCP fault proxy for tests: sits between a client and a real server (the fake model server,
say) and breaks chosen requests the way networks and overloaded servers do.

    with FakeModelServer() as server, FaultProxy(server.port) as proxy:
        proxy.script(Stall(2.0), Reset(after=0.5))       # the next two requests, in order
        model = Model.openai_compatible(proxy.url, "m")   # ... then everything passes

Faults act on one HTTP/1.1 request each (keep-alive connections are followed request by
request): `Reset` sends part of the answer, then a TCP reset; `Cut` sends part of it, then
closes cleanly; `Stall` holds the answer back before its first byte (it is still sent, late,
to a client that has usually given up); `Trickle` sends it a few bytes at a time; `Drop`
resets before any byte. Each request the proxy saw is kept in ``log`` with what was done.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Reset:
    """Send this fraction of the answer's bytes, then reset the connection."""

    after: float = 0.5


@dataclass(frozen=True)
class Cut:
    """Send this fraction of the answer's bytes, then close the connection (FIN)."""

    after: float = 0.5


@dataclass(frozen=True)
class Stall:
    """Hold the answer for ``seconds`` before its first byte, then send it whole."""

    seconds: float


@dataclass(frozen=True)
class Trickle:
    """Send the answer ``chunk`` bytes every ``interval`` seconds."""

    chunk: int = 16
    interval: float = 0.05


@dataclass(frozen=True)
class Drop:
    """Reset the connection as soon as the request has arrived: no byte of answer."""


Fault = Reset | Cut | Stall | Trickle | Drop


@dataclass(frozen=True)
class Handled:
    """One request as the proxy saw it: its first line and the fault applied (None: passed)."""

    request_line: str
    fault: Fault | None
    delivered_bytes: int
    answer_bytes: int


async def _read_head(reader: asyncio.StreamReader) -> tuple[bytes, int | None, bool] | None:
    """A message's head, its Content-Length (None when it has none) and whether its body is
    chunked; None at a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ConnectionError("connection closed mid-headers") from exc
        return None
    if len(head) > _MAX_HEAD:
        raise ConnectionError("headers too large")
    length, chunked = None, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return head, length, chunked


async def _read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 request with a Content-Length body (or none); None at a clean EOF."""
    found = await _read_head(reader)
    if found is None:
        return None
    head, length, _ = found
    return head + (await reader.readexactly(length) if length else b"")


async def _body_parts(
    reader: asyncio.StreamReader, length: int | None, chunked: bool
) -> AsyncIterator[bytes]:
    """A response body as it arrives, verbatim: Content-Length bytes, chunks up to the last
    one, or (neither) everything until the server closes the connection."""
    if length is not None:
        yield await reader.readexactly(length)
    elif chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                trailer = b""
                while not trailer.endswith(b"\r\n\r\n") and trailer != b"\r\n":
                    trailer += await reader.readuntil(b"\r\n")
                yield size_line + trailer
                return
            yield size_line + await reader.readexactly(size + 2)
    else:
        while part := await reader.read(65536):
            yield part


def _hard_reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:  # SO_LINGER 0: close sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forward 127.0.0.1:<port> to ``upstream_port``, breaking scripted requests."""

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.log: list[Handled] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *faults: Fault) -> None:
        """Apply these to the next requests, one each, in order; later ones pass."""
        with self._lock:
            self._faults.extend(faults)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in self._clients:
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def begin() -> None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(begin())
        self._loop.run_forever()

    # -- one client connection --------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        task.add_done_callback(self._clients.discard)
        up_reader = up_writer = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            while True:
                request = await _read_message(reader)
                if request is None:
                    return
                fault = self._next_fault()
                line = request.split(b"\r\n", 1)[0].decode("latin-1")
                if isinstance(fault, Drop):
                    self.log.append(Handled(line, fault, 0, 0))
                    _hard_reset(writer)
                    return
                up_writer.write(request)
                await up_writer.drain()
                found = await _read_head(up_reader)
                if found is None:
                    raise ConnectionError("upstream closed")
                head, length, chunked = found
                parts = _body_parts(up_reader, length, chunked)
                closing = b"\r\nconnection: close" in request.split(b"\r\n\r\n")[0].lower()
                if length is None and not isinstance(fault, Reset | Cut | Trickle):
                    # a stream (SSE, chunked): relayed as it arrives
                    if not await self._relay(writer, head, parts, fault, line, chunked):
                        return
                    if closing:
                        return
                    continue
                answer = head + b"".join([p async for p in parts])
                if not await self._deliver(writer, answer, fault, line):
                    return
                if closing or (length is None and not chunked):
                    return  # the client asked to close, or the body ended with the connection
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            if up_writer is not None:
                up_writer.close()
            if not writer.is_closing():
                writer.close()

    async def _relay(
        self, writer: asyncio.StreamWriter, head: bytes, parts: AsyncIterator[bytes],
        fault: Fault | None, line: str, chunked: bool,
    ) -> bool:  # fmt: skip
        """Pass a streamed answer on as it arrives (after a ``Stall``'s wait); False when the
        connection is finished."""
        if isinstance(fault, Stall):
            await asyncio.sleep(fault.seconds)
        sent = 0
        try:
            writer.write(head)
            sent = len(head)
            async for part in parts:
                writer.write(part)
                await writer.drain()
                sent += len(part)
        except (ConnectionError, OSError):
            self.log.append(Handled(line, fault, sent, sent))
            return False
        self.log.append(Handled(line, fault, sent, sent))
        return chunked  # a body that ended with the connection ends this one too

    async def _deliver(
        self, writer: asyncio.StreamWriter, answer: bytes, fault: Fault | None, line: str
    ) -> bool:
        """Send ``answer`` as ``fault`` says; False when the connection is finished."""
        sent = len(answer)
        keep = True
        if isinstance(fault, Reset | Cut):
            sent = int(len(answer) * fault.after)
            writer.write(answer[:sent])
            await writer.drain()
            if isinstance(fault, Reset):
                _hard_reset(writer)
            else:
                writer.close()
            keep = False
        elif isinstance(fault, Trickle):
            for i in range(0, len(answer), fault.chunk):
                writer.write(answer[i : i + fault.chunk])
                await writer.drain()
                await asyncio.sleep(fault.interval)
        else:
            if isinstance(fault, Stall):
                await asyncio.sleep(fault.seconds)
            try:
                writer.write(answer)
                await writer.drain()
            except (ConnectionError, OSError):
                sent, keep = 0, False  # the client gave up: the late answer reaches no one
        self.log.append(Handled(line, fault, sent, len(answer)))
        return keep
