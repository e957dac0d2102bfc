"""Entry point of a managed llama.cpp server process.

It runs ``llama_cpp.server`` in this process and exits as soon as its parent is gone, so a
parent killed with SIGKILL leaves no stray server behind. Usage (internal):
``python -m agentroute.models.local._child PARENT_PID -- <llama_cpp.server args>``
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.25)


def main() -> None:
    parent = int(sys.argv[1])
    args = sys.argv[3:] if sys.argv[2:3] == ["--"] else sys.argv[2:]
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()
    sys.argv = ["llama_cpp.server", *args]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
