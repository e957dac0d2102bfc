"""A cap on what a model server may send back, applied before anything is parsed.

The provider clients read and decompress a whole body before their JSON parser sees it, so a
300 KB gzip body that inflates to 300 MB would cost 300 MB first. `CappedTransport` sits under
the client: it asks only for encodings it can bound (gzip, deflate), inflates the body itself
in bounded steps as it is read (a server-sent event stream flows through, never buffered), and
refuses it with `ResponseFormatError` the moment the decoded size passes the cap.
"""

from __future__ import annotations

import functools
import ssl
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2

from agentroute.errors import ResponseFormatError

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}


class CappedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncBaseTransport, max_bytes: int = MAX_RESPONSE_BYTES):
        self._inner = inner
        self.max_bytes = max_bytes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.headers["accept-encoding"] = "gzip, deflate"
        response = await self._inner.handle_async_request(request)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        length = response.headers.get("content-length", "")
        if encoding == "identity" and length.isdigit() and int(length) <= self.max_bytes:
            return response  # a plain body of a length within the cap: nothing to bound
        if encoding not in _WBITS and encoding != "identity":
            await response.aclose()
            raise ResponseFormatError(f"the server sent an unasked-for encoding {encoding!r}")
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length")]  # fmt: skip
        return httpx2.Response(
            response.status_code, headers=headers, extensions=response.extensions,
            request=request, stream=_Bounded(response, _WBITS.get(encoding), self.max_bytes),
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Bounded(httpx2.AsyncByteStream):
    """A body decoded and counted as it is read (a server-sent event stream arrives piece by
    piece): refused with `ResponseFormatError` the moment it passes the cap."""

    def __init__(self, response: httpx2.Response, wbits: int | None, max_bytes: int) -> None:
        self._response = response
        self._wbits = wbits
        self._max = max_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        decoder = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        total = 0
        try:
            async for data in self._response.stream:  # type: ignore[union-attr]
                while data:
                    room = self._max - total + 1
                    if decoder is None:
                        piece, data = data[:room], data[room:]
                    else:
                        piece, data = decoder.decompress(data, room), decoder.unconsumed_tail
                    total += len(piece)
                    if total > self._max:
                        raise ResponseFormatError(
                            f"the response passed {self._max} bytes (decoded): refused"
                        )
                    if piece:
                        yield piece
        except zlib.error as exc:
            raise ResponseFormatError(f"the response body does not decompress: {exc}") from exc
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()


@functools.cache
def _default_context() -> ssl.SSLContext:
    """The system's default context (it honours SSL_CERT_FILE and SSL_CERT_DIR), built once:
    building one costs 30-70 ms."""
    return ssl.create_default_context()


def capped_client(
    make: Callable[..., Any], tls: ssl.SSLContext | None, connections: int = 100
) -> Any:
    """A provider's HTTP client (``make``: its ``DefaultAsyncHttpx2Client``) whose responses
    pass through `CappedTransport`, with a pool of ``connections`` that are all kept alive
    (one that closes after each request when more are in flight than are kept costs a new
    TCP connection, and the pool scans every connection it holds on each request)."""
    transport = httpx2.AsyncHTTPTransport(
        verify=tls if tls is not None else _default_context(),
        limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
    return make(transport=CappedTransport(transport))
