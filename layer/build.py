#!/usr/bin/env python3
"""Build the scan function's dependency layer: `make layer` (needs PyPI; no Docker).

Installs requirements.txt minus boto3/botocore (the Lambda runtime provides them) with pip, for the Lambda
platform rather than this machine: manylinux2014 x86_64 wheels for CPython 3.12, binary only, into
build/layer/python (the layout Lambda puts on sys.path from /opt/python). The build goes to a temporary
directory first and replaces the layer only when pip succeeded; a stamp file records the digest of the
requirements it was built from, so `cdk synth` can tell a missing or stale layer (stacks/assets.py).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
LAYER_DIR = ROOT / "build" / "layer"
STAMP = ".requirements.sha256"  # same name as stacks.assets.LAYER_STAMP
# The Lambda runtime ships these; a second copy in the layer would shadow the runtime's and grow the layer.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})
PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12",
            "--only-binary=:all:")


def layer_requirements(text: str) -> str:
    """requirements.txt without the packages the runtime provides (comments and blank lines dropped)."""
    kept = []
    for line in text.splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        name = re.split(r"[\s\[<>=!~;@]", spec, maxsplit=1)[0].lower().replace("_", "-")
        if name not in PROVIDED_BY_RUNTIME:
            kept.append(spec)
    return "\n".join(kept) + "\n"


def pip_command(requirements_file: Path, target: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            *PLATFORM, "--target", str(target), "-r", str(requirements_file)]


def build(requirements: Path = REQUIREMENTS, layer_dir: Path = LAYER_DIR) -> Path:
    source = requirements.read_bytes()
    staging = layer_dir.with_name(layer_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    req_file = staging / "requirements.txt"
    req_file.write_text(layer_requirements(source.decode("utf-8")), encoding="utf-8")
    result = subprocess.run(pip_command(req_file, staging / "python"), check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        sys.exit(f"layer: pip failed (exit {result.returncode}); the previous layer, if any, is unchanged")
    req_file.unlink()
    (staging / STAMP).write_text(hashlib.sha256(source).hexdigest() + "\n", encoding="utf-8")
    shutil.rmtree(layer_dir, ignore_errors=True)
    staging.rename(layer_dir)
    size = sum(p.stat().st_size for p in layer_dir.rglob("*") if p.is_file())
    print(f"layer: built {layer_dir.relative_to(ROOT) if layer_dir.is_relative_to(ROOT) else layer_dir} "
          f"({size / 1e6:.0f} MB unzipped; Lambda allows 250 MB for function and layers together)")
    return layer_dir


if __name__ == "__main__":
    build()
