"""Find the CPython of a given minor version (the one the Lambda runtime runs): on PATH, or in pyenv's versions.

pyenv's shims are on PATH but only work for the selected version, so every candidate is asked for its version
instead of trusting its name. The error is one line that says how to get the interpreter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path


class InterpreterNotFound(RuntimeError):
    """No interpreter of the wanted version; the message is one line for a person."""


def runtime_version(runtime: str) -> str:
    """'python3.12' -> '3.12' (the Lambda runtime identifier of a function)."""
    match = re.fullmatch(r"python(\d+\.\d+)", runtime)
    if not match:
        raise ValueError(f"{runtime!r} is not a Lambda python runtime identifier such as python3.12")
    return match.group(1)


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=10, check=False)
            if out.returncode == 0 and out.stdout.strip():
                return Path(out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def _patch_level(path: Path) -> tuple[int, ...]:
    """3.12.10 sorts after 3.12.9: compare the numbers of the pyenv version directory."""
    return tuple(int(p) for p in re.findall(r"\d+", path.parents[1].name))


def candidates(version: str) -> list[Path]:
    """Where an interpreter of `version` may be, best first: pyenv's installed versions (newest patch level),
    then PATH."""
    found: list[Path] = []
    root = _pyenv_root()
    if root:
        found += sorted((root / "versions").glob(f"{version}*/bin/python{version}"), key=_patch_level, reverse=True)
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(Path(on_path))
    return found


def _reports(path: Path, version: str) -> bool:
    try:
        out = subprocess.run([str(path), "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def find_python(version: str = "3.12") -> Path:
    """The path of a working python`version`, or InterpreterNotFound with one line saying how to install it."""
    for path in candidates(version):
        if path.is_file() and _reports(path, version):
            return path
    raise InterpreterNotFound(
        f"Python {version} (the Lambda runtime's version) was not found on PATH or in pyenv's versions: install it "
        f"(`pyenv install {version}`) or put python{version} on PATH")
