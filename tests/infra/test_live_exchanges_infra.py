"""EXCHANGE_LIVE_*: the one extra read (cloudtrail:LookupEvents) reaches the execution role and the member role from
the checks' declaration, and the dashboard charts the real exchanges per connector."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk.assertions import Template

from connector_health import metrics
from connector_health.checks import get_check, required_permissions
from stacks.constructs.scanner import MONITORED_ACCOUNT_SID
from stacks.member_stack import MEMBER_READS_SID, MemberStack
from stacks.monitor_stack import declared_read_actions

from .conftest import MAIN, MINIMAL
from .test_dashboard_metrics import dashboard_metrics
from .test_least_privilege import access_level, as_list, role_statements

LOOKUP = "cloudtrail:LookupEvents"


def test_lookup_events_is_declared_by_the_live_checks_and_is_a_read():
    for check_id in ("EXCHANGE_LIVE_FAILURES", "EXCHANGE_LIVE_SILENT"):
        assert LOOKUP in get_check(check_id).permissions
    assert LOOKUP in required_permissions() and LOOKUP in declared_read_actions()
    assert access_level(LOOKUP) == "Read"


def test_the_execution_role_may_look_up_events(synth):
    for name in (MAIN, MINIMAL):
        [reads] = [s for s in role_statements(synth, name) if s.get("Sid") == MONITORED_ACCOUNT_SID]
        assert LOOKUP in as_list(reads["Action"]) and reads["Resource"] == "*"


def test_the_member_role_may_look_up_events(synth):
    app = cdk.App()
    stack = MemberStack(app, "LiveMember", config=synth.configs[MAIN], read_actions=declared_read_actions())
    template = Template.from_stack(stack).to_json()
    [role] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    [policy] = [p for p in role["Properties"]["Policies"] if p["PolicyName"] == "ConnectorHealthReads"]
    [reads] = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == MEMBER_READS_SID]
    assert LOOKUP in as_list(reads["Action"])


def test_the_dashboard_charts_real_exchanges_per_connector(synth):
    connectors = {c.name for c in synth.configs[MAIN].connectors if c.enabled}
    shown = dashboard_metrics(synth, MAIN)
    live = [m for m in shown if m["name"] in (metrics.LIVE_SUCCESSES.name, metrics.LIVE_FAILURES.name)]
    assert {m["where"] for m in live} == {"Real exchanges of each connector (CloudTrail): successes (left), refusals (right)"}
    for definition in (metrics.LIVE_SUCCESSES, metrics.LIVE_FAILURES):
        assert {m["dims"]["Connector"] for m in live if m["name"] == definition.name} == connectors
        assert all(m["stat"] in (None, "Sum") for m in live)
