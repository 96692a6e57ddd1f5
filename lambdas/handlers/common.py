"""What every handler shares: the configuration shipped with the code, loaded and validated once per container."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from connector_health.config import Config, load_config


@lru_cache(maxsize=1)
def lambda_config() -> Config:
    """CONNECTOR_HEALTH_CONFIG names the config file; relative paths are inside the code (LAMBDA_TASK_ROOT)."""
    path = Path(os.environ.get("CONNECTOR_HEALTH_CONFIG", "connector-health.json"))
    if not path.is_absolute():
        path = Path(os.environ.get("LAMBDA_TASK_ROOT", ".")) / path
    return load_config(path)
