"""Table-driven: real trust-policy shapes and the TRUST_* IDs each must and must not produce (via lint-trust)."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from connector_health.trust.lint import LintInputError, lint_trust

ACCT = "123456789012"
MS = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
MS_ARN = f"arn:aws:iam::{ACCT}:oidc-provider/{MS}"
GH = "token.actions.githubusercontent.com"
GH_ARN = f"arn:aws:iam::{ACCT}:oidc-provider/{GH}"
EKS = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
EKS_ARN = f"arn:aws:iam::{ACCT}:oidc-provider/{EKS}"
GL = "gitlab.com"
GL_ARN = f"arn:aws:iam::{ACCT}:oidc-provider/{GL}"
TENANT = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
CSPM_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
SESSION = f"MicrosoftDefenderForClouds_{TENANT}"
ALL_TRUST = {
    "TRUST_NOT_FEDERATED", "TRUST_WILDCARD_PRINCIPAL", "TRUST_UNEXPECTED_PRINCIPAL", "TRUST_UNEXPECTED_ACTION",
    "TRUST_AUDIENCE_UNRESTRICTED", "TRUST_SUBJECT_UNRESTRICTED", "TRUST_FORALLVALUES_ALLOW", "TRUST_WILDCARD_VALUE",
    "TRUST_DUPLICATE_KEY", "TRUST_EXPECTED_IDENTITY_DENIED", "TRUST_FOREIGN_IDENTITY_ADMITTED", "TRUST_INVALID_DOCUMENT",
}


def stmt(principal=None, action="sts:AssumeRoleWithWebIdentity", condition=None, effect="Allow", **extra):
    s = {"Effect": effect, "Principal": principal if principal is not None else {"Federated": MS_ARN}, "Action": action}
    if condition is not None:
        s["Condition"] = condition
    s.update(extra)
    return s


def pol(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def defender_cond(aud=CSPM_AUD, session=SESSION, aud_op="StringLike", sess_op="StringLike"):
    cond: dict = {}
    if aud is not None:
        cond.setdefault(aud_op, {})[f"{MS}:aud"] = aud
    if session is not None:
        cond.setdefault(sess_op, {})["sts:RoleSessionName"] = session
    return cond


def gh(sub, aud="sts.amazonaws.com", sub_op="StringLike", extra=None):
    cond = {"StringEquals": {f"{GH}:aud": aud}} if aud is not None else {}
    if sub is not None:
        cond.setdefault(sub_op, {})[f"{GH}:sub"] = sub
    for op, kv in (extra or {}).items():
        cond.setdefault(op, {}).update(kv)
    return pol(stmt({"Federated": GH_ARN}, condition=cond))


def eks(sub, op="StringEquals", aud=True):
    cond = {op: {f"{EKS}:sub": sub}}
    if aud:
        cond.setdefault("StringEquals", {})[f"{EKS}:aud"] = "sts.amazonaws.com"
    return pol(stmt({"Federated": EKS_ARN}, condition=cond))


D = {"preset": "defender-for-cloud", "caller": [f"sts:RoleSessionName={SESSION}", f"aud={CSPM_AUD}"]}
D_UNKNOWN = {"preset": "defender-for-cloud"}
G = {"caller": ["sub=repo:acme/infra:ref:refs/heads/main"]}
G_UNKNOWN: dict = {}
E = {"caller": ["sub=system:serviceaccount:payments:api"]}

CASES = [
    # --- Defender for Cloud --------------------------------------------------------------------------------
    ("defender template, tenant known", pol(stmt(condition=defender_cond())), D, set()),
    ("defender template, tenant unknown", pol(stmt(condition=defender_cond())), D_UNKNOWN, set()),
    ("defender with StringEquals", pol(stmt(condition=defender_cond(aud_op="StringEquals", sess_op="StringEquals"))), D, set()),
    ("old MicrosoftSentinel_ prefix, tenant unknown", pol(stmt(condition=defender_cond(session="MicrosoftSentinel_*"))), D_UNKNOWN,
     {"TRUST_EXPECTED_IDENTITY_DENIED"}),
    ("old MicrosoftSentinel_ prefix with tenant", pol(stmt(condition=defender_cond(session=f"MicrosoftSentinel_{TENANT}"))), D,
     {"TRUST_EXPECTED_IDENTITY_DENIED"}),
    ("defender pinned to another tenant", pol(stmt(condition=defender_cond(session="MicrosoftDefenderForClouds_11111111-2222-4333-8444-555555555555"))), D,
     {"TRUST_EXPECTED_IDENTITY_DENIED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("defender any tenant", pol(stmt(condition=defender_cond(session="MicrosoftDefenderForClouds_*"))), D,
     {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("defender no session condition", pol(stmt(condition=defender_cond(session=None))), D,
     {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("defender session wildcard prefix", pol(stmt(condition=defender_cond(session=f"*_{TENANT}"))), D,
     {"TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("defender no audience condition", pol(stmt(condition=defender_cond(aud=None))), D,
     {"TRUST_AUDIENCE_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("defender audience api://*", pol(stmt(condition=defender_cond(aud="api://*"))), D,
     {"TRUST_AUDIENCE_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("defender audience only IfExists", pol(stmt(condition=defender_cond(aud_op="StringEqualsIfExists"))), D,
     {"TRUST_AUDIENCE_UNRESTRICTED"}),
    ("defender + extra AWS account (backdoor)", pol(stmt(condition=defender_cond()), stmt({"AWS": "arn:aws:iam::999988887777:root"}, action="sts:AssumeRole")), D,
     {"TRUST_UNEXPECTED_PRINCIPAL"}),
    ("defender + AWS principal in the same statement", pol(stmt({"Federated": MS_ARN, "AWS": "999988887777"}, condition=defender_cond())), D,
     {"TRUST_UNEXPECTED_PRINCIPAL"}),
    ("defender + service principal", pol(stmt(condition=defender_cond()), stmt({"Service": "ec2.amazonaws.com"}, action="sts:AssumeRole")), D,
     {"TRUST_UNEXPECTED_PRINCIPAL"}),
    ("Principal * with conditions", pol(stmt("*", condition=defender_cond())), D, {"TRUST_WILDCARD_PRINCIPAL"}),
    ("AWS * principal", pol(stmt(condition=defender_cond()), stmt({"AWS": "*"}, action="sts:AssumeRole")), D,
     {"TRUST_WILDCARD_PRINCIPAL"}),
    ("NotPrincipal in an Allow", pol({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRoleWithWebIdentity"}), D,
     {"TRUST_WILDCARD_PRINCIPAL", "TRUST_AUDIENCE_UNRESTRICTED", "TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("sts:* for the provider", pol(stmt(action="sts:*", condition=defender_cond())), D, {"TRUST_UNEXPECTED_ACTION"}),
    ("extra sts:AssumeRole for the provider", pol(stmt(action=["sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"], condition=defender_cond())), D,
     {"TRUST_UNEXPECTED_ACTION"}),
    ("TagSession is fine", pol(stmt(action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"], condition=defender_cond())), D, set()),
    ("NotAction for the provider", pol({"Effect": "Allow", "Principal": {"Federated": MS_ARN}, "NotAction": "iam:*", "Condition": defender_cond()}), D,
     {"TRUST_UNEXPECTED_ACTION"}),
    ("lower-case action name", pol(stmt(action="sts:assumerolewithwebidentity", condition=defender_cond())), D, set()),
    ("role trusts another provider only", pol(stmt({"Federated": GH_ARN}, condition={"StringEquals": {f"{GH}:sub": "repo:acme/x:ref:refs/heads/main"}})), D,
     {"TRUST_NOT_FEDERATED", "TRUST_UNEXPECTED_PRINCIPAL"}),
    ("provider only with sts:AssumeRole", pol(stmt(action="sts:AssumeRole", condition=defender_cond())), D,
     {"TRUST_NOT_FEDERATED", "TRUST_UNEXPECTED_ACTION"}),
    ("Deny * for foreign tenants is a guard-rail", pol(stmt(condition=defender_cond(session="MicrosoftDefenderForClouds_*")),
                                                        stmt("*", effect="Deny", condition={"StringNotLike": {"sts:RoleSessionName": SESSION}})), D, set()),
    ("Deny that blocks the legitimate caller", pol(stmt(condition=defender_cond()), stmt("*", effect="Deny", condition={"StringLike": {"sts:RoleSessionName": "MicrosoftDefender*"}})), D,
     {"TRUST_EXPECTED_IDENTITY_DENIED"}),
    ("condition on another issuer's key closes the statement", pol(stmt(condition={"StringEquals": {f"{GH}:sub": "repo:acme/x:*", f"{MS}:aud": CSPM_AUD}})), D,
     {"TRUST_EXPECTED_IDENTITY_DENIED"}),
    ("same under IfExists opens it", pol(stmt(condition={"StringEqualsIfExists": {f"{GH}:sub": "repo:acme/x"}, "StringLike": {f"{MS}:aud": CSPM_AUD}})), D,
     {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("ForAllValues on the session name", pol(stmt(condition={"StringLike": {f"{MS}:aud": CSPM_AUD}, "ForAllValues:StringLike": {"sts:RoleSessionName": SESSION}})), D,
     {"TRUST_FORALLVALUES_ALLOW"}),
    ("statement without Effect is invalid", pol(stmt(condition=defender_cond()), {"Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}), D,
     {"TRUST_INVALID_DOCUMENT"}),
    ("Statement as a single object", {"Version": "2012-10-17", "Statement": stmt(condition=defender_cond())}, D, set()),
    ("values as one-element lists", pol(stmt({"Federated": [MS_ARN]}, action=["sts:AssumeRoleWithWebIdentity"],
                                              condition={"StringLike": {f"{MS}:aud": [CSPM_AUD], "sts:RoleSessionName": [SESSION]}})), D, set()),
    ("operator and key letter case", pol(stmt(condition={"stringlike": {f"{MS.upper()}:AUD": CSPM_AUD, "STS:rolesessionname": SESSION}})), D, set()),
    # --- GitHub Actions ---------------------------------------------------------------------------------------
    ("github pinned repo and branch", gh("repo:acme/infra:ref:refs/heads/main", sub_op="StringEquals"), G, set()),
    ("github repo:acme/* is scoped", gh("repo:acme/*"), G, {"TRUST_WILDCARD_VALUE"}),
    ("github repo:acme* spans owners", gh("repo:acme*"), G, {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("github repo:*", gh("repo:*"), G, {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("github repo:*/infra", gh("repo:*/infra:*"), G, {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("github repo:?cme/*", gh("repo:?cme/*"), G, {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("github no sub condition", gh(None), G, {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("github job_workflow_ref alone does not pin", gh(None, extra={"StringEquals": {f"{GH}:job_workflow_ref": "acme/shared/.github/workflows/d.yml@refs/heads/main"}}), G_UNKNOWN,
     {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("github repository key pins", gh(None, extra={"StringEquals": {f"{GH}:repository": "acme/infra"}}), G, set()),
    ("github immutable subject", gh("repo:acme@1234/infra@5678:ref:refs/heads/main", sub_op="StringEquals"),
     {"caller": ["sub=repo:acme@1234/infra@5678:ref:refs/heads/main"]}, set()),
    ("github immutable subject pattern, caller unknown", gh("repo:acme@1234/*"), G_UNKNOWN, {"TRUST_WILDCARD_VALUE"}),
    # STS refuses audiences outside the provider's ClientIDList before it reads the policy: without that list
    # (--provider-audience) no foreign audience is shown to get in, so the missing pin is low advice only.
    ("github missing audience", gh("repo:acme/infra:*", aud=None), G, {"TRUST_AUDIENCE_UNRESTRICTED", "TRUST_WILDCARD_VALUE"}),
    ("github wrong owner pinned", gh("repo:other/infra:ref:refs/heads/main", sub_op="StringEquals"), G,
     {"TRUST_EXPECTED_IDENTITY_DENIED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("github ForAllValues on sub", gh(None, extra={"ForAllValues:StringLike": {f"{GH}:sub": "repo:acme/*"}}), G,
     {"TRUST_FORALLVALUES_ALLOW", "TRUST_SUBJECT_UNRESTRICTED"}),
    ("github environment alone does not pin", gh(None, extra={"StringEquals": {f"{GH}:environment": "prod"}}), G_UNKNOWN,
     {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    # --- EKS IRSA ------------------------------------------------------------------------------------------------
    ("irsa pinned service account", eks("system:serviceaccount:payments:api"), E, set()),
    ("irsa namespace wildcard name", eks("system:serviceaccount:payments:*", op="StringLike"), E, {"TRUST_WILDCARD_VALUE"}),
    ("irsa any namespace", eks("system:serviceaccount:*:api", op="StringLike"), E,
     {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    ("irsa without audience", eks("system:serviceaccount:payments:api", aud=False), E, {"TRUST_AUDIENCE_UNRESTRICTED"}),
    ("irsa wrong namespace", eks("system:serviceaccount:other:api"), E, {"TRUST_EXPECTED_IDENTITY_DENIED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
    # --- GitLab --------------------------------------------------------------------------------------------------
    ("gitlab group scoped", pol(stmt({"Federated": GL_ARN}, condition={"StringEquals": {f"{GL}:aud": "https://gitlab.com"},
                                                                          "StringLike": {f"{GL}:sub": "project_path:acme/*"}})),
     {"caller": ["sub=project_path:acme/infra:ref_type:branch:ref:main"]}, {"TRUST_WILDCARD_VALUE"}),
    ("gitlab any group", pol(stmt({"Federated": GL_ARN}, condition={"StringEquals": {f"{GL}:aud": "https://gitlab.com"},
                                                                       "StringLike": {f"{GL}:sub": "project_path:*"}})),
     {"caller": ["sub=project_path:acme/infra:ref_type:branch:ref:main"]}, {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"}),
]


@pytest.mark.parametrize("name, policy, opts, expected", CASES, ids=[c[0] for c in CASES])
def test_trust_policy(tmp_path, name, policy, opts, expected):
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(policy))
    got = {f.check_id for f in lint_trust(path, **opts)}
    assert got & ALL_TRUST == expected, f"{name}: got {sorted(got)}"


def test_at_least_forty_cases():
    assert len(CASES) >= 40


def test_duplicate_keys_in_raw_text(tmp_path):
    text = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"%s"},'
            '"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"%s:aud":"%s"},'
            '"StringLike":{"sts:RoleSessionName":"%s"}}}]}') % (MS_ARN, MS, CSPM_AUD, SESSION)
    path = tmp_path / "dup.json"
    path.write_text(text)
    findings = lint_trust(path, **D)
    dup = [f for f in findings if f.check_id == "TRUST_DUPLICATE_KEY"]
    assert dup and "StringLike" in dup[0].message
    # json keeps the last StringLike: the audience restriction is gone.
    assert "TRUST_AUDIENCE_UNRESTRICTED" in {f.check_id for f in findings}


def test_case_only_duplicate(tmp_path):
    text = json.dumps(pol(stmt(condition=defender_cond()))).replace('"StringLike"', '"StringLike": {}, "stringlike"', 1)
    path = tmp_path / "dup.json"
    path.write_text(text)
    assert "TRUST_DUPLICATE_KEY" in {f.check_id for f in lint_trust(path, **D)}


def test_get_role_output_url_encoded_with_bom(tmp_path):
    doc = urllib.parse.quote(json.dumps(pol(stmt(condition=defender_cond(session=None)))))
    path = tmp_path / "role.json"
    path.write_bytes("\ufeff".encode() + json.dumps({"Role": {"RoleName": "CspmMonitorAws", "Arn": f"arn:aws:iam::{ACCT}:role/CspmMonitorAws",
                                                               "AssumeRolePolicyDocument": doc}}).encode())
    findings = lint_trust(path, **D)
    assert {f.check_id for f in findings} >= {"TRUST_SUBJECT_UNRESTRICTED"}
    assert all(f.resource_arn.endswith(":role/CspmMonitorAws") and f.account == ACCT for f in findings)


@pytest.mark.parametrize("content, reason", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "not a policy document"),
    ('{"Version": "2012-10-17"}', "not a policy document"),
    ('{"Statement": 5}', "not a policy document"),
])
def test_bad_input(tmp_path, content, reason):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(LintInputError, match=reason):
        lint_trust(path)


def test_no_provider_needs_issuer(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(pol(stmt({"AWS": "arn:aws:iam::1:root"}, action="sts:AssumeRole"))))
    with pytest.raises(LintInputError, match="--issuer"):
        lint_trust(path)
    got = {f.check_id for f in lint_trust(path, issuer=f"https://{GH}")}
    assert {"TRUST_NOT_FEDERATED", "TRUST_UNEXPECTED_PRINCIPAL"} <= got
