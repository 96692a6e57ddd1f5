"""The member stack: one read-only audit role per member account, for hub mode (docs/org.md).

Deployed to every member account as a service-managed CloudFormation StackSet. The template has no assets and no
bootstrap-version rule (member accounts are not CDK-bootstrapped), so the synthesised file is the StackSet's
template as is. Who may assume the role is given at deploy time: the hub's worker role ARN (an output of the hub
stack) and the organisation id, which the trust policy requires as `aws:PrincipalOrgID`.
The role's permissions are exactly the reads the engine declares (the checks' and the collector's), as the
monitor stack's own execution role.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, CfnOutput, CfnParameter, DefaultStackSynthesizer, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from connector_health.config import Config

from .constructs.integrations import SECURITY_HUB_ACTION, security_hub_statement

MEMBER_READS_SID = "MonitoredAccountReads"


class MemberStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config, read_actions: Sequence[str],
                 **kwargs) -> None:
        kwargs.setdefault("synthesizer", DefaultStackSynthesizer(generate_bootstrap_version_rule=False))
        super().__init__(scope, construct_id, **kwargs)
        self._read_actions = sorted(set(read_actions))
        self.worker_role_arn = CfnParameter(
            self, "HubWorkerRoleArn", type="String",
            allowed_pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
            description="ARN of the hub's worker role (output WorkerRoleArn of the hub stack): the only principal "
                        "the member role trusts",
        )
        org_kwargs = {"default": config.org.organization_id} if config.org.organization_id else {}
        self.organization_id = CfnParameter(
            self, "OrganizationId", type="String", allowed_pattern=r"^o-[a-z0-9]{10,32}$",
            description="AWS Organizations id (o-...): the worker must belong to it (aws:PrincipalOrgID)",
            **org_kwargs,
        )
        self._security_hub = config.integrations.security_hub.enabled
        self.role = self._role(config.org.member_role_name, config.region)
        CfnOutput(self, "MemberRoleArn", value=self.role.role_arn, description="the role the hub's worker assumes")

    def _role(self, name: str, region: str) -> iam.Role:
        principal = iam.ArnPrincipal(self.worker_role_arn.value_as_string).with_conditions(
            {"StringEquals": {"aws:PrincipalOrgID": self.organization_id.value_as_string}})
        role = iam.Role(
            self, "MemberRole",
            # A fixed name: the worker derives arn:...:role/<name> from the config for every account.
            role_name=name,
            assumed_by=principal,
            max_session_duration=Duration.hours(1),
            description="connector-health member role: read-only audit of this account's OIDC connectors by the hub",
            inline_policies={"ConnectorHealthReads": iam.PolicyDocument(statements=[iam.PolicyStatement(
                sid=MEMBER_READS_SID, actions=self._read_actions, resources=["*"])])}
            # integrations.security_hub: the hub's worker imports this account's findings with this role.
            | ({"ConnectorHealthSecurityHub": iam.PolicyDocument(statements=[security_hub_statement(region)])}
               if self._security_hub else {}),
        )
        Validations.of(role.node.default_child).acknowledge(Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason="The member-account reads (" + ", ".join(self._read_actions) + ") are the checks' declared "
                   "Read/List actions; the providers, roles and stacks they read are discovered at run time, and "
                   "GetAccountAuthorizationDetails, ListOpenIDConnectProviders and GetCallerIdentity support no "
                   "resource scoping."
                   + (f" The role's only write is {SECURITY_HUB_ACTION} on this account's default Security Hub "
                      "product (integrations.security_hub is enabled): the monitor's own findings, nothing else."
                      if self._security_hub else ""),
        ))
        return role
