"""MONITOR_* on real AWS error responses, and the CLI's interface (JSON shape, exit codes) on the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse

from connector_health.checks import registry
from connector_health.checks.base import Check
from connector_health.cli import main

pytestmark = pytest.mark.integration


def _denying_session(operations: set[str], code: str = "AccessDenied") -> boto3.session.Session:
    """A real session whose chosen IAM operations get a real 403 error document back (parsed by botocore)."""
    session = boto3.session.Session()

    def deny(request, event_name="", **_):
        operation_name = event_name.rsplit(".", 1)[-1]
        body = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>User: arn:aws:sts::123456789012:assumed-role/monitor/x is not authorized "
            f"to perform: iam:{operation_name}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
        ).encode()

        class _Raw:
            def stream(self, **_):
                yield body

        return AWSResponse(request.url, 403, {"Content-Type": "text/xml"}, _Raw())

    for operation in operations:
        session.events.register(f"before-send.iam.{operation}", deny)
    return session


def test_access_denied_on_provider_listing(sandbox, scan):
    result, by_id = scan(session=_denying_session({"ListOpenIDConnectProviders"}))
    [finding] = by_id["MONITOR_ACCESS_DENIED"]
    assert finding.details["action"] == "iam:ListOpenIDConnectProviders"
    assert "iam:ListOpenIDConnectProviders" in finding.remediation
    assert finding.connector == "*"
    # A provider that could not be listed is not reported as missing.
    assert "PROVIDER_MISSING" not in by_id
    # The issuer checks still ran (the issuer is healthy, so they are silent) and roles were read.
    assert result.snapshot.roles_complete and len(result.snapshot.roles) == len(sandbox.seeded["roles"]) == 10


def test_access_denied_on_authorization_details(sandbox, scan):
    result, by_id = scan(session=_denying_session({"GetAccountAuthorizationDetails"}))
    assert [f.details["action"] for f in by_id["MONITOR_ACCESS_DENIED"]] == ["iam:GetAccountAuthorizationDetails"]
    assert not result.snapshot.roles_complete
    assert result.snapshot.providers_complete  # the other read went on


def test_throttling_past_retries_is_a_check_error(sandbox, scan, monkeypatch):
    from connector_health.collect import aws as collect_aws
    from botocore.config import Config

    monkeypatch.setattr(collect_aws, "BOTO_CONFIG", Config(retries={"mode": "standard", "max_attempts": 2}))
    result, by_id = scan(session=_denying_session({"GetOpenIDConnectProvider"}, code="Throttling"))
    [finding] = by_id["MONITOR_CHECK_ERROR"]
    assert (finding.details["action"], finding.details["code"]) == ("iam:GetOpenIDConnectProvider", "Throttling")
    assert "PROVIDER_MISSING" in finding.details["checks_not_run"]  # its earlier findings stay open
    assert "PROVIDER_MISSING" not in by_id  # incomplete provider data is not evidence of absence


def test_a_failing_check_does_not_stop_the_others(sandbox, scan, monkeypatch):
    class Exploding(Check):
        id = "PROVIDER_JWKS_ROTATED"  # a catalogue ID not yet implemented by a real check

        def run(self, ctx):
            raise RuntimeError("boom")

    monkeypatch.setitem(registry._REGISTRY, "PROVIDER_JWKS_ROTATED", Exploding())
    sandbox.issuer.wrong_issuer = "https://elsewhere.invalid/"
    _, by_id = scan()
    [error] = by_id["MONITOR_CHECK_ERROR"]
    assert "PROVIDER_JWKS_ROTATED" in error.message and "boom" in error.message
    assert "PROVIDER_ISSUER_MISMATCH" in by_id


def _run_cli(capsys, *args):
    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_check_json_on_healthy_account(sandbox, capsys):
    status, out, _ = _run_cli(capsys, "check", "--config", str(sandbox.config_path), "--format", "json")
    assert status == 0
    doc = json.loads(out)
    assert set(doc) == {"findings", "summary"}
    assert not [f for f in doc["findings"] if f["severity"] in ("critical", "high", "medium")]
    assert doc["summary"]["account"] == "123456789012"


def test_check_json_exit_codes_follow_fail_on(sandbox, capsys):
    sandbox.issuer.rotate_intermediate()  # a medium finding
    status, out, _ = _run_cli(capsys, "check", "--config", str(sandbox.config_path), "--format", "json")
    assert status == 0  # default --fail-on high
    [finding] = json.loads(out)["findings"]
    required = {"check_id", "severity", "connector", "account", "resource_arn", "message", "remediation"}
    assert required <= set(finding)
    assert finding["account"] == "123456789012" and finding["connector"] == "defender"
    status, _, _ = _run_cli(capsys, "check", "--config", str(sandbox.config_path), "--format", "json", "--fail-on", "medium")
    assert status == 1


def test_check_table_output(sandbox, capsys):
    sandbox.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=sandbox.seeded["provider_arn"])
    status, out, _ = _run_cli(capsys, "check", "--config", str(sandbox.config_path))
    assert status == 1
    assert "PROVIDER_MISSING" in out and "CRITICAL" in out and "Fix:" in out


def test_sandbox_up_and_down_in_the_background(tmp_path):
    """`down` finds what `up` started although the shells' TMPDIRs differ (the state lives under HOME)."""
    exe = Path(sys.executable).with_name("connector-health")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CONNECTOR_HEALTH_"))}
    env["HOME"] = str(tmp_path)
    (tmp_path / "tmp-a").mkdir()
    (tmp_path / "tmp-b").mkdir()
    up = subprocess.run([str(exe), "sandbox", "up"], capture_output=True, text=True,
                        env=env | {"TMPDIR": str(tmp_path / "tmp-a")}, timeout=120)
    try:
        assert up.returncode == 0, up.stderr
        exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
        assert {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CONNECTOR_HEALTH_CONFIG",
                "CONNECTOR_HEALTH_ISSUER_URL", "CONNECTOR_HEALTH_CA_BUNDLE"} <= set(exports)
        env2 = env | exports
        check = subprocess.run([str(exe), "check", "--format", "json"], capture_output=True, text=True, env=env2, timeout=120)
        assert check.returncode == 0, check.stderr
        assert json.loads(check.stdout)["summary"]["account"] == "123456789012"
    finally:
        down = subprocess.run([str(exe), "sandbox", "down"], capture_output=True, text=True,
                              env=env | {"TMPDIR": str(tmp_path / "tmp-b")}, timeout=60)
    assert down.returncode == 0 and down.stderr.strip() == "sandbox stopped"
    status = subprocess.run([str(exe), "sandbox", "status"], capture_output=True, text=True, env=env)
    assert status.stdout.strip() == "not running"
    assert (tmp_path / ".local" / "state" / "connector-health" / "sandbox").is_dir()


def test_run_whose_alert_could_not_be_published_is_not_a_success(sandbox, tmp_path, capsys):
    """The alert topic is gone: the change stays unalerted (the next run retries), and the run says so with 2."""
    sandbox.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=sandbox.seeded["provider_arn"])
    data = yaml.safe_load(sandbox.config_path.read_text())
    data["state"]["topic_arn"] = data["state"]["topic_arn"] + "-deleted"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    for fmt in ("table", "json"):
        status, out, err = _run_cli(capsys, "run", "--config", str(path), "--format", fmt, "--run-id", f"pub-{fmt}")
        assert status == 2
        assert "PROVIDER_MISSING" in out
        [line] = err.strip().splitlines()
        assert line.startswith("connector-health: 1 alert(s) NOT published (the next run retries): defender: ")
