"""The operator's view: a CloudWatch dashboard and the alarms that page through the alert topic.

Every ConnectorHealth metric here is built from `connector_health.metrics` (the definitions the handler emits
with), with the `service` dimension Powertools adds and the connector names of the configuration, so a renamed
metric or dimension breaks the CDK tests rather than the dashboard. The Lambda metrics come from the function.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from connector_health import metrics
from connector_health.metrics import MetricDef

SEVERITIES = ("critical", "high", "medium", "low", "info")
LAMBDA_ALARM_PERIOD = Duration.minutes(5)


def metric(defn: MetricDef, period: Duration, *, label: str | None = None, **dimensions: str) -> cloudwatch.Metric:
    """The CloudWatch metric of a definition, with exactly the dimensions the definition names (plus `service`)."""
    if set(dimensions) != set(defn.dimensions):
        raise ValueError(f"{defn.name} is emitted with dimensions {sorted(defn.dimensions)}, not {sorted(dimensions)}")
    return cloudwatch.Metric(
        namespace=metrics.NAMESPACE,
        metric_name=defn.name,
        dimensions_map={"service": metrics.SERVICE, **dimensions},
        statistic=defn.statistic,
        period=period,
        label=label,
    )


def account_search(defn: MetricDef, period: Duration) -> cloudwatch.MathExpression:
    """Every account's series of a per-account definition (dimension `Account`), found by a CloudWatch SEARCH:
    the accounts are only known at run time. Built from the definition, so the dashboard reads what is emitted."""
    if "Account" not in defn.dimensions:
        raise ValueError(f"{defn.name} has no Account dimension")
    schema = ",".join([metrics.NAMESPACE, *defn.dimensions, "service"])
    seconds = int(period.to_seconds())
    return cloudwatch.MathExpression(
        expression=(f"SEARCH('{{{schema}}} MetricName=\"{defn.name}\" service=\"{metrics.SERVICE}\"', "
                    f"'{defn.statistic}', {seconds})"),
        using_metrics={},
        label=defn.name,
        period=period,
    )


def alarm_to_topic(alarm: cloudwatch.Alarm, topic: sns.ITopic) -> cloudwatch.Alarm:
    """The alarm notifies the alert topic when it fires and when it clears ("resolved" mail, like the findings)."""
    action = cw_actions.SnsAction(topic)
    alarm.add_alarm_action(action)
    alarm.add_ok_action(action)
    return alarm


class MonitorDashboard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, connectors: Sequence[str], function: lambda_.IFunction,
                 topic: sns.ITopic, period: Duration, heartbeat: tuple[int, int], schedule: str,
                 cert_days: tuple[int, int]) -> None:
        super().__init__(scope, construct_id)
        self._connectors = list(connectors)
        self._period = period
        self._function = function
        self._topic = topic
        stack = Stack.of(self)
        self.alarms = [self._errors_alarm(stack), self._throttles_alarm(stack), self._heartbeat_alarm(stack, *heartbeat)]
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=stack.stack_name,
            start="-P7D",
            widgets=[
                [self._intro(schedule)],
                [self._healthy(), self._open_findings(), self._heartbeat_widget()],
                [self._probe_stage(), self._probe_latency(), self._cert_days(*cert_days)],
                [self._scan_duration(), self._scan_errors(), self._function_widget()],
                [self._live_exchanges()],
                [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3)],
            ],
        )
        region = stack.region
        self.url = (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
                    f"#dashboards:name={stack.stack_name}")
        CfnOutput(stack, "DashboardUrl", value=self.url, description="The connector-health CloudWatch dashboard")

    # ------------------------------------------------------------------ widgets
    def _intro(self, schedule: str) -> cloudwatch.TextWidget:
        names = ", ".join(f"`{n}`" for n in self._connectors) or "none enabled"
        return cloudwatch.TextWidget(
            markdown=(f"## connector-health\nScans `{schedule}` (UTC). Connectors: {names}. Findings and fixes "
                      "arrive by e-mail from the alert topic; the same metrics drive the alarms at the bottom."),
            width=24,
            height=2,
        )

    def _per_connector(self, defn: MetricDef) -> list[cloudwatch.Metric]:
        return [metric(defn, self._period, label=name, Connector=name) for name in self._connectors]

    def _healthy(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Connector healthy (1 = no open finding at medium or above)",
            left=self._per_connector(metrics.HEALTHY),
            left_y_axis=cloudwatch.YAxisProps(min=0, max=1, show_units=False),
            width=8,
        )

    def _open_findings(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Open findings by severity",
            left=[metric(metrics.OPEN_FINDINGS, self._period, label=f"{name} {severity}", Connector=name,
                         Severity=severity)
                  for name in self._connectors for severity in SEVERITIES],
            stacked=True,
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=8,
        )

    def _heartbeat_widget(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Successful scans (heartbeat)",
            left=[metric(metrics.HEARTBEAT, self._period, label="scans")],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=8,
        )

    def _probe_stage(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Probe: validation stage reached (higher is healthier)",
            left=self._per_connector(metrics.PROBE_STAGE),
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=8,
        )

    def _probe_latency(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Probe: STS round trip (ms)",
            left=self._per_connector(metrics.PROBE_LATENCY),
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=8,
        )

    def _cert_days(self, warning: int, critical: int) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Days until the first issuer certificate expires",
            left=self._per_connector(metrics.CERT_DAYS_LEFT),
            left_annotations=[
                cloudwatch.HorizontalAnnotation(value=warning, label="medium finding", color=cloudwatch.Color.ORANGE),
                cloudwatch.HorizontalAnnotation(value=critical, label="high finding", color=cloudwatch.Color.RED),
            ],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=8,
        )

    def _scan_duration(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Scan duration (s)",
            left=[metric(metrics.SCAN_DURATION, self._period, label="duration")],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=8,
        )

    def _scan_errors(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Scan errors (monitor partly blind: access denied or a check failed)",
            left=[metric(metrics.SCAN_ERRORS, self._period, label="errors")],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=8,
        )

    def _live_exchanges(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Real exchanges of each connector (CloudTrail): successes (left), refusals (right)",
            left=self._per_connector(metrics.LIVE_SUCCESSES),
            right=[metric(metrics.LIVE_FAILURES, self._period, label=f"{name} refused", Connector=name)
                   for name in self._connectors],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            right_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=24,
        )

    def _function_widget(self) -> cloudwatch.GraphWidget:
        fn = self._function
        return cloudwatch.GraphWidget(
            title="Scan function",
            left=[fn.metric_invocations(period=self._period), fn.metric_errors(period=self._period),
                  fn.metric_throttles(period=self._period)],
            right=[fn.metric_duration(period=self._period, statistic="Maximum")],
            width=8,
        )

    # ------------------------------------------------------------------ alarms
    def _alarm(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        return alarm_to_topic(alarm, self._topic)

    def _errors_alarm(self, stack: Stack) -> cloudwatch.Alarm:
        return self._alarm(cloudwatch.Alarm(
            self,
            "ScanErrorsAlarm",
            alarm_name=f"{stack.stack_name}-scan-function-errors",
            alarm_description="The connector-health scan function failed (see its log group); the run was retried "
                              "and then sent to the failed-scans queue.",
            metric=self._function.metric_errors(period=LAMBDA_ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ))

    def _throttles_alarm(self, stack: Stack) -> cloudwatch.Alarm:
        return self._alarm(cloudwatch.Alarm(
            self,
            "ScanThrottlesAlarm",
            alarm_name=f"{stack.stack_name}-scan-function-throttles",
            alarm_description="A scan was throttled: the previous one was still running (reserved concurrency 1). "
                              "Scans take longer than the schedule allows, or the schedule is too frequent.",
            metric=self._function.metric_throttles(period=LAMBDA_ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ))

    def _heartbeat_alarm(self, stack: Stack, period_seconds: int, evaluation_periods: int) -> cloudwatch.Alarm:
        return self._alarm(cloudwatch.Alarm(
            self,
            "MissingHeartbeatAlarm",
            alarm_name=f"{stack.stack_name}-missing-heartbeat",
            alarm_description="No successful connector-health scan within two schedule periods: the connectors are "
                              "not being watched. Check the scan function's errors, its log group and the schedule.",
            metric=metric(metrics.HEARTBEAT, Duration.seconds(period_seconds)),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        ))
