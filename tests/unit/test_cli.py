"""The CLI's honesty: usage errors are 2 everywhere, a check that read nothing is 2 (not a clean bill of health),
output cut short by its reader ends quietly. The sandbox-backed cases (`run` with a failed publish, `sandbox down`
under another TMPDIR) are in tests/integration/test_monitor_and_cli.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from connector_health import cli

EXE = Path(sys.executable).with_name("connector-health")


@pytest.mark.parametrize("argv", [
    [], ["bogus"], ["check", "--format", "xml"], ["check", "--fail-on", "severe"], ["check", "--org", "--max-workers", "x"],
    ["run", "--fail-on", "urgent"], ["baseline"], ["baseline", "reject"], ["lint-trust"],
    ["lint-trust", "f.json", "--format", "yaml"], ["sandbox"], ["sandbox", "restart"], ["sandbox", "up", "--accounts", "x"],
    ["sandbox", "up", "--accounts", "-1"], ["sandbox", "up", "--accounts", "1001"], ["demo", "--fast"],
])
def test_usage_errors_exit_2_with_a_short_message(argv, capsys):
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    # argparse: its usage, then one line that says what was wrong
    assert err[-1].startswith(("connector-health: ", "connector-health check: error:")) or ": error: " in err[-1]


def test_check_org_with_an_invalid_worker_count_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"connectors": [{"name": "g", "preset": "github-actions"}], "org": {"enabled": True}}))
    assert cli.main(["check", "--org", "--config", str(path), "--max-workers", "0"]) == 2


def test_sandbox_up_that_cannot_start_is_2(monkeypatch, tmp_path, capsys):
    from connector_health.sandbox import daemon

    def refuse(*args, **kwargs):
        raise RuntimeError("a sandbox with 5 member account(s) is already running; stop it first")

    monkeypatch.setattr(daemon, "up", refuse)
    assert cli.main(["sandbox", "up", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "connector-health: a sandbox with 5 member account(s) is already running; stop it first")


def test_sandbox_state_dir_does_not_depend_on_tmpdir(monkeypatch, tmp_path):
    from connector_health.sandbox import daemon

    monkeypatch.setenv("HOME", str(tmp_path))
    seen = set()
    for tmpdir in ("/tmp", str(tmp_path / "other-tmp")):
        monkeypatch.setenv("TMPDIR", tmpdir)
        seen.add(daemon.default_dir())
    assert seen == {tmp_path / ".local" / "state" / "connector-health" / "sandbox"}


def test_check_that_could_read_nothing_is_2_not_a_report(tmp_path, monkeypatch, capsys):
    """No credentials at all: the old behaviour printed MONITOR_* findings and exited 0 (or 1) as if it had looked."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_STS", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    path = tmp_path / "c.yaml"
    # An issuer that refuses at once: the issuer inspection is not what this test waits for.
    path.write_text(yaml.safe_dump({"connectors": [{"name": "ci", "preset": "generic", "issuer": "https://127.0.0.1:9/",
                                                    "audiences": ["a"]}]}))
    for fmt in ("table", "json"):
        assert cli.main(["check", "--config", str(path), "--format", fmt]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.strip() == (
            "connector-health: cannot read the account, nothing was checked: sts:GetCallerIdentity failed "
            "(NoCredentialsError: Unable to locate credentials); check the AWS credentials and region "
            "(or AWS_ENDPOINT_URL for the sandbox)")


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_output_cut_short_by_its_reader_ends_quietly(tmp_path, fmt):
    """`connector-health lint-trust ... | head -0`: the reader is gone before the first write."""
    policy = tmp_path / "trust.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}}}]}))
    proc = subprocess.Popen([str(EXE), "lint-trust", str(policy), "--format", fmt], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # no reader: the first write fails with EPIPE
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == cli.EXIT_BROKEN_PIPE
    assert err == b""
