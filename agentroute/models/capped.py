"""A cap on what a model server may send back, applied before anything is parsed.

The provider clients read and decompress a whole body before their JSON parser sees it, so a
300 KB gzip body that inflates to 300 MB would cost 300 MB first. `CappedTransport` sits under
the client: it asks only for encodings it can bound (gzip, deflate), inflates the body itself
in bounded steps, and refuses it with `ResponseFormatError` the moment the decoded size passes
the cap.
"""

from __future__ import annotations

import functools
import ssl
import zlib
from collections.abc import Callable
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
        body = await self._read(response, _WBITS.get(encoding))
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length")]  # fmt: skip
        return httpx2.Response(
            response.status_code, headers=headers, content=body,
            extensions=response.extensions, request=request,
        )  # fmt: skip

    async def _read(self, response: httpx2.Response, wbits: int | None) -> bytes:
        decoder = zlib.decompressobj(wbits) if wbits is not None else None
        out = bytearray()
        try:
            async for raw in response.stream:  # type: ignore[union-attr]
                data = raw
                while data:
                    room = self.max_bytes - len(out) + 1
                    if decoder is None:
                        piece, data = data[:room], data[room:]
                    else:
                        piece, data = decoder.decompress(data, room), decoder.unconsumed_tail
                    out += piece
                    if len(out) > self.max_bytes:
                        raise ResponseFormatError(
                            f"the response passed {self.max_bytes} bytes (decoded): refused"
                        )
        except zlib.error as exc:
            raise ResponseFormatError(f"the response body does not decompress: {exc}") from exc
        finally:
            await response.aclose()
        return bytes(out)

    async def aclose(self) -> None:
        await self._inner.aclose()


@functools.cache
def _default_context() -> ssl.SSLContext:
    """The system's default context (it honours SSL_CERT_FILE and SSL_CERT_DIR), built once:
    building one costs 30-70 ms."""
    return ssl.create_default_context()


def capped_client(make: Callable[..., Any], tls: ssl.SSLContext | None) -> Any:
    """A provider's HTTP client (``make``: its ``DefaultAsyncHttpx2Client``) whose responses
    pass through `CappedTransport`, with the provider's usual pool limits."""
    transport = httpx2.AsyncHTTPTransport(
        verify=tls if tls is not None else _default_context(),
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
    )
    return make(transport=CappedTransport(transport))
