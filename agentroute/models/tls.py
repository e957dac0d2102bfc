"""One TLS context for every provider client in the process.

Building an `openai` or `anthropic` client loads the CA bundle from disk into a new SSL
context (about 20-30 ms each, measured). A pipeline builds its clients for every run, so that
cost was paid per run and per model. The context is built once, on first use, from the same
CA bundle the clients would load (certifi's); when ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` is
set, the clients are left to their own defaults, which honour those variables.
"""

from __future__ import annotations

import functools
import os
import ssl


@functools.cache
def _shared() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def shared_context() -> ssl.SSLContext | None:
    """The process's TLS context, or None when the environment names its own certificates."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return None
    return _shared()
