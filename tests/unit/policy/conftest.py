"""Make `connector_health` importable when pytest runs without the project's pythonpath setting."""

import sys
from pathlib import Path

try:
    import connector_health  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lambdas"))
