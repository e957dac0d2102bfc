"""The hash chain of a JSONL trace, and its verification.

Every line holds ``prev``: the SHA-256 of the exact bytes of the line before it (64 zeros for
the first line). A sink ends what it wrote with a ``seal`` line holding how many lines it
wrote since the previous seal. A verified trace has an unbroken chain and ends with a seal
whose count matches, so edits, deletions, reordering and truncation are all detected.

Unkeyed, the chain proves integrity against accidents and careless edits, not against a
forger: anyone can recompute SHA-256 after editing a line. With a key (``JsonlSink(path,
key=...)``, held outside the file), every ``prev`` is an HMAC-SHA256 and seals say so; without
the key nobody can produce a chain that verifies. A forger can still cut a file at a seal (drop
the last runs): keep the final hash `verify` reports to detect that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agentroute.errors import TraceError

GENESIS = "0" * 64
SEAL = "seal"
CHAIN_VERSION = 1
MAC = "hmac-sha256"
MAX_TRACE_BYTES = 256 * 1024 * 1024


def line_hash(line: bytes, key: bytes | None = None) -> str:
    if key is None:
        return hashlib.sha256(line).hexdigest()
    return hmac.new(key, line, hashlib.sha256).hexdigest()


def seal_line(count: int, prev: str, keyed: bool = False) -> str:
    """The one exact form of a seal (without its newline), so a seal cannot be edited either."""
    seal: dict[str, object] = {"kind": SEAL, "v": CHAIN_VERSION, "count": count, "prev": prev}
    if keyed:
        seal["mac"] = MAC
    return json.dumps(seal, separators=(",", ":"))


def last_line(path: Path, size: int, block: int = 65536) -> bytes:
    """The last line of a file (with its newline, if it has one), read backwards."""
    with path.open("rb") as f:
        end = size
        buf = b""
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            buf = f.read(end - start) + buf
            cut = buf.rfind(b"\n", 0, len(buf) - 1)
            if cut != -1:
                return buf[cut + 1 :]
            end = start
        return buf


@dataclass(frozen=True)
class ChainReport:
    records: int
    seals: int
    final_hash: str


def checked_path(path: str | os.PathLike[str], max_bytes: int) -> Path:
    """The trace's path, once it is known to exist and to be no larger than ``max_bytes``."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise TraceError(f"cannot read trace {p}: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):  # /dev/zero, a FIFO: no size to trust, maybe no end
        raise TraceError(f"trace {p} is not a regular file")
    size = st.st_size
    if size > max_bytes:
        raise TraceError(f"trace {p} is {size} bytes, over the {max_bytes}-byte limit")
    return p


def verify(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_TRACE_BYTES, key: bytes | None = None
) -> ChainReport:
    """Check the chain of a sealed trace; raise `TraceError` naming the first bad line. A
    trace written with a key verifies only with that key."""
    p = checked_path(path, max_bytes)
    prev, records, seals, since_seal = GENESIS, 0, 0, 0
    sealed = False
    with p.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                raise TraceError(f"{p}:{number}: truncated line (no newline)")
            try:
                record = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise TraceError(f"{p}:{number}: not JSON (or nested too deep)") from exc
            if not isinstance(record, dict) or record.get("prev") != prev:
                raise TraceError(
                    f"{p}:{number}: hash chain broken (line edited, removed or moved"
                    + (", or the wrong key)" if key else ")")
                )
            if record.get("kind") == SEAL:
                if (record.get("mac") == MAC) != (key is not None):
                    raise TraceError(
                        f"{p}:{number}: the trace is keyed: verify it with its key"
                        if key is None
                        else f"{p}:{number}: the trace is not keyed: verify it without a key"
                    )
                if raw != (seal_line(since_seal, prev, key is not None) + "\n").encode():
                    raise TraceError(
                        f"{p}:{number}: seal does not match the {since_seal} records before it"
                    )
            prev = line_hash(raw, key)
            if record.get("kind") == SEAL:
                seals, since_seal, sealed = seals + 1, 0, True
            else:
                records, since_seal, sealed = records + 1, since_seal + 1, False
    if not sealed:
        raise TraceError(f"{p}: not sealed (truncated, or the run did not finish)")
    return ChainReport(records=records, seals=seals, final_hash=prev)


@dataclass(frozen=True)
class Salvage:
    """What a crashed writer left: every complete record, and how the file ends."""

    records: list[dict[str, object]]
    torn_tail: bool
    """The last line has no newline: the writer died while writing it (it is dropped)."""
    sealed: bool
    torn_closed: int = 0
    """Torn lines that a later writer closed with a newline and chained on from."""


def salvage(path: str | os.PathLike[str], *, max_bytes: int = MAX_TRACE_BYTES) -> Salvage:
    """Read a trace that may have been cut off by a crash. A torn last line is dropped; any
    complete line that is not JSON or breaks the chain is corruption and raises `TraceError`
    (a crash can tear the line being written, never an earlier one)."""
    p = checked_path(path, max_bytes)
    prev, records, sealed, torn, closed = GENESIS, [], False, False, 0
    pending: int | None = None  # a non-JSON line: fine only if the next line chains from it
    with p.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                torn = True
                break
            try:
                record = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):
                if pending is not None:
                    raise TraceError(f"{p}:{pending}: not JSON") from None
                pending, prev = number, line_hash(raw)
                continue
            if pending is not None:
                closed, pending = closed + 1, None
            if not isinstance(record, dict) or record.get("prev") != prev:
                raise TraceError(f"{p}:{number}: hash chain broken")
            prev = line_hash(raw)
            sealed = record.get("kind") == SEAL
            if not sealed:
                records.append(record)
    if pending is not None:
        raise TraceError(f"{p}:{pending}: not JSON, and nothing chains on from it")
    return Salvage(records, torn, sealed, closed)
