"""Which accounts of the organisation an org run scans: ACTIVE accounts, filtered by the config's lists and OUs.

`organizations:ListAccounts` is paginated; OU filters need the tree, which is walked once from the roots
(`ListRoots`, `ListOrganizationalUnitsForParent`, `ListAccountsForParent`, all paginated) only when the config
names an OU, so an unfiltered run costs ceil(accounts / 20) calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import boto3

from ..collect.aws import BOTO_CONFIG
from ..config import OrgConfig

# Organizations is a global service served from us-east-1 (aws partition).
ORGANIZATIONS_REGION = "us-east-1"


@dataclass(frozen=True)
class MemberAccount:
    account_id: str
    name: str = ""
    # OU ids from the root down to the account's parent (filled only when OU filters are used).
    ou_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedAccount:
    account_id: str
    name: str
    reason: str  # "excluded", "not included", "status SUSPENDED", "management account", ...


@dataclass
class AccountSelection:
    selected: list[MemberAccount] = field(default_factory=list)
    skipped: list[SkippedAccount] = field(default_factory=list)
    management_account: str | None = None
    api_calls: dict[str, int] = field(default_factory=dict)


def _status(account: dict) -> str:
    # `State` (2025) supersedes `Status`; either may be absent depending on the API version.
    return str(account.get("State") or account.get("Status") or "ACTIVE").upper()


def select_accounts(org: OrgConfig, session: boto3.session.Session | None = None, *,
                    client=None, hub_account: str | None = None) -> AccountSelection:
    """List the organisation's accounts and decide, for each, whether this run scans it. `hub_account`: the
    account of the deployed hub, whose own scheduled scan covers it (`check --org` has none)."""
    session = session or boto3.session.Session()
    client = client or session.client("organizations", region_name=ORGANIZATIONS_REGION, config=BOTO_CONFIG)
    out = AccountSelection()

    def count(op: str) -> None:
        out.api_calls[op] = out.api_calls.get(op, 0) + 1

    count("organizations:DescribeOrganization")
    out.management_account = client.describe_organization()["Organization"].get("MasterAccountId")
    accounts = []
    for page in client.get_paginator("list_accounts").paginate():
        count("organizations:ListAccounts")
        accounts.extend(page.get("Accounts", []))
    paths = _ou_paths(client, count) if (org.include_ous or org.exclude_ous) else {}

    skip_management = org.skip_management_account
    if skip_management is None:  # auto: a delegated-administrator hub scans the management account
        skip_management = hub_account is None or hub_account == out.management_account
    include, exclude = set(org.include_accounts), set(org.exclude_accounts)
    include_ous, exclude_ous = set(org.include_ous), set(org.exclude_ous)
    seen: set[str] = set()
    for acct in accounts:
        account_id, name = acct["Id"], acct.get("Name", "")
        if account_id in seen:  # a paginator that repeats an item must not scan an account twice
            continue
        seen.add(account_id)
        path = paths.get(account_id, ())
        reason = None
        if _status(acct) != "ACTIVE":
            reason = f"status {_status(acct)}"
        elif account_id in exclude:
            reason = "excluded (exclude_accounts)"
        elif exclude_ous & set(path):
            reason = f"excluded (exclude_ous: {sorted(exclude_ous & set(path))[0]})"
        elif (include or include_ous) and not (account_id in include or include_ous & set(path)):
            reason = "not included (include_accounts / include_ous)"
        elif account_id == hub_account:
            reason = "hub account (the monitor stack's own scheduled scan covers it)"
        elif skip_management and account_id == out.management_account and account_id not in include:
            reason = "management account (service-managed StackSets do not deploy there)"
        if reason:
            out.skipped.append(SkippedAccount(account_id, name, reason))
        else:
            out.selected.append(MemberAccount(account_id, name, tuple(path)))
    return out


def _ou_paths(client, count) -> dict[str, tuple[str, ...]]:
    """{account id: (root id, OU id, ..., parent OU id)} by walking the tree breadth-first."""
    paths: dict[str, tuple[str, ...]] = {}
    count("organizations:ListRoots")
    queue = [(root["Id"], (root["Id"],)) for root in client.list_roots().get("Roots", [])]
    while queue:
        parent, path = queue.pop(0)
        for page in client.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
            count("organizations:ListAccountsForParent")
            for acct in page.get("Accounts", []):
                paths[acct["Id"]] = path
        for page in client.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent):
            count("organizations:ListOrganizationalUnitsForParent")
            for ou in page.get("OrganizationalUnits", []):
                queue.append((ou["Id"], path + (ou["Id"],)))
    return paths
