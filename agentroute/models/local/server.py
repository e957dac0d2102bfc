"""Start, watch and stop llama.cpp OpenAI-compatible servers on 127.0.0.1.

One process per model, each with its own port. ``OMP_WAIT_POLICY=PASSIVE`` keeps two servers
generating at once from spinning against each other on a small machine (measured here: two
2-thread servers fell to 1.4 tok/s each without it). A server started by ``agentroute serve``
is found through its record file and reused; servers the pool started itself are stopped at
exit, and die on their own if this process is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from agentroute.errors import LocalModelError
from agentroute.models.local.paths import home
from agentroute.models.local.pull import is_pulled, model_path, spec_for

DEFAULT_CTX = 4096


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url + "/models", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def records_dir() -> Path:
    return home() / "servers"


class LocalServer:
    """One llama.cpp server process serving one embedded model under the alias ``tier``."""

    def __init__(
        self,
        tier: str,
        *,
        port: int | None = None,
        n_threads: int | None = None,
        n_ctx: int = DEFAULT_CTX,
        startup_timeout_s: float = 180.0,
        model_file: Path | None = None,
        logits_all: bool = True,
        options: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        """``logits_all``: keep every position's logits (what logprobs need; it costs memory
        and a little speed). ``options``: more ``llama_cpp.server`` flags (``--cache``,
        ``--n_batch``...). ``name``: the log file's (default: the tier's), for several
        servers of one tier."""
        self.tier = tier
        self.spec = spec_for(tier)
        self.port = port
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.n_ctx = n_ctx
        self.startup_timeout_s = startup_timeout_s
        self.model_file = model_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.logits_all = logits_all
        self.options = tuple(options)
        self.log_path = home() / "logs" / f"server-{name or tier}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> LocalServer:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelError(
                "the embedded models need llama.cpp's server: pip install 'agentroute[local]' "
                "(see the README for the build flags)"
            )
        path = self.model_file or model_path(self.tier)
        if self.model_file is None and not is_pulled(self.spec):
            raise LocalModelError(
                f"the {self.tier} model is not on this machine; "
                f"run: agentroute models pull {self.tier}"
            )
        if self.port is None:
            self.port = _free_port()
        elif not _port_free(self.port):
            raise LocalModelError(f"port {self.port} on 127.0.0.1 is already in use; pick another")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        cmd = [
            sys.executable, "-m", "agentroute.models.local._child", str(os.getpid()), "--",
            "--model", str(path), "--model_alias", self.tier, "--host", "127.0.0.1",
            "--port", str(self.port), "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads), "--logits_all", str(self.logits_all).lower(),
            # by default the server cuts a running stream when another request arrives
            "--interrupt_requests", "false",
            *self.options,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise LocalModelError(
                    f"the {self.tier} server exited with code {code} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if _answers(self.url, timeout=0.5):
                self._first_answer()
                return self
            time.sleep(0.1)
        self.stop()
        raise LocalModelError(
            f"the {self.tier} server did not answer within {self.startup_timeout_s:.0f}s; "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def _first_answer(self) -> None:
        """One token, so a llama.cpp build that cannot run on this CPU fails here, clearly,
        and not in the middle of a task."""
        body = json.dumps({"model": self.tier, "max_tokens": 1,
                           "messages": [{"role": "user", "content": "hi"}]}).encode()  # fmt: skip
        request = urllib.request.Request(
            self.url + "/chat/completions", body, {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.startup_timeout_s) as resp:
                resp.read()
            return
        except OSError as exc:
            error: OSError | None = exc
        time.sleep(0.2)
        code = self.proc.poll() if self.proc is not None else None
        self.stop()
        raise LocalModelError(
            f"the {self.tier} server failed its first answer ({error}; exit code {code}): "
            "a llama.cpp build tuned to another CPU crashes like this; rebuild it portable "
            f"with `make clean install`; log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)

    # -- records for `agentroute serve` ------------------------------------------------------
    def write_record(self) -> Path:
        assert self.proc is not None
        d = records_dir()
        d.mkdir(parents=True, exist_ok=True)
        rec = d / f"{self.tier}.json"
        rec.write_text(
            json.dumps({"url": self.url, "pid": self.proc.pid, "sha256": self.spec.sha256})
        )
        return rec


def find_served(tier: str) -> str | None:
    """URL of a live server for ``tier`` started by ``agentroute serve``, if there is one."""
    rec = records_dir() / f"{tier}.json"
    try:
        data = json.loads(rec.read_text())
        url, pid, sha = str(data["url"]), int(data["pid"]), str(data["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if sha != spec_for(tier).sha256 or not _pid_alive(pid) or not _answers(url):
        return None
    return url


class ServerPool:
    """Starts one server per tier on first use and stops them all at exit."""

    def __init__(self) -> None:
        self._servers: dict[str, LocalServer] = {}
        self._lock = threading.Lock()
        self._tier_locks: dict[str, threading.Lock] = {}
        atexit.register(self.stop_all)

    def url_for(self, tier: str) -> str:
        """URL of a live server for ``tier``, starting one if needed (servers of different
        tiers can start at the same time from different threads)."""
        with self._lock:
            tier_lock = self._tier_locks.setdefault(tier, threading.Lock())
        with tier_lock:
            server = self._servers.get(tier)
            if server is not None and server.alive():
                return server.url
            external = find_served(tier)
            if external:
                return external
            server = LocalServer(tier).start()
            self._servers[tier] = server
            return server.url

    def server(self, tier: str) -> LocalServer | None:
        return self._servers.get(tier)

    def stop_all(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for server in servers:
            server.stop()


POOL = ServerPool()
