"""One way to build a connector-health function: the scan, the organisation fan-out and the worker all use it.

Every function runs python3.12 on x86_64 (the layer's wheels are manylinux x86_64 for cp312), from the one code
asset and the one dependency layer, with its own log group (retention, kept when the stack goes), X-Ray tracing
and the Powertools environment the handlers are written against; the configuration file travels in the asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from connector_health import metrics

from ..assets import CONFIG_FILE, LAYER_STAMP, check_layer

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
# X-Ray's write actions support no resource scoping (service authorization reference); tracing adds them.
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


def dependency_layer(scope: Construct, construct_id: str, layer_dir: Path) -> lambda_.LayerVersion:
    """The layer `make layer` built (refused when missing or stale); shared by every function of the stack."""
    layer_dir = check_layer(layer_dir)
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=lambda_.Code.from_asset(str(layer_dir), exclude=[LAYER_STAMP]),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="connector-health dependencies beyond boto3 (requirements.txt, manylinux wheels, "
                    "compiled for python3.12)",
    )


@dataclass(frozen=True)
class FunctionCode:
    """What every function of the stack is deployed from."""

    asset_dir: Path  # stacks.assets.stage_lambda_asset output
    layer: lambda_.ILayerVersion


class MonitorFunction(Construct):
    """A connector-health Lambda function and its log group. `function` keeps the logical ID a plain
    `lambda_.Function` with this construct's ID would have."""

    def __init__(self, scope: Construct, construct_id: str, *, code: FunctionCode, handler: str, description: str,
                 role: iam.Role, memory_mb: int, timeout: Duration, environment: dict[str, str],
                 **function_kwargs) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        self.log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Default",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=lambda_.Code.from_asset(str(code.asset_dir)),
            layers=[code.layer],
            memory_size=memory_mb,
            timeout=timeout,
            role=role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "CONNECTOR_HEALTH_CONFIG": CONFIG_FILE,  # relative to the code root (the working directory)
                "POWERTOOLS_SERVICE_NAME": metrics.SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
            **function_kwargs,
        )
        # aws-cdk-lib makes the function DependsOn its role *and* the role's policy; the role is already implied by
        # the GetAtt on its ARN (cfn-lint W3005). Keep only the policy: it must exist before the first invocation.
        policy = role.node.find_child("DefaultPolicy").node.default_child
        self.function.node.default_child.add_override("DependsOn", [Stack.of(self).get_logical_id(policy)])
        Validations.of(self.function.node.default_child).acknowledge(Acknowledgment(
            id="AwsSolutions-L1",
            reason="python3.12 is pinned on purpose: the layer's binary wheels (cryptography, pydantic-core, cffi) "
                   "and its .pyc files are built for cp312 by `make layer`; moving the runtime means rebuilding it.",
        ))
