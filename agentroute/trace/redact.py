"""Keep secrets out of traces and logs.

Two nets: exact values we know are secret (API keys handed to models, secret-looking
environment variables), and patterns that look like credentials wherever they appear
(bearer tokens, ``sk-...`` keys, values under keys named like ``authorization``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.I)
_SECRET_FIELD = re.compile(r"^(authorization|x-api-key|api[-_]?key|password|secret|token)$", re.I)
_PATTERNS = re.compile(
    r"(?i:bearer\s+[A-Za-z0-9._~+/=-]{8,})"
    r"|\bsk-[A-Za-z0-9_-]{8,}"
    r"|\bxox[abpr]-[A-Za-z0-9-]{8,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{16,}"
)
_MIN_SECRET_LEN = 8
# Cheap and loose on purpose: when any of these appears in an event's lower-cased JSON text,
# the event gets the full walk; when none does, nothing in it can need redacting.
_HINTS = (
    "bearer", "sk-", "xox", '"authorization"', '"x-api-key"', '"api', '"password"', '"secret"',
    '"token"',
)  # fmt: skip
_GITHUB = re.compile(r"gh[pousr]_")
"""GitHub's token prefixes: looked for only where ``gh`` occurs at all (it often does)."""
_JSON_UNSAFE = re.compile(r'["\\\x00-\x1f]')


class Redactor:
    """Replace known secret values and credential-shaped strings with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str] = (), *, include_env: bool = True) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._json_unsafe = False
        if include_env:
            self.add(v for k, v in os.environ.items() if _SECRET_ENV.search(k))
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        fresh = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN} - self._secrets
        if fresh:
            self._secrets |= fresh
            # JSON escapes these, so such a secret cannot be looked for in JSON text
            self._json_unsafe |= any(_JSON_UNSAFE.search(x) for x in fresh)
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def may_touch(self, json_text: str) -> bool:
        """False when redacting the value serialized as ``json_text`` would change nothing
        (the fast path for the many events that hold no secret)."""
        if self._json_unsafe:
            return True
        lowered = json_text.lower()
        for hint in _HINTS:  # plain substring scans beat one regex of alternatives here
            if hint in lowered:
                return True
        if "gh" in lowered and _GITHUB.search(lowered):
            return True
        return self._pattern is not None and self._pattern.search(json_text) is not None

    def text(self, value: str) -> str:
        if self._pattern is not None:
            value = self._pattern.sub(MASK, value)
        return _PATTERNS.sub(MASK, value)

    def __call__(self, value: Any) -> Any:
        """Redact a JSON-like value; returns the very same object when nothing changed."""
        if isinstance(value, str):
            red = self.text(value)
            return value if red == value else red
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            changed = False
            for k, v in value.items():
                nv = MASK if isinstance(k, str) and _SECRET_FIELD.match(k) and v else self(v)
                nk = self.text(k) if isinstance(k, str) else k  # a secret used as a key
                changed |= nv is not v or nk != k
                out[nk] = nv
            return out if changed else value
        if isinstance(value, list | tuple):
            items = [self(v) for v in value]
            if any(a is not b for a, b in zip(items, value, strict=True)):
                return type(value)(items)
            return value
        return value
