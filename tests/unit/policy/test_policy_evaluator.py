"""Evaluation with real trust and permission policy shapes, condition semantics, boundaries, uncertainty."""

import pytest

from connector_health.policy import (
    UNKNOWN,
    Effect,
    RequestContext,
    actions_allowed,
    evaluate,
    evaluate_with_boundary,
    parse_policy,
)
from connector_health.policy.evaluator import _glob_covers, _glob_overlaps, _pattern_set

ACCOUNT = "123456789012"
MDC_TENANT = "33e01921-4d64-4f8c-a055-5bdaffd5e33d"
MDC_ISSUER_KEY = f"sts.windows.net/{MDC_TENANT}/"
MDC_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{MDC_ISSUER_KEY}"
CSPM_AUDIENCE = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
CUSTOMER_TENANT = "0f2c2f3e-1111-4222-8333-944445555666"
OTHER_TENANT = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
GH_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
EKS_ISSUER_KEY = "oidc.eks.eu-west-1.amazonaws.com/id/5C3A1E4D0B9F7A6E2D8C1B0A9F8E7D6C"
EKS_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{EKS_ISSUER_KEY}"
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"


def trust(*statements, source="trust"):
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, source=source,
                        require_principal=True)


def policy(*statements, source="policy"):
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, source=source)


def defender_trust(session_pattern="MicrosoftDefenderForClouds_" + CUSTOMER_TENANT):
    """The plan-role trust policy of AwsOnboarding.tf (FACTS.md)."""
    return trust({
        "Effect": "Allow",
        "Principal": {"Federated": MDC_PROVIDER},
        "Action": WEB_IDENTITY,
        "Condition": {"StringLike": {f"{MDC_ISSUER_KEY}:aud": CSPM_AUDIENCE,
                                     "sts:RoleSessionName": session_pattern}},
    })


def web_identity(provider, **keys):
    return RequestContext(principal=("Federated", provider), action=WEB_IDENTITY, keys=keys)


def mdc_caller(audience=CSPM_AUDIENCE, session="MicrosoftDefenderForClouds_" + CUSTOMER_TENANT):
    return web_identity(MDC_PROVIDER, **{f"{MDC_ISSUER_KEY}:aud": audience, "sts:RoleSessionName": session})


# --- Defender for Cloud -------------------------------------------------------------------------------

def test_defender_legitimate_caller_is_allowed():
    decision = evaluate([defender_trust()], mdc_caller())
    assert decision.effect is Effect.ALLOW and decision.allowed
    assert [(r.source, r.index) for r in decision.deciding] == [("trust", 0)]
    assert not decision.uncertain


@pytest.mark.parametrize("request_", [
    mdc_caller(audience="api://AzureSecurityCenter.MultiCloud.DefenderForServers"),
    mdc_caller(session="MicrosoftDefenderForClouds_" + OTHER_TENANT),
    mdc_caller(session="MicrosoftSentinel_" + CUSTOMER_TENANT),
    web_identity(MDC_PROVIDER, **{f"{MDC_ISSUER_KEY}:aud": CSPM_AUDIENCE}),  # no session name
    web_identity(GH_PROVIDER, **{f"{MDC_ISSUER_KEY}:aud": CSPM_AUDIENCE,
                                 "sts:RoleSessionName": "MicrosoftDefenderForClouds_" + CUSTOMER_TENANT}),
    RequestContext(principal=("Federated", MDC_PROVIDER), action="sts:AssumeRole",
                   keys=mdc_caller().keys),
], ids=["other-audience", "other-tenant", "old-prefix-caller", "no-session-name", "other-provider",
        "other-action"])
def test_defender_foreign_callers_are_refused(request_):
    decision = evaluate([defender_trust()], request_)
    assert decision.effect is Effect.IMPLICIT_DENY and not decision.allowed
    assert decision.deciding == ()


def test_old_sentinel_prefix_refuses_the_new_session_name():
    """Azure/Azure-Sentinel #11980: a policy pinned to MicrosoftSentinel_* refuses every current exchange."""
    old = defender_trust("MicrosoftSentinel_*")
    assert not evaluate([old], mdc_caller()).allowed
    assert evaluate([old], mdc_caller(session="MicrosoftSentinel_" + CUSTOMER_TENANT)).allowed


def test_tenant_wildcard_admits_other_tenants():
    loose = defender_trust("MicrosoftDefenderForClouds_*")
    assert evaluate([loose], mdc_caller(session="MicrosoftDefenderForClouds_" + OTHER_TENANT)).allowed


def test_condition_keys_and_action_names_are_case_insensitive():
    request = RequestContext(principal=("federated", MDC_PROVIDER), action="STS:assumerolewithwebidentity",
                             keys={f"{MDC_ISSUER_KEY.upper()}:AUD": CSPM_AUDIENCE,
                                   "STS:ROLESESSIONNAME": "MicrosoftDefenderForClouds_" + CUSTOMER_TENANT})
    assert evaluate([defender_trust()], request).allowed


def test_condition_values_are_case_sensitive_for_string_like():
    assert not evaluate([defender_trust()], mdc_caller(audience=CSPM_AUDIENCE.upper())).allowed


# --- GitHub Actions, EKS IRSA -----------------------------------------------------------------------

GITHUB = trust({
    "Effect": "Allow",
    "Principal": {"Federated": GH_PROVIDER},
    "Action": WEB_IDENTITY,
    "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                  "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}},
})


@pytest.mark.parametrize("sub,aud,allowed", [
    ("repo:acme/infra:ref:refs/heads/main", "sts.amazonaws.com", True),
    ("repo:acme/infra:environment:prod", "sts.amazonaws.com", True),
    ("repo:acme-evil/infra:ref:refs/heads/main", "sts.amazonaws.com", False),
    ("repo:ACME/infra:ref:refs/heads/main", "sts.amazonaws.com", False),
    ("repo:evil/acme/x", "sts.amazonaws.com", False),
    ("repo:acme/infra:ref:refs/heads/main", "api://other", False),
    ("repo:acme/infra:ref:refs/heads/main", "STS.amazonaws.com", False),
    (None, "sts.amazonaws.com", False),
    ("repo:acme/infra:ref:refs/heads/main", None, False),
])
def test_github_actions_trust(sub, aud, allowed):
    keys = {"token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud}
    assert evaluate([GITHUB], web_identity(GH_PROVIDER, **keys)).allowed is allowed


IRSA = trust({
    "Effect": "Allow",
    "Principal": {"Federated": EKS_PROVIDER},
    "Action": WEB_IDENTITY,
    "Condition": {"StringEquals": {f"{EKS_ISSUER_KEY}:sub": "system:serviceaccount:monitoring:exporter",
                                   f"{EKS_ISSUER_KEY}:aud": "sts.amazonaws.com"}},
})


@pytest.mark.parametrize("sub,allowed", [
    ("system:serviceaccount:monitoring:exporter", True),
    ("system:serviceaccount:default:exporter", False),
    ("system:serviceaccount:monitoring:exporter2", False),
])
def test_eks_irsa_trust(sub, allowed):
    request = web_identity(EKS_PROVIDER, **{f"{EKS_ISSUER_KEY}:sub": sub, f"{EKS_ISSUER_KEY}:aud": "sts.amazonaws.com"})
    assert evaluate([IRSA], request).allowed is allowed


def test_keys_of_another_issuer_close_a_plain_statement_and_open_an_ifexists_one():
    """CHECKS.md: a condition on keys the caller's token never carries closes the statement under a plain
    operator and opens it under IfExists."""
    plain = trust({"Effect": "Allow", "Principal": {"Federated": EKS_PROVIDER}, "Action": WEB_IDENTITY,
                   "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/x"}}})
    if_exists = trust({"Effect": "Allow", "Principal": {"Federated": EKS_PROVIDER}, "Action": WEB_IDENTITY,
                       "Condition": {"StringEqualsIfExists": {"token.actions.githubusercontent.com:sub": "repo:acme/x"}}})
    caller = web_identity(EKS_PROVIDER, **{f"{EKS_ISSUER_KEY}:sub": "system:serviceaccount:a:b"})
    assert evaluate([plain], caller).effect is Effect.IMPLICIT_DENY
    assert evaluate([if_exists], caller).effect is Effect.ALLOW


# --- Deny statements -------------------------------------------------------------------------------

GUARDED = trust(
    {"Effect": "Allow", "Principal": {"Federated": GH_PROVIDER}, "Action": WEB_IDENTITY,
     "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}},
    {"Sid": "OnlyAcme", "Effect": "Deny", "Principal": "*", "Action": "sts:*",
     "Condition": {"StringNotLike": {"token.actions.githubusercontent.com:sub": ["repo:acme/*", "repo:acme@1/*"]}}},
)


@pytest.mark.parametrize("sub,effect", [
    ("repo:acme/infra:ref:refs/heads/main", Effect.ALLOW),
    ("repo:acme@1/infra:pull_request", Effect.ALLOW),
    ("repo:other/infra:ref:refs/heads/main", Effect.EXPLICIT_DENY),
    # StringNotLike on an absent key is TRUE (IAM user guide, "Condition operators"): the guard denies.
    (None, Effect.EXPLICIT_DENY),
])
def test_deny_with_wildcard_principal_guards_the_subject(sub, effect):
    keys = {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": sub}
    decision = evaluate([GUARDED], web_identity(GH_PROVIDER, **keys))
    assert decision.effect is effect
    if effect is Effect.EXPLICIT_DENY:
        assert [(r.index, r.sid, r.effect) for r in decision.deciding] == [(1, "OnlyAcme", "Deny")]


def test_explicit_deny_beats_allow_across_policies():
    admin = policy({"Effect": "Allow", "Action": "*", "Resource": "*"}, source="AdministratorAccess")
    deny = policy({"Effect": "Deny", "Action": ["s3:DeleteBucket", "billing:*"], "Resource": "*"}, source="guard")
    assert evaluate([admin, deny], RequestContext(action="s3:DeleteBucket")).effect is Effect.EXPLICIT_DENY
    assert evaluate([admin, deny], RequestContext(action="billing:ViewBilling")).deciding[0].source == "guard"
    assert evaluate([admin, deny], RequestContext(action="s3:GetObject")).effect is Effect.ALLOW


# --- set operators, IfExists, Null ----------------------------------------------------------------

def _one_condition(operator, key, values, effect="Allow"):
    return policy({"Effect": effect, "Action": "s3:GetObject", "Resource": "*",
                   "Condition": {operator: {key: values}}})


@pytest.mark.parametrize("operator,values,request_value,expected", [
    # ForAllValues: true when the claim is absent (FACTS.md; TRUST_FORALLVALUES_ALLOW)
    ("ForAllValues:StringEquals", ["repo:acme/x"], None, True),
    ("ForAllValues:StringEquals", ["repo:acme/x"], [], True),
    ("ForAllValues:StringEquals", ["repo:acme/x"], "repo:acme/x", True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringNotLike", ["key1*"], ["key2", "key3"], True),
    ("ForAllValues:StringNotLike", ["key1*"], ["key2", "key1x"], False),
    ("ForAllValues:StringNotLike", ["key1*"], None, True),
    ("ForAnyValue:StringEquals", ["a", "b"], None, False),
    ("ForAnyValue:StringEquals", ["a", "b"], ["c", "b"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["c", "d"], False),
    ("ForAnyValue:StringNotEquals", ["DataClass", "Owner"], ["DataClass", "Owner"], False),
    ("ForAnyValue:StringNotEquals", ["DataClass", "Owner"], ["Dept", "DataClass"], True),
    ("ForAnyValue:StringNotEquals", ["DataClass", "Owner"], None, False),
    ("ForAnyValue:StringEqualsIfExists", ["a"], None, False),
    ("ForAllValues:StringEqualsIfExists", ["a"], None, True),
    ("StringEqualsIfExists", ["prod"], None, True),
    ("StringEqualsIfExists", ["prod"], "dev", False),
    ("StringEqualsIfExists", ["prod"], "prod", True),
    ("StringNotEqualsIfExists", ["prod"], None, True),
    ("StringNotEqualsIfExists", ["prod"], "prod", False),
    ("Null", ["true"], None, True),
    ("Null", ["true"], "x", False),
    ("Null", ["false"], None, False),
    ("Null", ["false"], "x", True),
    ("Null", [True], None, True),
])
def test_set_operators_ifexists_and_null(operator, values, request_value, expected):
    request = RequestContext(action="s3:GetObject", keys={"Claim:X": request_value})
    assert evaluate([_one_condition(operator, "claim:x", values)], request).allowed is expected


# --- every base operator -------------------------------------------------------------------------------

@pytest.mark.parametrize("operator,values,request_value,expected", [
    ("StringEquals", ["a", "b"], "b", True),
    ("StringEquals", ["a"], "A", False),
    ("StringEquals", ["a"], None, False),
    ("StringNotEquals", ["a", "b"], "b", False),  # NOR: matches one of them
    ("StringNotEquals", ["a", "b"], "c", True),
    ("StringNotEquals", ["a"], None, True),  # negated operator, absent key → true
    ("StringEqualsIgnoreCase", ["Prod"], "pROD", True),
    ("StringNotEqualsIgnoreCase", ["Prod"], "PROD", False),
    ("StringLike", ["repo:acme/*"], "repo:acme/x", True),
    ("StringLike", ["a?c"], "abc", True),
    ("StringLike", ["a?c"], "abbc", False),
    ("StringLike", ["a.c"], "abc", False),  # no regex meaning
    ("StringLike", ["(x)+[y]"], "(x)+[y]", True),
    ("StringLike", ["^a$"], "a", False),
    ("StringLike", ["a*"], "a\nb", True),
    ("StringNotLike", ["a*", "b*"], "bz", False),
    ("StringNotLike", ["a*", "b*"], "cz", True),
    ("StringNotLike", ["a*"], None, True),
    ("StringLike", ["a*"], None, False),
    ("NumericLessThan", ["10"], "9.5", True),
    ("NumericLessThan", [10], "10", False),
    ("NumericLessThanEquals", ["10"], "10", True),
    ("NumericGreaterThan", ["10"], "1e2", True),
    ("NumericGreaterThanEquals", ["10"], "9", False),
    ("NumericEquals", ["3"], "3.0", True),
    ("NumericNotEquals", ["3", "4"], "4", False),
    ("NumericNotEquals", ["3", "4"], "5", True),
    ("NumericNotEquals", ["3"], None, True),
    ("DateLessThan", ["2025-01-01T00:00:00Z"], "2024-12-31T23:59:59Z", True),
    ("DateLessThan", ["2025-01-01T00:00:00Z"], "2025-01-01T01:00:00+02:00", True),
    ("DateGreaterThan", ["2025-01-01"], "1735689601", True),
    ("DateEquals", ["1735689600"], "2025-01-01T00:00:00Z", True),
    ("DateNotEquals", ["2025-01-01"], "2025-01-01T00:00:00Z", False),
    ("DateLessThanEquals", ["2025-01-01T00:00:00"], "2025-01-01T00:00:00Z", True),
    ("DateGreaterThanEquals", ["2025-01-02"], "2025-01-01", False),
    ("Bool", ["true"], "true", True),
    ("Bool", ["true"], "True", True),
    ("Bool", [False], "true", False),
    ("Bool", ["false"], None, False),
    ("BinaryEquals", ["QmluYXJ5VmFsdWU="], "QmluYXJ5VmFsdWU=", True),
    ("BinaryEquals", ["QmluYXJ5VmFsdWU="], "qmluyxj5vmfsdwu=", False),
    ("IpAddress", ["203.0.113.0/24", "2001:db8::/32"], "203.0.113.9", True),
    ("IpAddress", ["203.0.113.0/24"], "203.0.114.1", False),
    ("IpAddress", ["2001:db8::/32"], "2001:db8::1", True),
    ("IpAddress", ["203.0.113.0/24"], "2001:db8::1", False),
    ("IpAddress", ["203.0.113.7"], "203.0.113.7", True),
    ("NotIpAddress", ["203.0.113.0/24"], "198.51.100.1", True),
    ("NotIpAddress", ["203.0.113.0/24"], "203.0.113.1", False),
    ("ArnLike", ["arn:aws:iam::*:role/Defender*"], "arn:aws:iam::111122223333:role/DefenderX", True),
    ("ArnLike", ["arn:aws:iam::*:role/Defender*"], "arn:aws:iam::111122223333:role/Other", False),
    ("ArnLike", ["arn:aws:s3:::*"], "arn:aws:s3:::bucket/key:with:colons", True),
    ("ArnLike", ["arn:aws:*:*:*:*"], "arn:aws:iam::1:role/x", True),
    ("ArnLike", ["arn:aws:iam::1:*"], "arn:aws:iam:us-east-1:1:role/x", False),  # '*' stays in its component
    ("ArnEquals", ["arn:aws:sns:*:123456789012:topic"], "arn:aws:sns:eu-west-1:123456789012:topic", True),
    ("ArnLike", ["*"], "anything", True),
    ("ArnNotLike", ["arn:aws:iam::1:role/a*"], "arn:aws:iam::1:role/ab", False),
    ("ArnNotLike", ["arn:aws:iam::1:role/a*"], "arn:aws:iam::1:role/b", True),
    ("ArnNotEquals", ["arn:aws:iam::1:role/a"], None, True),
])
def test_condition_operators(operator, values, request_value, expected):
    request = RequestContext(action="s3:GetObject", keys={"k:x": request_value})
    decision = evaluate([_one_condition(operator, "k:x", values)], request)
    assert decision.allowed is expected
    assert not decision.uncertain


def test_multiple_keys_in_one_operator_and_operators_are_anded():
    doc = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {
        "StringEquals": {"k:a": "1", "k:b": "2"}, "Bool": {"k:c": "true"}}})

    def allowed(**keys):
        return evaluate([doc], RequestContext(action="s3:GetObject", keys=keys)).allowed

    assert allowed(**{"k:a": "1", "k:b": "2", "k:c": "true"})
    assert not allowed(**{"k:a": "1", "k:b": "3", "k:c": "true"})
    assert not allowed(**{"k:a": "1", "k:b": "2", "k:c": "false"})


def test_request_value_as_list_on_plain_operator_matches_any_value():
    request = RequestContext(action="s3:GetObject", keys={"k:x": ["z", "b"]})
    assert evaluate([_one_condition("StringEquals", "k:x", ["a", "b"])], request).allowed
    assert not evaluate([_one_condition("StringNotEquals", "k:x", ["a", "b"])], request).allowed


# --- NotAction, NotResource, NotPrincipal, principals ---------------------------------------------

def test_not_action_allow():
    doc = policy({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"})
    assert evaluate([doc], RequestContext(action="s3:GetObject")).allowed
    assert not evaluate([doc], RequestContext(action="IAM:PassRole")).allowed
    assert not evaluate([doc], RequestContext(action="organizations:ListAccounts")).allowed


def test_not_action_deny_in_a_trust_policy():
    doc = trust({"Effect": "Allow", "Principal": {"Federated": GH_PROVIDER}, "Action": "sts:*"},
                {"Effect": "Deny", "Principal": "*", "NotAction": [WEB_IDENTITY, "sts:TagSession"]})
    assert evaluate([doc], web_identity(GH_PROVIDER)).allowed
    denied = evaluate([doc], RequestContext(principal=("Federated", GH_PROVIDER), action="sts:AssumeRole"))
    assert denied.effect is Effect.EXPLICIT_DENY and denied.deciding[0].index == 1


def test_resource_and_not_resource():
    doc = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::azuredefender-*"},
                 {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::azuredefender-*",
                                                                      "arn:aws:s3:::ms-defender-*"]})
    assert evaluate([doc], RequestContext(action="s3:PutObject", resource="arn:aws:s3:::azuredefender-x/k")).allowed
    other = evaluate([doc], RequestContext(action="s3:PutObject", resource="arn:aws:s3:::payroll/k"))
    assert other.effect is Effect.EXPLICIT_DENY
    # Resources are case-sensitive
    assert not evaluate([doc], RequestContext(action="s3:PutObject",
                                              resource="arn:aws:s3:::AzureDefender-x/k")).allowed


def test_not_principal_deny():
    doc = trust({"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"},
                {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/Admin"},
                 "Action": "sts:AssumeRole"})
    admin = RequestContext(principal=("AWS", "arn:aws:sts::111122223333:assumed-role/Admin/alice"),
                           action="sts:AssumeRole")
    other = RequestContext(principal=("AWS", "arn:aws:sts::111122223333:assumed-role/Dev/bob"),
                           action="sts:AssumeRole")
    assert evaluate([doc], admin).allowed
    assert evaluate([doc], other).effect is Effect.EXPLICIT_DENY


@pytest.mark.parametrize("principal,request_principal,allowed", [
    ("*", ("Federated", GH_PROVIDER), True),
    ({"AWS": "*"}, ("Federated", GH_PROVIDER), True),
    ({"AWS": "*"}, ("Service", "ec2.amazonaws.com"), True),
    ({"AWS": "111122223333"}, ("AWS", "arn:aws:iam::111122223333:user/alice"), True),
    ({"AWS": "111122223333"}, ("AWS", "arn:aws:iam::111122223333:root"), True),
    ({"AWS": "arn:aws:iam::111122223333:root"}, ("AWS", "111122223333"), True),
    ({"AWS": "arn:aws:iam::111122223333:root"}, ("AWS", "arn:aws:sts::111122223333:assumed-role/R/s"), True),
    ({"AWS": "arn:aws:iam::111122223333:root"}, ("AWS", "arn:aws:iam::444455556666:root"), False),
    ({"AWS": "arn:aws:iam::111122223333:role/ops/R"}, ("AWS", "arn:aws:iam::111122223333:role/ops/R"), True),
    ({"AWS": "arn:aws:iam::111122223333:role/ops/R"}, ("AWS", "arn:aws:sts::111122223333:assumed-role/R/s"), True),
    ({"AWS": "arn:aws:iam::111122223333:role/R"}, ("AWS", "arn:aws:iam::111122223333:role/Q"), False),
    ({"AWS": "arn:aws:iam::111122223333:role/R"}, ("AWS", "arn:aws:sts::444455556666:assumed-role/R/s"), False),
    ({"Service": "EC2.amazonaws.com"}, ("Service", "ec2.amazonaws.com"), True),
    ({"Service": "ec2.amazonaws.com"}, ("AWS", "ec2.amazonaws.com"), False),
    ({"Federated": GH_PROVIDER}, ("Federated", GH_PROVIDER), True),
    ({"Federated": GH_PROVIDER}, ("Federated", GH_PROVIDER + "x"), False),
    ({"Federated": "cognito-identity.amazonaws.com"}, ("Federated", "cognito-identity.amazonaws.com"), True),
    ({"Federated": GH_PROVIDER}, ("AWS", GH_PROVIDER), False),
    ({"CanonicalUser": "79a59df9"}, ("CanonicalUser", "79a59df9"), True),
])
def test_principal_matching(principal, request_principal, allowed):
    doc = trust({"Effect": "Allow", "Principal": principal, "Action": "sts:*"})
    request = RequestContext(principal=request_principal, action="sts:AssumeRole")
    assert evaluate([doc], request).allowed is allowed


def test_identity_policies_ignore_the_principal_when_the_request_has_none():
    doc = trust({"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "s3:*"})
    assert evaluate([doc], RequestContext(action="s3:GetObject")).allowed


# --- boundary -------------------------------------------------------------------------------------

IDENTITY = policy({"Effect": "Allow", "Action": ["s3:*", "iam:*", "ec2:Describe*"], "Resource": "*"},
                  source="identity")
BOUNDARY = policy({"Effect": "Allow", "Action": ["s3:*", "kms:*", "ec2:*"], "Resource": "*"},
                  {"Effect": "Deny", "Action": "ec2:DescribeSnapshots", "Resource": "*"}, source="boundary")


@pytest.mark.parametrize("action,effect,blocked_by", [
    ("s3:GetObject", Effect.ALLOW, ()),
    ("iam:PassRole", Effect.IMPLICIT_DENY, ("boundary",)),
    ("kms:Decrypt", Effect.IMPLICIT_DENY, ("identity",)),
    ("sqs:SendMessage", Effect.IMPLICIT_DENY, ("identity", "boundary")),
    ("ec2:DescribeSnapshots", Effect.EXPLICIT_DENY, ("boundary",)),
    ("ec2:DescribeInstances", Effect.ALLOW, ()),
])
def test_boundary_is_an_intersection(action, effect, blocked_by):
    decision = evaluate_with_boundary([IDENTITY], [BOUNDARY], RequestContext(action=action))
    assert (decision.effect, decision.blocked_by) == (effect, blocked_by)
    assert decision.identity is not None and decision.boundary is not None
    if effect is Effect.EXPLICIT_DENY:
        assert [(r.source, r.index) for r in decision.deciding] == [("boundary", 1)]


def test_no_boundary_means_identity_only():
    for boundary in (None, []):
        decision = evaluate_with_boundary([IDENTITY], boundary, RequestContext(action="iam:PassRole"))
        assert decision.allowed and decision.boundary is None


def test_actions_allowed_with_boundary():
    result = actions_allowed([IDENTITY], ["s3:GetObject", "iam:PassRole", "s3:GetObject", "ec2:DescribeSnapshots"],
                             boundary=[BOUNDARY])
    assert {a: d.effect for a, d in result.items()} == {
        "s3:GetObject": Effect.ALLOW, "iam:PassRole": Effect.IMPLICIT_DENY,
        "ec2:DescribeSnapshots": Effect.EXPLICIT_DENY}
    assert result["iam:PassRole"].blocked_by == ("boundary",)


# --- uncertainty ------------------------------------------------------------------------------------

SOURCE_IP = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})


def test_unknown_key_in_allow_resolves_towards_the_assumption():
    request = RequestContext(action="s3:GetObject", keys={"aws:SourceIp": UNKNOWN})
    could = evaluate([SOURCE_IP], request, assume="allow")
    surely = evaluate([SOURCE_IP], request, assume="deny")
    assert (could.effect, could.uncertain) == (Effect.ALLOW, True)
    assert (surely.effect, surely.uncertain) == (Effect.IMPLICIT_DENY, True)
    assert [(u.operator, u.key) for u in surely.undecided] == [("IpAddress", "aws:SourceIp")]


def test_unknown_key_in_deny_resolves_towards_the_assumption():
    doc = policy({"Effect": "Allow", "Action": "*", "Resource": "*"},
                 {"Effect": "Deny", "Action": "*", "Resource": "*",
                  "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    request = RequestContext(action="s3:GetObject", keys={"AWS:SOURCEIP": UNKNOWN})
    assert evaluate([doc], request, assume="allow").effect is Effect.ALLOW
    surely = evaluate([doc], request, assume="deny")
    assert (surely.effect, surely.uncertain) == (Effect.EXPLICIT_DENY, True)
    assert evaluate([doc], RequestContext(action="s3:GetObject", keys={"aws:SourceIp": "10.1.1.1"})).allowed
    known = evaluate([doc], RequestContext(action="s3:GetObject", keys={"aws:SourceIp": "8.8.8.8"}), assume="allow")
    assert (known.effect, known.uncertain) == (Effect.EXPLICIT_DENY, False)


def test_uncertainty_that_does_not_change_the_verdict_is_not_reported():
    doc = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                 {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                  "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    decision = evaluate([doc], RequestContext(action="s3:GetObject", keys={"aws:SourceIp": UNKNOWN}))
    assert (decision.effect, decision.uncertain, decision.undecided) == (Effect.ALLOW, False, ())


def test_unknown_operator_and_bad_values_are_undecidable():
    doc = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                  "Condition": {"StringEqualsSometimes": {"k:x": "a"}}})
    request = RequestContext(action="s3:GetObject", keys={"k:x": "a"})
    assert evaluate([doc], request, assume="allow").allowed
    surely = evaluate([doc], request, assume="deny")
    assert not surely.allowed and surely.uncertain
    assert "unknown condition operator" in surely.undecided[0].reason
    numeric = _one_condition("NumericLessThan", "k:n", ["10"])
    unreadable = evaluate([numeric], RequestContext(action="s3:GetObject", keys={"k:n": "ten"}), assume="allow")
    assert unreadable.allowed and unreadable.uncertain


def test_unreadable_principal_is_undecidable():
    doc = trust({"Effect": "Allow", "Principal": 5, "Action": "sts:AssumeRole"})
    request = RequestContext(principal=("AWS", "111122223333"), action="sts:AssumeRole")
    assert evaluate([doc], request, assume="allow").allowed
    assert not evaluate([doc], request, assume="deny").allowed


def test_bad_assume_is_a_programming_error():
    with pytest.raises(ValueError):
        evaluate([SOURCE_IP], RequestContext(action="s3:GetObject"), assume="maybe")


def test_invalid_statements_take_no_part():
    doc = policy({"Effect": "allow", "Action": "*", "Resource": "*"},
                 {"Action": "*", "Resource": "*"},
                 {"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "x", "Resource": "*"})
    assert len(doc.invalid_statements) == 3
    assert evaluate([doc], RequestContext(action="s3:GetObject")).effect is Effect.IMPLICIT_DENY


def test_documents_that_are_not_policies_grant_nothing():
    for junk in (parse_policy("junk"), parse_policy(None), parse_policy({})):
        assert evaluate([junk], RequestContext(action="s3:GetObject")).effect is Effect.IMPLICIT_DENY


# --- wildcard requests ------------------------------------------------------------------------------

@pytest.mark.parametrize("allow,deny,action,resource,effect", [
    (["*"], [], "*", "*", Effect.ALLOW),
    (["s3:*", "iam:*"], [], "*", "*", Effect.IMPLICIT_DENY),
    (["s3:*"], [], "s3:Get*", "*", Effect.ALLOW),
    (["s3:G*"], [], "s3:Get*", "*", Effect.ALLOW),
    (["s3:GetObject"], [], "s3:Get*", "*", Effect.IMPLICIT_DENY),
    (["s3:?etObject"], [], "s3:GetObject", "*", Effect.ALLOW),
    (["*"], ["s3:GetObject"], "s3:Get*", "*", Effect.EXPLICIT_DENY),
    (["*"], ["iam:*"], "s3:*", "*", Effect.ALLOW),
    (["*"], ["*:Delete*"], "s3:*", "*", Effect.EXPLICIT_DENY),
    (["iam:*"], [], "IAM:*", "*", Effect.ALLOW),
])
def test_wildcard_request_actions(allow, deny, action, resource, effect):
    statements = [{"Effect": "Allow", "Action": allow, "Resource": "*"}]
    if deny:
        statements.append({"Effect": "Deny", "Action": deny, "Resource": "*"})
    assert evaluate([policy(*statements)], RequestContext(action=action, resource=resource)).effect is effect


@pytest.mark.parametrize("allowed_resource,resource,allowed", [
    ("*", "*", True),
    ("arn:aws:s3:::b/*", "*", False),
    ("arn:aws:s3:::*", "arn:aws:s3:::b/*", True),
    ("arn:aws:s3:::b/*", "arn:aws:s3:::b/k", True),
    ("arn:aws:s3:::b/?", "arn:aws:s3:::b/k", True),
    ("arn:aws:s3:::b/?", "arn:aws:s3:::b/kk", False),
])
def test_resource_globs(allowed_resource, resource, allowed):
    doc = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": allowed_resource})
    assert evaluate([doc], RequestContext(action="s3:GetObject", resource=resource)).allowed is allowed


@pytest.mark.parametrize("p,q,covers,overlaps", [
    ("*", "anything*", True, True),
    ("s3:*", "s3:Get*", True, True),
    ("s3:Get*", "s3:*", False, True),
    ("s3:Get?bject", "s3:Get*", False, True),
    ("a*b", "a*c", False, False),
    ("a?c", "abc", True, True),
    ("a*", "*b", False, True),
    ("*a", "*b", False, False),
    ("", "", True, True),
    ("", "*", False, True),
])
def test_glob_algebra(p, q, covers, overlaps):
    assert _glob_covers(p, q) is covers
    assert _glob_overlaps(p, q) is overlaps


# --- performance shape ------------------------------------------------------------------------------

def test_compiled_patterns_are_shared_between_separately_parsed_copies():
    statement = {"Effect": "Allow", "Action": [f"svc{i}:Describe*" for i in range(500)], "Resource": "*"}
    first, second = policy(statement), policy(dict(statement))
    request = RequestContext(action="svc7:DescribeThings")
    assert evaluate([first], request).allowed and evaluate([second], request).allowed
    assert (first.statements[0]._compiled["matchers"].actions
            is second.statements[0]._compiled["matchers"].actions)
    assert _pattern_set(tuple(statement["Action"]), True, True).prefixes["svc7"] == ("describe",)


def test_actions_allowed_many_actions_against_a_large_policy():
    actions = [f"svc{i}:{verb}*" for i in range(400) for verb in ("Describe", "Get", "List")]
    read_only = policy({"Effect": "Allow", "Action": actions, "Resource": "*"}, source="ReadOnlyAccess")
    deny = policy({"Effect": "Deny", "Action": ["svc3:*", "billing:*"], "Resource": "*"}, source="deny")
    asked = [f"svc{i}:{verb}Thing" for i in range(400) for verb in ("Describe", "Put")]
    result = actions_allowed([read_only, deny], asked)
    assert len(result) == 800
    assert result["svc10:DescribeThing"].allowed
    assert result["svc10:PutThing"].effect is Effect.IMPLICIT_DENY
    assert result["svc3:DescribeThing"].effect is Effect.EXPLICIT_DENY
    assert sum(d.allowed for d in result.values()) == 399


@pytest.mark.parametrize("statements,action,resource,all_effect,any_effect", [
    # a Deny on one role: not every role can be passed, but some can (PERMS_PRIVILEGE_ESCALATION asks "any")
    ([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
      {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/Admin"}],
     "iam:PassRole", "*", Effect.EXPLICIT_DENY, Effect.ALLOW),
    # an Allow on some roles only: "some" yes, "every" no
    ([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/app-*"}],
     "iam:PassRole", "*", Effect.IMPLICIT_DENY, Effect.ALLOW),
    ([{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}], "iam:*", "*", Effect.IMPLICIT_DENY, Effect.ALLOW),
    ([{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}],
     "iam:*", "*", Effect.EXPLICIT_DENY, Effect.EXPLICIT_DENY),
    ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "*", "*", Effect.IMPLICIT_DENY, Effect.ALLOW),
    ([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}], "s3:GetObject", "arn:aws:s3:::b/k",
     Effect.ALLOW, Effect.ALLOW),
])
def test_wildcard_request_all_versus_any(statements, action, resource, all_effect, any_effect):
    doc = policy(*statements)
    assert evaluate([doc], RequestContext(action=action, resource=resource)).effect is all_effect
    assert evaluate([doc], RequestContext(action=action, resource=resource, wildcards="any")).effect is any_effect
    assert actions_allowed([doc], [action], resource, wildcards="any")[action].effect is any_effect
