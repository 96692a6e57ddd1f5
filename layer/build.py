#!/usr/bin/env python3
"""Build what the functions run with, without Docker (needs PyPI and Python 3.12):

    python layer/build.py layer     # `make layer`: the dependency layer that is deployed
    python layer/build.py runtime   # `make lambda-runtime`: the runtime's own boto3, for the Lambda-faithful tests

The layer is requirements.txt installed with pip for the Lambda platform rather than this machine (manylinux2014
x86_64 wheels for CPython 3.12, binary only) into build/layer/python, the layout Lambda puts on sys.path from
/opt/python. What the python3.12 runtime already ships (boto3, botocore, s3transfer) is removed even when another
package pulls it in (aws-xray-sdk depends on botocore): a second, newer botocore in the layer would shadow the
runtime's and pair it with a boto3 it was not released with.

Both trees are then compiled by python3.12 itself (`compileall`, unchecked-hash .pyc): /opt is read-only, so a
layer without .pyc files is compiled again at every cold start, and an unpacked zip keeps no reliable mtimes, so
the .pyc carry a source hash instead and are never re-validated (the layer is immutable). PYTHONHASHSEED=0 makes
the .pyc (and so the asset hash CDK computes) the same on every build.

Each build goes to a temporary directory first and replaces the previous one only when every step succeeded; a
stamp file records the digest of the requirements it was built from, so `cdk synth` can tell a missing or stale
layer (stacks/assets.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lambda_runtime.interpreter import InterpreterNotFound, find_python  # noqa: E402

REQUIREMENTS = ROOT / "requirements.txt"
LAYER_DIR = ROOT / "build" / "layer"
# The boto3 that stands for the runtime's own in the Lambda-faithful tests (never deployed; see the file).
RUNTIME_REQUIREMENTS = ROOT / "layer" / "lambda-runtime.txt"
RUNTIME_DIR = ROOT / "build" / "lambda-runtime"
STAMP = ".requirements.sha256"  # same name as stacks.assets.LAYER_STAMP
PYTHON_VERSION = "3.12"  # the functions' runtime (stacks/constructs/function.py: RUNTIME)
# The Lambda runtime ships these; a second copy in the layer would shadow the runtime's and grow the layer.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "s3transfer"})
PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", PYTHON_VERSION,
            "--only-binary=:all:")


class BuildError(Exception):
    """A build step failed; the message is one line and the previous build, if any, is unchanged."""


def _name(spec: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", spec, maxsplit=1)[0].lower().replace("_", "-")


def layer_requirements(text: str) -> str:
    """requirements.txt without the packages the runtime provides (comments and blank lines dropped)."""
    kept = []
    for line in text.splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec and _name(spec) not in PROVIDED_BY_RUNTIME:
            kept.append(spec)
    return "\n".join(kept) + "\n"


def pip_command(requirements_file: Path, target: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            *PLATFORM, "--target", str(target), "-r", str(requirements_file)]


def compile_command(python: Path, tree: Path, shown_as: str) -> list[str]:
    """python3.12 compiles `tree` in place; tracebacks name `shown_as` (where Lambda mounts it), not this machine."""
    return [str(python), "-s", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
            "-s", str(tree), "-p", shown_as, str(tree)]


def prune_runtime_packages(site: Path) -> list[str]:
    """Remove the packages (and their metadata) the runtime provides; returns what was removed."""
    removed = []
    for entry in sorted(site.iterdir()):
        name = entry.name.lower()
        dist = name.split("-", 1)[0].replace("_", "-") if name.endswith((".dist-info", ".egg-info")) else None
        if name in PROVIDED_BY_RUNTIME or dist in PROVIDED_BY_RUNTIME:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    return removed


def _run(command: list[str], what: str, **kwargs) -> None:
    result = subprocess.run(command, check=False, **kwargs)
    if result.returncode != 0:
        raise BuildError(f"{what} failed (exit {result.returncode})")


def _build(requirements_text: str, source_digest: str, dest: Path, shown_as: str, *, prune: bool) -> Path:
    python = find_python(PYTHON_VERSION)
    staging = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        req_file = staging / "requirements.txt"
        req_file.write_text(requirements_text, encoding="utf-8")
        _run(pip_command(req_file, staging / "python"), "pip")
        req_file.unlink()
        if prune:
            removed = prune_runtime_packages(staging / "python")
            if removed:
                print(f"left out (the runtime provides them): {', '.join(removed)}")
        _run(compile_command(python, staging / "python", shown_as), f"compiling with {python}",
             env={**os.environ, "PYTHONHASHSEED": "0"})
        (staging / STAMP).write_text(source_digest + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return dest


def _size_mb(tree: Path) -> float:
    return sum(p.stat().st_size for p in tree.rglob("*") if p.is_file()) / 1e6


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def build_layer(requirements: Path = REQUIREMENTS, layer_dir: Path = LAYER_DIR) -> Path:
    source = requirements.read_bytes()
    _build(layer_requirements(source.decode("utf-8")), hashlib.sha256(source).hexdigest(), layer_dir,
           "/opt/python", prune=True)
    print(f"layer: built {_shown(layer_dir)} ({_size_mb(layer_dir):.0f} MB unzipped with .pyc for python"
          f"{PYTHON_VERSION}; Lambda allows 250 MB for function and layers together)")
    return layer_dir


def build_runtime(requirements: Path = RUNTIME_REQUIREMENTS, runtime_dir: Path = RUNTIME_DIR) -> Path:
    source = requirements.read_bytes()
    _build(source.decode("utf-8"), hashlib.sha256(source).hexdigest(), runtime_dir,
           "/var/lang/lib/python3.12/site-packages", prune=False)
    print(f"lambda-runtime: built {_shown(runtime_dir)} (the runtime's boto3, for the Lambda-faithful tests)")
    return runtime_dir


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "layer"
    builders = {"layer": build_layer, "runtime": build_runtime}
    if what not in builders or len(argv) > 1:
        print("usage: layer/build.py [layer|runtime]", file=sys.stderr)
        return 2
    try:
        builders[what]()
    except (BuildError, InterpreterNotFound) as exc:
        print(f"{what}: {exc}; the previous build, if any, is unchanged", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
