"""Live exchanges on the sandbox: a simulated Defender service exchanges real tokens of the local issuer at the STS
stand-in, which validates them and logs each call in its CloudTrail; the monitor reads them back with LookupEvents
and explains every failure. Each failure comes from a real condition, never from a hand-written record."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import boto3
import pytest

from connector_health import cli
from connector_health.collect.aws import SnapshotCollector
from connector_health.collect.cloudtrail import CloudTrailReader, RequestPacer
from connector_health.config import parse_config
from connector_health.engine import scan_account
from connector_health.live.runner import collect_live_exchanges
from connector_health.pipeline import run_pipeline
from connector_health.sandbox.account import CUSTOMER_TENANT
from connector_health.sandbox.cloudtrail import web_identity_record

pytestmark = pytest.mark.integration

SESSION = f"MicrosoftDefenderForClouds_{CUSTOMER_TENANT}"
SCANNER_ROLE, SCANNER_AUD = "DefenderForCloud-AgentlessScanner", "api://AzureSecurityCenter.MultiCloud.DefenderForServers.VmScanner"


def live_findings(result, check_id="EXCHANGE_LIVE_FAILURES"):
    return [f for f in result.findings if f.check_id == check_id]


def test_healthy_traffic_produces_nothing_in_any_region(sandbox, config):
    scan_account(config)  # its forged probes are AssumeRoleWithWebIdentity calls in the trail too
    caller = sandbox.defender_caller()
    assert [caller.call_once() for _ in range(3)] == [None, None, None]
    data = sandbox.config_dict()
    data["live_exchanges"]["regions"] = ["us-east-1", "eu-west-1"]
    result = scan_account(parse_config(data))
    assert result.findings == []
    live = result.live
    assert [w.region for w in live.windows] == ["us-east-1", "eu-west-1"] and live.available
    assert live.activity["defender"].successes == 4  # the seeded scan a minute ago and these three
    assert live.own_calls >= 6  # the first scan's probes (one per audience), left out by their user agent
    assert result.snapshot.api_calls["cloudtrail:LookupEvents"] == 2


def test_an_audience_outside_the_client_id_list(sandbox, scan):
    caller = sandbox.defender_caller(audience="api://not-in-the-client-id-list")
    assert caller.call_once() == "InvalidIdentityToken"
    result, _ = scan()
    [finding] = live_findings(result)
    assert finding.details["cause"] == "audience-rejected" and finding.details["stage"] == "audience"
    assert finding.resource_arn == sandbox.seeded["provider_arn"]
    assert "'api://not-in-the-client-id-list' is not in the ClientIDList" in finding.message
    assert finding.severity.value == "high"  # the role had a success in the window (the seeded scan)


def test_a_session_name_the_trust_policy_refuses_names_the_condition(sandbox, scan):
    """The March 2025 incident: the caller's session name is not the one the policy admits."""
    caller = sandbox.defender_caller(role=SCANNER_ROLE, audience=SCANNER_AUD,
                                     session_name=f"MicrosoftSentinel_{CUSTOMER_TENANT}")
    assert [caller.call_once(), caller.call_once()] == ["AccessDenied", "AccessDenied"]
    result, _ = scan()
    [finding] = live_findings(result)
    assert finding.severity.value == "critical"  # no call of this role succeeded in the window
    assert finding.resource_arn.endswith(f":role/{SCANNER_ROLE}")
    assert finding.details["condition"]["key"] == "sts:RoleSessionName"
    assert f"StringLike sts:RoleSessionName wants {SESSION} but the caller gives MicrosoftSentinel_" in finding.message
    assert finding.details["observed"]["count"] == 2
    assert "where the connector expects" in finding.remediation


def test_a_subject_condition_names_the_claim(sandbox, scan):
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName="CspmMonitorAws")["Role"]["AssumeRolePolicyDocument"]
    key = sandbox.issuer.url.removeprefix("https://") + ":sub"
    doc["Statement"][0]["Condition"]["StringEquals"] = {key: "00000000-the-old-app"}
    iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(doc))
    assert sandbox.defender_caller().call_once() == "AccessDenied"
    result, _ = scan()
    [finding] = live_findings(result)
    assert finding.details["condition"]["key"] == key and finding.details["condition"]["operator"] == "StringEquals"
    assert sandbox.token_client_id in finding.message  # the subject the caller really sent


def test_a_missing_provider(sandbox, scan):
    sandbox.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=sandbox.seeded["provider_arn"])
    assert sandbox.defender_caller().call_once() == "InvalidIdentityToken"
    result, by_id = scan()
    [finding] = live_findings(result)
    assert finding.details["cause"] == "provider-missing" and "There is still none" in finding.message
    assert "PROVIDER_MISSING" in by_id


def test_an_expired_token(sandbox, scan):
    assert sandbox.defender_caller(token_lifetime=-1000).call_once() == "ExpiredTokenException"
    result, _ = scan()
    [finding] = live_findings(result)
    assert finding.details["cause"] == "token-expired" and finding.details["stage"] == "expiry"


def test_a_caller_that_stops_is_silent(sandbox, config):
    """Two hourly runs: the first sees the seeded scan, the second two hours later sees nothing since."""
    data = sandbox.config_dict()
    data["connectors"][0]["expected_activity_hours"] = 1
    cfg = parse_config(data)
    start = dt.datetime.now(dt.timezone.utc)
    first = run_pipeline(cfg, run_id="live-1", now=start)
    assert live_findings(first.scan, "EXCHANGE_LIVE_SILENT") == []
    later = run_pipeline(cfg, run_id="live-2", now=start + dt.timedelta(hours=2))
    [silent] = live_findings(later.scan, "EXCHANGE_LIVE_SILENT")
    assert silent.details["observed"]["last_success"] is not None and silent.severity.value == "medium"
    [first_window], [window] = first.scan.live.windows, later.scan.live.windows
    assert window.start == first_window.end + dt.timedelta(seconds=1)  # continued where the first one ended
    mails = sandbox.read_alerts()
    assert any("EXCHANGE_LIVE_SILENT" in m["body"] for m in mails)


def test_a_window_that_cannot_be_read_is_never_silence_nor_a_resolution(sandbox, config):
    data = sandbox.config_dict()
    data["connectors"][0]["expected_activity_hours"] = 1
    cfg = parse_config(data)
    caller = sandbox.defender_caller(session_name="MicrosoftSentinel_x1")
    assert caller.call_once() == "AccessDenied"
    start = dt.datetime.now(dt.timezone.utc)
    first = run_pipeline(cfg, run_id="unread-1", now=start)
    assert live_findings(first.scan)
    sandbox.read_alerts()
    sandbox.sts.trail.denied = True
    blind = run_pipeline(cfg, run_id="unread-2", now=start + dt.timedelta(hours=2))
    ids = {f.check_id for f in blind.scan.findings}
    assert "MONITOR_ACCESS_DENIED" in ids and not ids & {"EXCHANGE_LIVE_FAILURES", "EXCHANGE_LIVE_SILENT"}
    [denied] = [f for f in blind.scan.findings if f.check_id == "MONITOR_ACCESS_DENIED"]
    assert denied.details["action"] == "cloudtrail:LookupEvents"
    assert set(blind.scan.coverage.not_run["defender"]) == {"EXCHANGE_LIVE_FAILURES", "EXCHANGE_LIVE_SILENT"}
    assert set(denied.details["checks_not_run"]) == {"EXCHANGE_LIVE_FAILURES", "EXCHANGE_LIVE_SILENT"}
    assert "resolved:EXCHANGE_LIVE_FAILURES" not in blind.summary()["changes"].get("defender", [])
    assert not [m for m in sandbox.read_alerts() if m["subject"].startswith("[RESOLVED]")]
    # Readable again, and the window since the last one read shows no failure: now it is resolved.
    sandbox.sts.trail.denied = False
    again = run_pipeline(cfg, run_id="unread-3", now=start + dt.timedelta(minutes=1))
    assert not live_findings(again.scan)
    assert "resolved:EXCHANGE_LIVE_FAILURES" in again.summary()["changes"]["defender"]


def test_throttling_past_the_retries_is_a_monitor_error(sandbox, scan):
    sandbox.sts.trail.throttled = True
    result, by_id = scan()
    [error] = [f for f in by_id["MONITOR_CHECK_ERROR"] if f.details["action"] == "cloudtrail:LookupEvents"]
    assert error.details["code"] == "ThrottlingException"
    assert not live_findings(result) and not live_findings(result, "EXCHANGE_LIVE_SILENT")


def test_many_pages_are_read_within_the_quota(sandbox, config):
    """260 events are 6 pages, sent at most two in any second (the pacer's own clock; the stand-in, which enforces the
    quota as it receives them, may see network jitter, which botocore's retries absorb)."""
    now = dt.datetime.now(dt.timezone.utc)
    for i in range(259):
        sandbox.sts.trail.record(web_identity_record(
            role_arn="arn:aws:iam::123456789012:role/CspmMonitorAws", session_name=SESSION,
            claims={"iss": sandbox.issuer.url, "aud": "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", "sub": f"s{i}"},
            provider_arn=sandbox.seeded["provider_arn"], region="us-east-1", when=now - dt.timedelta(seconds=i + 5)))
    sent: list[float] = []

    class LoggingPacer(RequestPacer):
        def wait(self) -> float:
            waited = super().wait()
            sent.append(time.monotonic())
            return waited

    session = boto3.session.Session()
    reader = CloudTrailReader(session, pacers={"us-east-1": LoggingPacer(config.live_exchanges.requests_per_second)})
    snapshot = SnapshotCollector(session, config.region).collect()
    live = collect_live_exchanges(config, session, snapshot, config.resolved_connectors(), now=now, reader=reader)
    [window] = live.windows
    assert (window.pages, window.records) == (6, 260), window.summary()
    assert len(sent) == 6 and max(sum(1 for t in sent if s <= t < s + 1) for s in sent) <= 2
    assert live.activity["defender"].successes == 260


def test_credentials_in_the_trail_never_reach_findings_state_or_alerts(sandbox, config):
    caller = sandbox.defender_caller()
    assert caller.call_once() is None
    caller.session_name = "MicrosoftSentinel_x2"
    assert caller.call_once() == "AccessDenied"
    success = [r for r in sandbox.sts.trail.records()
               if "errorCode" not in r and r["userAgent"].startswith("MicrosoftDefenderForCloud-simulated")][-1]
    secret = success["responseElements"]["credentials"]["sessionToken"]
    assert len(secret) > 20
    result = run_pipeline(config, run_id="secrets")
    assert live_findings(result.scan)
    table = boto3.resource("dynamodb").Table(config.state.table_name)
    stored = json.dumps(table.scan()["Items"], default=str)
    shown = json.dumps([f.to_dict() for f in result.scan.findings]) + json.dumps(result.summary(), default=str)
    mails = json.dumps(sandbox.read_alerts())
    for text in (stored, shown, mails):
        assert secret not in text


def test_sandbox_up_points_cloudtrail_at_the_trail(sandbox):
    env = sandbox.env()
    assert env["AWS_ENDPOINT_URL_CLOUDTRAIL"] == sandbox.sts.url
    client = boto3.client("cloudtrail", region_name="us-east-1")  # the fixture exported env() into os.environ
    events = client.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                     "AttributeValue": "AssumeRoleWithWebIdentity"}])["Events"]
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["userIdentity"]["type"] == "WebIdentityUser"
    assert record["userIdentity"]["identityProvider"] == sandbox.seeded["provider_arn"]


# ------------------------------------------------------------------ explain, online

@pytest.fixture
def token_file(sandbox, tmp_path):
    import requests

    resp = requests.post(f"{sandbox.issuer.url}oauth2/v2.0/token", timeout=10,
                         data={"grant_type": "client_credentials", "client_id": sandbox.token_client_id,
                               "client_secret": sandbox.token_client_secret,
                               "scope": "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479/.default"},
                         verify=str(sandbox.pki.ca_bundle_path))
    token = resp.json()["access_token"]
    path = tmp_path / "token.jwt"
    path.write_text(token)
    return path, token


def test_explain_online_with_a_token(sandbox, token_file, capsys):
    path, token = token_file
    assert cli.main(["explain", "--role", "CspmMonitorAws", "--token", f"@{path}", "--session-name", SESSION,
                     "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    [explanation] = out["summary"]["explanations"]
    assert explanation["verdict"] == "admitted"
    assert {s["name"]: s["status"] for s in explanation["stages"]} == {
        "decode": "pass", "provider": "pass", "audience": "pass", "signature": "pass", "expiry": "pass",
        "trust": "pass"}
    code = cli.main(["explain", "--role", "CspmMonitorAws", "--token", f"@{path}",
                     "--session-name", "MicrosoftSentinel_x"])
    captured = capsys.readouterr()
    assert code == 1
    assert "StringLike sts:RoleSessionName wants" in captured.out and "FAIL" in captured.out
    assert token not in captured.out + captured.err


def test_explain_a_recorded_refusal(sandbox, tmp_path, capsys):
    caller = sandbox.defender_caller(role=SCANNER_ROLE, audience=SCANNER_AUD, session_name="MicrosoftSentinel_x3")
    assert caller.call_once() == "AccessDenied"
    record = sandbox.sts.trail.records()[-1]
    path = tmp_path / "event.json"
    path.write_text(json.dumps(record))
    assert cli.main(["explain", "--cloudtrail-event", str(path), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    [finding] = out["findings"]
    assert finding["check_id"] == "EXCHANGE_LIVE_FAILURES" and finding["details"]["condition"]["key"] == "sts:RoleSessionName"
    [explanation] = out["summary"]["explanations"]
    statuses = [(s["name"], s["status"]) for s in explanation["stages"]]
    assert statuses[-1] == ("trust", "fail") and all(status == "pass" for _, status in statuses[:-1])
    assert "where the connector expects" in explanation["fix"]  # the config's expected session name


def test_the_scan_never_creates_two_clients_of_one_session_at_once(sandbox, monkeypatch):
    """boto3 sessions are not thread-safe (clients are): the scan's I/O threads and the CloudTrail readers (one per
    region) create their clients one at a time, whichever thread asks."""
    inside: dict[int, int] = {}
    most = {"overlap": 0, "clients": 0}
    guard = threading.Lock()
    original = boto3.session.Session.client

    def client(self, *args, **kwargs):
        with guard:
            inside[id(self)] = inside.get(id(self), 0) + 1
            most["overlap"] = max(most["overlap"], inside[id(self)])
            most["clients"] += 1
        try:
            time.sleep(0.02)  # a window wide enough for unserialised creations to meet
            return original(self, *args, **kwargs)
        finally:
            with guard:
                inside[id(self)] -= 1

    monkeypatch.setattr(boto3.session.Session, "client", client)
    data = sandbox.config_dict()
    data["live_exchanges"]["regions"] = ["us-east-1", "eu-west-1", "eu-central-1"]
    session = boto3.session.Session()
    result = scan_account(parse_config(data), session=session, secrets_session=session)
    assert result.live.available and result.snapshot.api_calls["cloudtrail:LookupEvents"] == 3
    assert most["clients"] >= 5 and most["overlap"] == 1
