"""Where trace events go. A sink receives each event as a redacted JSON-ready dict.

`JsonlSink` writes through structlog: one JSON object per line, each line handed to the
kernel in a single ``write`` on a file opened for append, so records from a crashed run are
never glued to the next run's (a torn last line is closed off with a newline on reopen).
Each line carries ``prev``, the SHA-256 of the line before it, and closing the sink appends a
``seal`` line with the count of lines it wrote: any edit, deletion, reordering or truncation
breaks the chain (`agentroute.trace.chain.verify`). structlog (which loads rich for its
console renderer) is imported when the first `JsonlSink` opens, not with the package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agentroute.trace.chain import GENESIS, last_line, line_hash, seal_line


@runtime_checkable
class Sink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps records in a list; handy in tests."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


class _AppendLine:
    """The structlog "logger" at the end of the chain: one ``os.write`` per record, and the
    hash of the last line written, for the next record's ``prev``."""

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.key = key
        self.last_hash = GENESIS
        self.count = 0
        size = os.fstat(self._fd).st_size
        if size:
            last = last_line(path, size)
            if not last.endswith(b"\n"):
                os.write(self._fd, b"\n")  # a previous writer died mid-line
                last += b"\n"
            self.last_hash = line_hash(last, key)

    def msg(self, message: str) -> None:
        line = (message + "\n").encode()
        data = memoryview(line)
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        self.last_hash = line_hash(line, self.key)
        self.count += 1

    def close(self) -> None:
        os.close(self._fd)


def _dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, **kw)


class JsonlSink:
    """Append events to a JSON Lines file (created with mode 0600). With ``key`` (bytes held
    outside the file) the chain is an HMAC: only the key's holder can make it verify."""

    def __init__(self, path: str | os.PathLike[str], *, key: bytes | None = None) -> None:
        import structlog

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = _AppendLine(self.path, key)
        self._log = structlog.wrap_logger(
            self._out,
            processors=[self._chain, structlog.processors.JSONRenderer(serializer=_dumps)],
            wrapper_class=structlog.BoundLogger,
            cache_logger_on_first_use=False,
        )

    def _chain(self, _logger: Any, _method: str, event_dict: Any) -> Any:
        event_dict["prev"] = self._out.last_hash
        return event_dict

    def write(self, record: dict[str, Any]) -> None:
        self._log.msg(**record)

    def close(self) -> None:
        """Seal what this sink wrote, then close the file."""
        self._out.msg(seal_line(self._out.count, self._out.last_hash, self._out.key is not None))
        self._out.close()
