"""`make demo` runs the story to its end and every step reports what it should.

Run in a subprocess: moto's backends are process-global, so a second in-process sandbox would share the
test session's emulated account.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_story_runs_to_its_end():
    exe = Path(sys.executable).with_name("connector-health")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CONNECTOR_HEALTH_"))}
    env["COLUMNS"] = "160"
    proc = subprocess.run([str(exe), "demo"], capture_output=True, text=True, env=env, timeout=300)
    text = proc.stdout
    assert proc.returncode == 0, text + proc.stderr
    assert "Step 11: repaired" in text and "every step reported what it should" in text
    # Live traffic: a session-name change caught with its refusing condition, then silence, then recovery.
    assert "Step 16: calls resume" in text and "EXCHANGE_LIVE_SILENT" in text
    assert "EXCHANGE_LIVE_FAILURES" in text and "StringLike sts:RoleSessionName wants" in text
    assert "PROVIDER_THUMBPRINT_MISMATCH" in text and "PROVIDER_MISSING" in text
    assert "TRUST_UNEXPECTED_PRINCIPAL" in text and "PERMS_ADMIN_ACCESS" in text and "EXCHANGE_PROVIDER_NOT_FOUND" in text
    assert "E-mail: [CRITICAL] connector-health: defender" in text and "E-mail: [RESOLVED]" in text
    assert "Traceback" not in text + proc.stderr
