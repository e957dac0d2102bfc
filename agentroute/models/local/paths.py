"""Where agentroute keeps its local state (weights, server records)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$AGENTROUTE_HOME``, else ``$XDG_CACHE_HOME/agentroute``, else ``~/.cache/agentroute``."""
    explicit = os.environ.get("AGENTROUTE_HOME")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentroute"


def models_dir() -> Path:
    return home() / "models"
