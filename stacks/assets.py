"""What the scan function is deployed from: the code asset (staged at synth) and the dependency layer (built by make).

Plain file operations only: no Docker, no network, no AWS calls.

- The code asset is a copy of `lambdas/` (without caches, egg-info and tests) plus the validated configuration
  dumped as JSON (`CONFIG_FILE`); the function finds it through `CONNECTOR_HEALTH_CONFIG`. A configured
  `issuer_inspection.public_ca_bundle` file is shipped too, its path rewritten relative to the code root.
- The layer is `build/layer/python/...`, built by `make layer` (layer/build.py: pip, manylinux wheels for
  python3.12 on x86_64). Synth refuses to run without it, or when requirements.txt changed since it was built.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from connector_health.config import Config

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS_DIR = ROOT / "lambdas"
DEFAULT_ASSET_DIR = ROOT / "build" / "lambda-asset"
DEFAULT_LAYER_DIR = ROOT / "build" / "layer"
REQUIREMENTS = ROOT / "requirements.txt"
CONFIG_FILE = "connector-health.json"
CA_BUNDLE_FILE = "public-ca-bundle.pem"
# Written by layer/build.py next to python/: the SHA-256 of the requirements the layer was built from.
LAYER_STAMP = ".requirements.sha256"

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "tests", ".pytest_cache")


class LayerNotBuilt(Exception):
    """The dependency layer is missing or stale; the message is one line that says what to run."""


def stage_lambda_asset(config: Config, dest: Path = DEFAULT_ASSET_DIR, source: Path = LAMBDAS_DIR) -> Path:
    """Copy the Lambda code and the configuration into `dest` (replaced as a whole) and return it."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=_IGNORED)
    write_config(config, dest)
    return dest


def write_config(config: Config, dest: Path) -> Path:
    """The validated configuration as the function loads it: `CONFIG_FILE` in the code root, with a configured CA
    bundle shipped beside it. Returns the file."""
    data = config.model_dump(mode="json")
    bundle = config.issuer_inspection.public_ca_bundle
    if bundle:  # a path on this machine: ship the file, and point at it relative to the code root (Lambda's cwd)
        shutil.copyfile(bundle, dest / CA_BUNDLE_FILE)
        data["issuer_inspection"]["public_ca_bundle"] = CA_BUNDLE_FILE
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    (dest / CONFIG_FILE).write_text(text, encoding="utf-8")
    return dest / CONFIG_FILE


def requirements_digest(requirements: Path = REQUIREMENTS) -> str:
    return hashlib.sha256(Path(requirements).read_bytes()).hexdigest()


def check_layer(layer_dir: Path = DEFAULT_LAYER_DIR, requirements: Path = REQUIREMENTS) -> Path:
    """Return `layer_dir` if it holds a layer built from the current requirements, else raise LayerNotBuilt."""
    layer_dir = Path(layer_dir)
    if not (layer_dir / "python").is_dir():
        raise LayerNotBuilt(f"Lambda layer not built ({layer_dir}/python is missing): run `make layer`")
    stamp = layer_dir / LAYER_STAMP
    built_from = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else ""
    if built_from != requirements_digest(requirements):
        raise LayerNotBuilt(f"Lambda layer in {layer_dir} is out of date with {Path(requirements).name}: "
                            "run `make layer`")
    return layer_dir
