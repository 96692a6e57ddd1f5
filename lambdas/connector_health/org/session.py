"""A boto3 session in a member account, through the member role the member stack creates."""

from __future__ import annotations

import re

import boto3
import botocore.session
from botocore.exceptions import ClientError

from ..collect.aws import ACCESS_DENIED_CODES, AWS_ERRORS, BOTO_CONFIG

SESSION_NAME = "connector-health"


class MemberRoleRefused(Exception):
    """STS refused the member role (missing, or its trust policy does not admit the caller). Not transient:
    it becomes a MONITOR_ACCESS_DENIED finding for that account instead of a retried message."""

    def __init__(self, role_arn: str, code: str, message: str) -> None:
        super().__init__(f"sts:AssumeRole on {role_arn} was refused ({code}): {message}")
        self.role_arn = role_arn
        self.code = code
        self.message = message


def partition_of(session: boto3.session.Session, region: str) -> str:
    return session.get_partition_for_region(region) if hasattr(session, "get_partition_for_region") else "aws"


def member_role_arn(account_id: str, role_name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def member_session(base: boto3.session.Session, account_id: str, role_name: str, region: str, *,
                   session_name: str = SESSION_NAME, sts=None) -> boto3.session.Session:
    """Assume the member role of `account_id`. Raises MemberRoleRefused when STS refuses it; other errors
    (throttling past botocore's retries, network) propagate, so the caller retries the account."""
    partition = partition_of(base, region)
    role_arn = member_role_arn(account_id, role_name, partition)
    sts = sts or base.client("sts", region_name=region, config=BOTO_CONFIG)
    try:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=re.sub(r"[^\w+=,.@-]", "-", session_name)[:64],
                                DurationSeconds=900)["Credentials"]
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        if code in ACCESS_DENIED_CODES or code == "AccessDenied":
            raise MemberRoleRefused(role_arn, code, str(err.get("Message", ""))) from None
        raise
    # A fresh botocore session would parse the service models again (~0.25 s per account): share the loader.
    core = botocore.session.Session()
    core.register_component("data_loader", base._session.get_component("data_loader"))
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=region, botocore_session=core,
    )


__all__ = ["AWS_ERRORS", "MemberRoleRefused", "member_role_arn", "member_session", "partition_of"]
