"""Every metric the dashboard and the alarms read is one the handler emits (connector_health.metrics).

The synthesized dashboard body is resolved (tokens become placeholders) and parsed; each ConnectorHealth metric
must name a definition of `connector_health.metrics.ALL`, with exactly its dimensions plus Powertools' `service`,
its statistic, and connector names from the configuration. The emitted side (what the handler puts out on the
sandbox) is checked against the same definitions by the handler's tests.
"""

from __future__ import annotations

import json
import re
from typing import Any

from connector_health import metrics

from .conftest import HUB, MAIN, MINIMAL

SEVERITIES = {"critical", "high", "medium", "low", "info"}
# Only the organisation hub's worker and fan-out emit these; a one-account stack has nothing to show for them.
NOT_ON_A_SINGLE_ACCOUNT_DASHBOARD = {m.name for m in metrics.ORGANISATION}
# SEARCH('{Namespace,Dim,...} MetricName="Name" key="value"', 'Statistic', period): per-account series.
SEARCH = re.compile(r"""^SEARCH\('\{(?P<schema>[^}]*)\} MetricName="(?P<name>[^"]+)"(?P<filters>[^']*)', """
                    r"""'(?P<stat>\w+)', \d+\)$""")


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
            if "expression" in options:
                found.append(search_metric(options["expression"], widget["properties"].get("title")))
                continue
            fields = [f for f in row if not isinstance(f, dict)]
            assert "." not in fields, "metric shorthand would hide the namespace or name"
            namespace, metric_name, *dims = fields
            found.append({"namespace": namespace, "name": metric_name, "dims": dict(zip(dims[::2], dims[1::2])),
                          "stat": options.get("stat"), "where": widget["properties"].get("title")})
    return found


def search_metric(expression: str, where: str) -> dict[str, Any]:
    """A SEARCH expression as the metric it finds: the schema's dimensions, `service` pinned by a filter, and the
    per-account dimension left open (value "*")."""
    match = SEARCH.match(expression)
    assert match, f"{where}: only SEARCH expressions are expected, not {expression!r}"
    namespace, *dims = match["schema"].split(",")
    filters = dict(re.findall(r' (\w+)="([^"]*)"', match["filters"]))
    return {"namespace": namespace, "name": match["name"], "dims": {d: filters.get(d, "*") for d in dims},
            "stat": match["stat"], "where": where}


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
    if metric["namespace"] == "AWS/Lambda":  # the functions' own metrics
        assert set(metric["dims"]) == {"FunctionName"}, metric
        return
    if metric["namespace"] == "AWS/SQS":  # the hub's dead-letter queue
        assert set(metric["dims"]) == {"QueueName"}, metric
        return
    assert metric["namespace"] == metrics.NAMESPACE, metric
    definition = metrics.BY_NAME.get(metric["name"])
    assert definition is not None, f"{metric['where']}: {metric['name']} is not in connector_health.metrics.ALL"
    assert definition in metrics.ALL
    assert set(metric["dims"]) == {"service", *definition.dimensions}, metric
    assert metric["dims"]["service"] == metrics.SERVICE
    assert metric["dims"].get("Connector", next(iter(connectors))) in connectors, metric
    assert metric["dims"].get("Severity", "info") in SEVERITIES, metric
    assert metric["dims"].get("Account", "*") == "*", metric  # accounts are found at run time, never listed
    if metric["stat"] is not None:
        assert metric["stat"] == definition.statistic, metric


def test_dashboard_and_alarm_metrics_are_emitted_metrics(synth):
    for name in (MAIN, MINIMAL, HUB):
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


def test_hub_dashboard_shows_every_metric_and_each_account_by_its_own_dimension(synth):
    shown = dashboard_metrics(synth, HUB)
    assert {m["name"] for m in shown if m["namespace"] == metrics.NAMESPACE} == {m.name for m in metrics.ALL}
    per_account = [m for m in shown if "Account" in m["dims"]]
    assert {m["name"] for m in per_account} == {metrics.ACCOUNT_HEALTHY.name, metrics.ACCOUNT_FINDINGS.name}
