"""Every metric the dashboard and the alarms read is one the handler emits (connector_health.metrics).

The synthesized dashboard body is resolved (tokens become placeholders) and parsed; each ConnectorHealth metric
must name a definition of `connector_health.metrics.ALL`, with exactly its dimensions plus Powertools' `service`,
its statistic, and connector names from the configuration. The emitted side (what the handler puts out on the
sandbox) is checked against the same definitions by the handler's tests.
"""

from __future__ import annotations

import json
from typing import Any

from connector_health import metrics

from .conftest import MAIN, MINIMAL

SEVERITIES = {"critical", "high", "medium", "low", "info"}
# Organisation fan-out (a later issue) emits these; a one-account stack has nothing to show for them.
NOT_ON_A_SINGLE_ACCOUNT_DASHBOARD = {metrics.ACCOUNTS_SCANNED.name, metrics.ACCOUNTS_FAILED.name,
                                     metrics.ACCOUNTS_SKIPPED.name}


def resolve(value: Any) -> str:
    """A CloudFormation string expression as text, with `${...}` placeholders for references."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(resolve(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    raise AssertionError(f"unexpected expression in the dashboard body: {value}")


def dashboard_metrics(synth, name: str) -> list[dict[str, Any]]:
    """(namespace, metric, dimensions {name: value}, statistic) of every metric of every dashboard widget."""
    [dashboard] = synth.resources("AWS::CloudWatch::Dashboard", name).values()
    body = json.loads(resolve(dashboard["Properties"]["DashboardBody"]))
    found = []
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            options = row[-1] if isinstance(row[-1], dict) else {}
            fields = [f for f in row if not isinstance(f, dict)]
            assert "." not in fields, "metric shorthand would hide the namespace or name"
            namespace, metric_name, *dims = fields
            found.append({"namespace": namespace, "name": metric_name, "dims": dict(zip(dims[::2], dims[1::2])),
                          "stat": options.get("stat"), "where": widget["properties"].get("title")})
    return found


def alarm_metrics(synth, name: str) -> list[dict[str, Any]]:
    found = []
    for alarm in synth.resources("AWS::CloudWatch::Alarm", name).values():
        props = alarm["Properties"]
        assert "Metrics" not in props, "metric math alarms are not expected"
        found.append({"namespace": props["Namespace"], "name": props["MetricName"],
                      "dims": {d["Name"]: resolve(d["Value"]) for d in props.get("Dimensions", [])},
                      "stat": props.get("Statistic"), "where": props["AlarmName"]})
    return found


def check_metric(metric: dict[str, Any], connectors: set[str]) -> None:
    if metric["namespace"] == "AWS/Lambda":  # the scan function's own metrics
        assert set(metric["dims"]) == {"FunctionName"}, metric
        return
    assert metric["namespace"] == metrics.NAMESPACE, metric
    definition = metrics.BY_NAME.get(metric["name"])
    assert definition is not None, f"{metric['where']}: {metric['name']} is not in connector_health.metrics.ALL"
    assert definition in metrics.ALL
    assert set(metric["dims"]) == {"service", *definition.dimensions}, metric
    assert metric["dims"]["service"] == metrics.SERVICE
    assert metric["dims"].get("Connector", next(iter(connectors))) in connectors, metric
    assert metric["dims"].get("Severity", "info") in SEVERITIES, metric
    if metric["stat"] is not None:
        assert metric["stat"] == definition.statistic, metric


def test_dashboard_and_alarm_metrics_are_emitted_metrics(synth):
    for name in (MAIN, MINIMAL):
        connectors = {c.name for c in synth.configs[name].connectors if c.enabled}
        every = dashboard_metrics(synth, name) + alarm_metrics(synth, name)
        assert every
        for metric in every:
            check_metric(metric, connectors)


def test_dashboard_shows_every_single_account_metric_for_every_enabled_connector(synth):
    connectors = {c.name for c in synth.configs[MAIN].connectors if c.enabled}
    assert "cluster-prod" not in connectors  # disabled in the example: no widgets for it
    shown = dashboard_metrics(synth, MAIN)
    names = {m["name"] for m in shown if m["namespace"] == metrics.NAMESPACE}
    assert names == {m.name for m in metrics.ALL} - NOT_ON_A_SINGLE_ACCOUNT_DASHBOARD
    for definition in metrics.ALL:
        if "Connector" in definition.dimensions:
            seen = {m["dims"]["Connector"] for m in shown if m["name"] == definition.name}
            assert seen == connectors, definition.name
    severities = {m["dims"]["Severity"] for m in shown if m["name"] == metrics.OPEN_FINDINGS.name}
    assert severities == SEVERITIES


def test_heartbeat_alarm_reads_the_heartbeat_definition(synth):
    [heartbeat] = [m for m in alarm_metrics(synth, MAIN) if m["namespace"] == metrics.NAMESPACE]
    assert heartbeat["name"] == metrics.HEARTBEAT.name
    assert heartbeat["dims"] == {"service": metrics.SERVICE}
    assert heartbeat["stat"] == metrics.HEARTBEAT.statistic == "Sum"
