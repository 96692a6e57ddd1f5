"""Helpers for lint-trust on the infrastructure-as-code artefacts of tests/iac (see tests/iac/SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector_health.cli import main

IAC = Path(__file__).resolve().parents[2] / "iac"


def run_lint(capsys, *argv: str) -> tuple[int, dict]:
    """`connector-health lint-trust ARGV --format json`: (exit status, parsed output)."""
    status = main(["lint-trust", *argv, "--format", "json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out.strip() else {"stderr": captured.err}


def verdicts(out: dict) -> set[tuple[str, str, str, str]]:
    """{(resource, check_id, severity, variant)} of a run's findings ("" when the finding holds in every variant)."""
    return {(f["location"]["resource"], f["check_id"], f["severity"], f["location"].get("variant", ""))
            for f in out["findings"]}


@pytest.fixture
def lint(capsys):
    return lambda *argv: run_lint(capsys, *argv)
