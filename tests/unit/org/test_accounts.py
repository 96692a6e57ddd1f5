"""Account selection: ACTIVE only, include/exclude lists and OUs, the management account, pagination."""

from __future__ import annotations

import pytest

from connector_health.config import OrgConfig
from connector_health.org import select_accounts

MGMT = "111111111111"


class FakeOrganizations:
    """Pages of two accounts; a tree root -> ou-a (-> ou-a1), root -> ou-b."""

    def __init__(self, accounts, parents):
        self.accounts = accounts  # [(id, status)]
        self.parents = parents  # {account or OU id: parent id}
        self.calls = []

    def describe_organization(self):
        self.calls.append("DescribeOrganization")
        return {"Organization": {"Id": "o-abcdefghij", "MasterAccountId": MGMT}}

    def list_roots(self):
        self.calls.append("ListRoots")
        return {"Roots": [{"Id": "r-root"}]}

    def get_paginator(self, name):
        fake = self

        class Paginator:
            def paginate(self, **kw):
                fake.calls.append(name)
                if name == "list_accounts":
                    items = [{"Id": a, "Name": f"n{a[-2:]}", "Status": s} for a, s in fake.accounts]
                    return [{"Accounts": items[i:i + 2]} for i in range(0, len(items), 2)]
                parent = kw["ParentId"]
                children = [c for c, p in fake.parents.items() if p == parent]
                if name == "list_accounts_for_parent":
                    return [{"Accounts": [{"Id": c} for c in children if c.isdigit()]}]
                return [{"OrganizationalUnits": [{"Id": c} for c in children if c.startswith("ou-")]}]

        return Paginator()


ACCOUNTS = [(MGMT, "ACTIVE"), ("222222222222", "ACTIVE"), ("333333333333", "ACTIVE"), ("444444444444", "SUSPENDED"),
            ("555555555555", "ACTIVE")]
PARENTS = {MGMT: "r-root", "222222222222": "ou-aaaa-11111111", "333333333333": "ou-aaaa-22222222",
           "444444444444": "ou-bbbb-11111111", "555555555555": "ou-bbbb-11111111",
           "ou-aaaa-11111111": "r-root", "ou-aaaa-22222222": "ou-aaaa-11111111", "ou-bbbb-11111111": "r-root"}


def _select(**org):
    client = FakeOrganizations(ACCOUNTS, PARENTS)
    selection = select_accounts(OrgConfig(enabled=True, **org), client=client)
    return selection, client


def test_active_accounts_except_the_management_account_all_pages():
    sel, client = _select()
    assert [a.account_id for a in sel.selected] == ["222222222222", "333333333333", "555555555555"]
    assert {s.account_id: s.reason.split(" (")[0] for s in sel.skipped} == {
        MGMT: "management account", "444444444444": "status SUSPENDED"}
    assert sel.api_calls["organizations:ListAccounts"] == 3  # three pages
    assert "ListRoots" not in client.calls  # no OU filter: no tree walk


def test_management_account_scanned_when_asked_or_included():
    assert MGMT in [a.account_id for a in _select(skip_management_account=False)[0].selected]
    assert [a.account_id for a in _select(include_accounts=[MGMT])[0].selected] == [MGMT]


def test_include_and_exclude_lists():
    sel, _ = _select(include_accounts=["222222222222", "555555555555"], exclude_accounts=["555555555555"][:0])
    assert [a.account_id for a in sel.selected] == ["222222222222", "555555555555"]
    sel, _ = _select(exclude_accounts=["333333333333"])
    assert "333333333333" not in [a.account_id for a in sel.selected]
    assert any(s.reason.startswith("excluded") for s in sel.skipped)


def test_ou_filters_apply_at_any_depth_and_exclude_wins():
    sel, client = _select(include_ous=["ou-aaaa-11111111"])
    assert [a.account_id for a in sel.selected] == ["222222222222", "333333333333"]  # 333 sits in a child OU
    assert sel.selected[1].ou_path == ("r-root", "ou-aaaa-11111111", "ou-aaaa-22222222")
    assert "ListRoots" in client.calls
    sel, _ = _select(include_ous=["ou-aaaa-11111111"], exclude_ous=["ou-aaaa-22222222"])
    assert [a.account_id for a in sel.selected] == ["222222222222"]
    sel, _ = _select(include_ous=["r-root"], exclude_ous=["ou-bbbb-11111111"])
    assert [a.account_id for a in sel.selected] == ["222222222222", "333333333333"]


def test_an_account_listed_twice_is_scanned_once():
    client = FakeOrganizations([("222222222222", "ACTIVE"), ("222222222222", "ACTIVE")], {})
    assert len(select_accounts(OrgConfig(), client=client).selected) == 1


@pytest.mark.parametrize("org, message", [
    ({"include_accounts": ["1234"]}, "org.include_accounts[0] = '1234': use a 12-digit AWS account id"),
    ({"exclude_ous": ["ou-x"]}, "org.exclude_ous[0] = 'ou-x': use an OU id such as ou-ab12-cd34ef56"),
    ({"include_accounts": ["222222222222"], "exclude_accounts": ["222222222222"]},
     "account 222222222222 is in both include_accounts and exclude_accounts"),
    ({"max_workers": 0}, "org.max_workers = 0"),
    ({"member_rol_name": "x"}, "did you mean 'member_role_name'?"),
])
def test_org_config_errors_name_the_field_and_the_fix(org, message):
    from connector_health.config import ConfigError, parse_config

    base = {"connectors": [{"name": "ci", "preset": "generic", "issuer": "https://x.example", "audiences": ["a"]}]}
    with pytest.raises(ConfigError) as exc:
        parse_config(base | {"org": org})
    assert message in str(exc.value)


def test_existing_configs_stay_valid_with_org_defaults():
    from connector_health.config import parse_config

    config = parse_config({"connectors": [{"name": "ci", "preset": "generic", "issuer": "https://x.example",
                                           "audiences": ["a"]}]})
    assert config.org.enabled is False and config.org.member_role_name == "connector-health-member"
