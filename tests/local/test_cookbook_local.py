"""Every cookbook file on the embedded local models, under `agentroute run`, with every run
replayed identically from its trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cookbook import FILES, agentroute_run


@pytest.mark.local_model
@pytest.mark.parametrize("file", FILES)
def test_cookbook_file_on_the_local_models(
    file: str, small_and_large: None, tmp_path: Path
) -> None:
    out = agentroute_run(file, "--check-replay", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    [line] = [x for x in out.stdout.splitlines() if x.startswith("replay: ")]
    done = line.removeprefix("replay: ").split(" of ")[0]
    assert int(done) >= 1 and line == f"replay: {done} of {done} runs identical"
    assert "agentroute runs" in out.stdout
