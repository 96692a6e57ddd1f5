"""The monitor stack: one account's scheduled scan, its state, its alerts and its dashboard.

The configuration is loaded and validated once (app.py) and handed in; nothing here reads CDK context.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from connector_health.checks import required_permissions
from connector_health.config import Config
from connector_health.engine import COLLECTOR_PERMISSIONS

from .constructs.alerting import Alerting
from .constructs.dashboard import MonitorDashboard
from .constructs.function import FunctionCode, dependency_layer
from .constructs.integrations import Integrations, integration_writes
from .constructs.scanner import Scanner, ScannerProps
from .constructs.state import StateTable
from .schedule import heartbeat_window, schedule_period_seconds


def declared_read_actions() -> list[str]:
    """The monitored-account actions the engine declares: the checks' and the collector's (sorted, unique)."""
    return sorted(set(required_permissions()) | set(COLLECTOR_PERMISSIONS))


def token_secret_arns(config: Config) -> list[str]:
    """Secrets Manager ARNs of the token sources of enabled connectors (entra-client-credentials with secret_arn)."""
    arns = {getattr(c.token_source, "secret_arn", None) for c in config.connectors if c.enabled}
    return sorted(arn for arn in arns if arn)


class MonitorStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config, asset_dir: Path, layer_dir: Path,
                 **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        period = schedule_period_seconds(config.schedule)
        state = StateTable(self, "State")
        alerting = Alerting(self, "Alerting", emails=config.alerts.emails)
        self.integrations = Integrations(self, "Integrations", config=config, key=alerting.key)
        # One code asset and one dependency layer for every function of the stack.
        self.code = FunctionCode(asset_dir=asset_dir, layer=dependency_layer(self, "Dependencies", layer_dir))
        scanner = Scanner(
            self,
            "Scanner",
            props=ScannerProps(
                code=self.code,
                schedule=config.schedule,
                schedule_period=Duration.seconds(period),
                read_actions=declared_read_actions(),
                secret_arns=token_secret_arns(config),
                memory_mb=config.function_memory_mb,
                integration_writes=tuple(integration_writes(config, security_hub=True)),
            ),
            table=state.table,
            topic=alerting.topic,
            topic_key=alerting.key,
        )
        self.integrations.grant(scanner.role, scanner.function, security_hub=True)
        monitoring = MonitorDashboard(
            self,
            "Monitoring",
            connectors=[c.name for c in config.connectors if c.enabled],
            function=scanner.function,
            topic=alerting.topic,
            period=Duration.seconds(period),
            heartbeat=heartbeat_window(config.schedule),
            schedule=config.schedule,
            cert_days=(config.issuer_inspection.cert_warning_days, config.issuer_inspection.cert_critical_days),
        )
        CfnOutput(self, "AlertTopicArn", value=alerting.topic.topic_arn,
                  description="SNS topic of the alerts and alarms (subscribe more endpoints here)")
        CfnOutput(self, "StateTableName", value=state.table.table_name,
                  description="DynamoDB table of baselines and findings")
        self.state, self.alerting, self.scanner = state, alerting, scanner
        self.org = self._org(config, monitoring, Duration.seconds(period)) if config.org.enabled else None

    def _org(self, config: Config, monitoring: MonitorDashboard, period: Duration):
        """Hub mode (config `org.enabled`): fan-out, account queue, worker and their alarms; docs/org.md."""
        from .constructs.fanout import OrgFanout, OrgFanoutProps

        org = OrgFanout(self, "Org", props=OrgFanoutProps(org=config.org, schedule=config.schedule, code=self.code,
                                                          memory_mb=config.function_memory_mb,
                                                          secret_arns=token_secret_arns(config)),
                        table=self.state.table, topic=self.alerting.topic, topic_key=self.alerting.key)
        org.add_dashboard_widgets(monitoring.dashboard, period)
        # The worker publishes chat cards and events for every member account; Security Hub imports go through
        # each member's own role (the member stack grants them).
        self.integrations.grant(org.worker.role, org.worker, security_hub=False)
        CfnOutput(self, "WorkerRoleArn", value=org.worker.role.role_arn,
                  description="the principal the member stacks trust (their HubWorkerRoleArn parameter)")
        return org
