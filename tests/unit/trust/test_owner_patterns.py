"""No owner name is special: for random owner names, every issuer grammar judges an owner-prefix wildcard as open
to another owner (with a concrete foreign caller derived from the pattern), an owner-scoped pattern as medium
advice, a unit-scoped one as low, and a literal as pinned — with and without the legitimate caller configured."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from connector_health.findings import Severity
from connector_health.trust.lint import lint_policy

ACCT = "123456789012"
names = st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,6})?", fullmatch=True)
guids = st.uuids().map(str)

# family: (issuer key, audience, owner-prefix pattern, owner-scoped pattern, unit-scoped pattern, literal, caller)
GRAMMARS = {
    "github": ("token.actions.githubusercontent.com", "sts.amazonaws.com",
               "repo:{o}*", "repo:{o}/*", "repo:{o}/{u}:*", "repo:{o}/{u}:ref:refs/heads/main",
               "sub=repo:{o}/{u}:ref:refs/heads/main"),
    "github-immutable": ("token.actions.githubusercontent.com", "sts.amazonaws.com",
                         "repo:{o}*", "repo:{o}@42/*", "repo:{o}@42/{u}@7:*", "repo:{o}@42/{u}@7:environment:prod",
                         "sub=repo:{o}@42/{u}@7:environment:prod"),
    "ghes": ("ghes.example.com/_services/token", "sts.amazonaws.com",
             "repo:{o}*", "repo:{o}/*", "repo:{o}/{u}:*", "repo:{o}/{u}:pull_request", "sub=repo:{o}/{u}:pull_request"),
    "gitlab": ("gitlab.com", "https://gitlab.com",
               "project_path:{o}*", "project_path:{o}/*", "project_path:{o}/{u}:*",
               "project_path:{o}/{u}:ref_type:branch:ref:main", "sub=project_path:{o}/{u}:ref_type:branch:ref:main"),
    "terraform": ("app.terraform.io", "aws.workload.identity",
                  "organization:{o}*", "organization:{o}:*", "organization:{o}:project:p:workspace:{u}:*",
                  "organization:{o}:project:p:workspace:{u}:run_phase:apply",
                  "sub=organization:{o}:project:p:workspace:{u}:run_phase:apply"),
    "buildkite": ("agent.buildkite.com", "sts.amazonaws.com",
                  "organization:{o}*", "organization:{o}:*", "organization:{o}:pipeline:{u}:*",
                  "organization:{o}:pipeline:{u}:ref:refs/heads/main:commit:abc:step:deploy",
                  "sub=organization:{o}:pipeline:{u}:ref:refs/heads/main:commit:abc:step:deploy"),
}


def _policy(key: str, aud: str, sub: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCT}:oidc-provider/{key}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{key}:aud": aud}, "StringLike": {f"{key}:sub": sub}}}]})


def _verdict(key: str, aud: str, sub: str, caller: list[str] | None) -> dict[str, Severity]:
    out: dict[str, Severity] = {}
    for f in lint_policy(_policy(key, aud, sub), caller=caller):
        if f.check_id not in out or f.severity.rank > out[f.check_id].rank:
            out[f.check_id] = f.severity
    return out


@settings(max_examples=25, database=None, deadline=None)
@given(owner=names, unit=names, known=st.booleans())
def test_owner_boundaries_whatever_the_owner_is_called(owner, unit, known):
    for family, (key, aud, prefix, scoped, inside, literal, caller) in GRAMMARS.items():
        fill = {"o": owner, "u": unit}
        callers = [caller.format(**fill)] if known else None

        open_ = _verdict(key, aud, prefix.format(**fill), callers)
        assert open_.get("TRUST_SUBJECT_UNRESTRICTED") is Severity.HIGH, (family, owner, open_)
        assert open_.get("TRUST_FOREIGN_IDENTITY_ADMITTED") is Severity.HIGH, (family, owner, open_)
        assert "TRUST_WILDCARD_VALUE" not in open_

        assert _verdict(key, aud, scoped.format(**fill), callers) == {"TRUST_WILDCARD_VALUE": Severity.MEDIUM}, (family, owner)
        assert _verdict(key, aud, inside.format(**fill), callers) == {"TRUST_WILDCARD_VALUE": Severity.LOW}, (family, owner)
        assert _verdict(key, aud, literal.format(**fill), callers) == {}, (family, owner)


@settings(max_examples=25, database=None, deadline=None)
@given(owner=names, other=names, unit=names)
@example(owner="a", other="z", unit="a")  # the policy's owner is one a generated foreign caller also has
@example(owner="a000-z00000", other="z000-z00000", unit="a")
def test_a_literal_of_another_owner_refuses_the_configured_caller(owner, other, unit):
    if owner == other:
        return
    key, aud = "token.actions.githubusercontent.com", "sts.amazonaws.com"
    got = _verdict(key, aud, f"repo:{other}/{unit}:ref:refs/heads/main", [f"sub=repo:{owner}/{unit}:ref:refs/heads/main"])
    assert got == {"TRUST_EXPECTED_IDENTITY_DENIED": Severity.CRITICAL, "TRUST_FOREIGN_IDENTITY_ADMITTED": Severity.HIGH}


@settings(max_examples=25, database=None, deadline=None)
@given(namespace=names, account=names)
def test_eks_namespace_is_the_boundary(namespace, account):
    key = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
    assert _verdict(key, "sts.amazonaws.com", f"system:serviceaccount:{namespace}:*", None) == \
        {"TRUST_WILDCARD_VALUE": Severity.LOW}
    spanning = _verdict(key, "sts.amazonaws.com", f"system:serviceaccount:*:{account}", None)
    assert spanning.get("TRUST_SUBJECT_UNRESTRICTED") is Severity.HIGH


@settings(max_examples=25, database=None, deadline=None)
@given(tenant=guids, other=guids)
def test_session_name_tenants(tenant, other):
    key = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
    doc = lambda session: json.dumps({"Version": "2012-10-17", "Statement": [{  # noqa: E731
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCT}:oidc-provider/{key}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {f"{key}:aud": "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479",
                                     "sts:RoleSessionName": session}}}]})
    caller = [f"sts:RoleSessionName=MicrosoftDefenderForClouds_{tenant}"]
    ids = lambda session: {f.check_id for f in lint_policy(doc(session), preset="defender-for-cloud", caller=caller)}  # noqa: E731
    assert ids(f"MicrosoftDefenderForClouds_{tenant}") == set()
    assert {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"} <= ids(f"MicrosoftDefenderForClouds_{tenant[:8]}*")
    if other != tenant:
        assert "TRUST_EXPECTED_IDENTITY_DENIED" in ids(f"MicrosoftDefenderForClouds_{other}")
