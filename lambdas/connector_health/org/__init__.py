"""Organisation scale (hub mode): which accounts to scan, the per-account SQS message, the member-role session,
the per-account step shared by the CLI's local fan-out and the worker Lambda."""

from .accounts import AccountSelection, MemberAccount, SkippedAccount, select_accounts
from .messages import AccountMessage, BadMessage
from .runner import FAILED, SCANNED, AccountOutcome, OrgScanResult, refusal_finding, scan_member, scan_organization
from .session import MemberRoleRefused, member_role_arn, member_session
from .worker import MemberRun, run_member

__all__ = [
    "FAILED", "SCANNED", "AccountMessage", "AccountOutcome", "AccountSelection", "BadMessage", "MemberAccount",
    "MemberRoleRefused", "MemberRun", "OrgScanResult", "SkippedAccount", "member_role_arn", "member_session",
    "refusal_finding", "run_member", "scan_member", "scan_organization", "select_accounts",
]
