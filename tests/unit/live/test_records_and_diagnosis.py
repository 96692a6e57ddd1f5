"""CloudTrail records rebuilt into calls, and each STS stage diagnosed with its cause and fix."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from connector_health.live.diagnosis import AccountView, ExpectedCaller, diagnose
from connector_health.live.events import TOKEN_LIKE, display, iter_records, parse_record
from connector_health.live.refusal import explain_trust, web_identity_context
from connector_health.policy import parse_policy
from connector_health.sandbox.cloudtrail import web_identity_record

from .conftest import ACCOUNT, CSPM_ARN, CSPM_AUD, ISSUER, ISSUER_KEY, PROVIDER_ARN, SESSION, defender_snapshot
from .corpus import EKS_IRSA_ACCESS_DENIED, EKS_IRSA_POLICY, IAM_GUIDE_2016_GOOGLE, IAM_GUIDE_2024_SUCCESS


def _record(**kwargs):
    base = dict(role_arn=CSPM_ARN, session_name=SESSION, claims={"iss": ISSUER, "aud": CSPM_AUD, "sub": "app-1"},
                provider_arn=PROVIDER_ARN, region="us-east-1")
    return web_identity_record(**(base | kwargs))


# ------------------------------------------------------------------ records written by AWS

def test_the_iam_guide_success_record_is_read_without_its_credentials():
    call = parse_record(IAM_GUIDE_2024_SUCCESS)
    assert call.ok and call.region == "us-east-2"
    assert call.provider_arn == "arn:aws:iam::444455556666:oidc-provider/<issuer url of OIDC provider>"
    assert call.provider_key == "<issuer url of oidc provider>"  # IAM's name: the host part lower-cased
    assert (call.audience, call.subject) == ("<id of application>", "<id of user>")
    assert call.role_arn == "arn:aws:iam::444455556666:role/FederatedWebIdentityRole"
    assert call.session_name == "<assigned role session name>" and call.verification == "IAMTrustStore"
    assert call.source_identity == "MyWebIdentityUser" and ("CostCenter", "24680") in call.principal_tags
    # The issued credentials are in the record; nothing of them is in the call.
    assert "<encoded session token blob>" not in repr(call) and "ASIAIOSFODNN7EXAMPLE" not in repr(call)


def test_a_real_refusal_record_splits_a_principal_id_full_of_colons():
    call = parse_record(EKS_IRSA_ACCESS_DENIED)
    assert not call.ok and call.error_code == "AccessDenied" and call.error_message == "An unknown error occurred"
    assert call.provider_key == "oidc.eks.us-west-2.amazonaws.com/id/A8242F25BFBB8F98F5321B2AE63C8B5C"
    assert call.audience == "sts.amazonaws.com"
    assert call.subject == "system:serviceaccount:argo:awf-aws-executor-plugin"
    assert call.session_name == "1699456147945229070"


def test_a_built_in_provider_named_by_host():
    call = parse_record(IAM_GUIDE_2016_GOOGLE)
    assert call.provider_key == "accounts.google.com" and call.provider_arn is None
    assert call.audience == "<id of application>.apps.googleusercontent.com"


def test_audiences_with_colons_are_cut_out_of_the_principal_id():
    record = _record(claims={"iss": ISSUER, "aud": "api://AzureSecurityCenter.MultiCloud.DefenderForServers",
                             "sub": "repo:org/repo:ref:refs/heads/main"}, error=("AccessDenied", "x"))
    call = parse_record(record)
    assert call.audience == "api://AzureSecurityCenter.MultiCloud.DefenderForServers"
    assert call.subject == "repo:org/repo:ref:refs/heads/main"


def test_other_events_and_odd_shapes_are_not_calls():
    assert parse_record({"eventName": "AssumeRole"}) is None
    assert parse_record(["not", "a", "record"]) is None
    odd = {"eventName": "AssumeRoleWithWebIdentity", "userIdentity": "x", "requestParameters": [1],
           "responseElements": 5, "eventTime": 12}
    call = parse_record(odd)
    assert call is not None and call.role_arn == "" and call.time is None and call.provider_key is None


def test_records_come_from_every_container_people_have():
    one = IAM_GUIDE_2024_SUCCESS
    lookup = {"Events": [{"EventId": "1", "CloudTrailEvent": json.dumps(one)}, {"CloudTrailEvent": "not json"}]}
    log_file = {"Records": [one, EKS_IRSA_ACCESS_DENIED, {"eventName": "ListRoles"}]}
    assert len(list(iter_records(one))) == 1
    assert len(list(iter_records(lookup))) == 1
    assert [r.get("eventID") for r in iter_records(log_file)][:2] == [one["eventID"], EKS_IRSA_ACCESS_DENIED["eventID"]]
    assert len(list(iter_records([lookup, log_file]))) == 4


def test_token_like_values_are_never_shown():
    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert display(f"session-{jwt_like}") == f"session-{TOKEN_LIKE}"
    assert display("a\nb") == "a\\nb" and len(display("x" * 5000)) == 200


# ------------------------------------------------------------------ the stage STS stopped at

@pytest.mark.parametrize(("error", "stage", "cause"), [
    (("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {ISSUER}"), "provider",
     "provider-missing"),
    (("InvalidIdentityToken", "Incorrect token audience"), "audience", "audience-rejected"),
    (("InvalidIdentityToken", "Missing a required claim: aud"), "audience", "audience-missing"),
    (("InvalidIdentityToken", "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"),
     "keys", "thumbprint-rejected"),
    (("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider,  please reference "
                              "AssumeRoleWithWebIdentity documentation for requirements"), "keys", "keys-unreachable"),
    (("IDPCommunicationError", "could not be reached"), "keys", "keys-unreachable"),
    (("InvalidIdentityToken", "The web identity token that was passed could not be validated"), "signature",
     "token-invalid"),
    (("ExpiredTokenException", "Token expired: current date/time 1624482533 must be before the expiration "
                               "date/time1624482335"), "expiry", "token-expired"),
    (("RegionDisabledException", "STS is not activated in this region"), "region", "region-disabled"),
    (("ValidationError", "1 validation error detected"), "request", "request-invalid"),
    (("Throttling", "Rate exceeded"), "unknown", "sts-Throttling"),
])
def test_each_error_names_its_stage(snapshot, error, stage, cause):
    diagnosis = diagnose(parse_record(_record(error=error)), AccountView.of_snapshot(snapshot))
    assert (diagnosis.stage, diagnosis.cause) == (stage, cause)
    assert diagnosis.summary and diagnosis.fix


def test_provider_missing_says_whether_it_exists_now():
    call = parse_record(_record(provider_arn=None, error=("InvalidIdentityToken",
                                                          f"No OpenIDConnect provider found in your account for {ISSUER}")))
    assert call.provider_key == ISSUER_KEY  # the sandbox names a missing provider by its issuer
    gone = diagnose(call, AccountView.of_snapshot(defender_snapshot(provider=False)))
    back = diagnose(call, AccountView.of_snapshot(defender_snapshot()))
    assert "There is still none" in gone.summary and "exists now" in back.summary
    assert gone.resource_arn == PROVIDER_ARN


def test_an_audience_refusal_names_the_audience_and_the_fix(snapshot):
    call = parse_record(_record(claims={"iss": ISSUER, "aud": "api://other", "sub": "x"},
                                error=("InvalidIdentityToken", "Incorrect token audience")))
    diagnosis = diagnose(call, AccountView.of_snapshot(snapshot))
    assert "'api://other'" in diagnosis.summary and "add-client-id-to-open-id-connect-provider" in diagnosis.fix


def test_access_denied_names_the_session_name_condition_march_2025(snapshot):
    """Sentinel's connectors in March 2025: the service changed its session name, the policies kept the old one."""
    old = copy.deepcopy(json.loads(snapshot.roles["CspmMonitorAws"].trust_policy_text))
    old["Statement"][0]["Condition"]["StringLike"]["sts:RoleSessionName"] = "MicrosoftSentinel_*"
    snap = defender_snapshot({"CspmMonitorAws": old})
    call = parse_record(_record(error=("AccessDenied", "x")))
    diagnosis = diagnose(call, AccountView.of_snapshot(snap), ExpectedCaller(frozenset({CSPM_AUD}), SESSION))
    assert diagnosis.stage == "trust" and diagnosis.cause == "trust-condition:statement 0:StringLike:sts:rolesessionname"
    assert diagnosis.trust.first.key == "sts:RoleSessionName" and diagnosis.trust.first.wanted == ("MicrosoftSentinel_*",)
    assert f"gives {SESSION}" in diagnosis.summary
    assert "the trust policy is what changed" in diagnosis.fix  # the caller is the one the connector expects


def test_a_changed_caller_is_told_from_a_changed_policy(snapshot):
    call = parse_record(_record(session_name="MicrosoftDefender_0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
                                error=("AccessDenied", "x")))
    diagnosis = diagnose(call, AccountView.of_snapshot(snapshot), ExpectedCaller(frozenset({CSPM_AUD}), SESSION))
    assert "The caller sends 'MicrosoftDefender_" in diagnosis.fix and "not the connector's caller" in diagnosis.fix


def test_the_real_eks_refusal_against_its_documented_policy():
    """The EKS record above, evaluated against the policy the same notes say the role should have: it admits the
    recorded caller, so the role's policy then was different (TRUST_DRIFT would show it), and the diagnosis says so
    instead of inventing a condition."""
    call = parse_record(EKS_IRSA_ACCESS_DENIED)
    policy = parse_policy(json.dumps(EKS_IRSA_POLICY), require_principal=True)
    view = AccountView(providers=None, trust_of=lambda arn: policy, account="100000000002")
    diagnosis = diagnose(call, view)
    assert diagnosis.cause == "trust-admitted" and "changed since the call" in diagnosis.fix
    # With the namespace the policy pins changed, the :sub condition is named.
    narrowed = copy.deepcopy(EKS_IRSA_POLICY)
    key = "oidc.eks.us-west-2.amazonaws.com/id/A8242F25BFBB8F98F5321B2AE63C8B5C:sub"
    narrowed["Statement"][0]["Condition"]["StringEquals"][key] = "system:serviceaccount:default:awf-aws-executor-plugin"
    policy = parse_policy(json.dumps(narrowed), require_principal=True)
    diagnosis = diagnose(call, AccountView(providers=None, trust_of=lambda arn: policy))
    assert diagnosis.trust.first.key == key and "system:serviceaccount:argo:awf-aws-executor-plugin" in diagnosis.summary


def test_a_condition_on_a_claim_cloudtrail_does_not_record_is_undecided():
    """GitHub's :repository is in the token, not in the record: never guessed either way."""
    key = "token.actions.githubusercontent.com"
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{key}"
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{key}:aud": "sts.amazonaws.com", f"{key}:repository": "acme/infra"}}}]}),
        require_principal=True)
    call = parse_record(web_identity_record(
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/deploy", session_name="GitHubActions",
        claims={"iss": f"https://{key}", "aud": "sts.amazonaws.com", "sub": "repo:acme/infra:ref:refs/heads/main"},
        provider_arn=arn, region="us-east-1", error=("AccessDenied", "x")))
    diagnosis = diagnose(call, AccountView(providers=None, trust_of=lambda a: policy))
    assert diagnosis.cause == "trust-undecided" and diagnosis.trust.undecided_keys == [f"{key}:repository"]


def test_explicit_deny_and_foreign_provider(snapshot):
    doc = json.loads(snapshot.roles["CspmMonitorAws"].trust_policy_text)
    doc["Statement"].append({"Sid": "NoSentinel", "Effect": "Deny", "Principal": "*",
                             "Action": "sts:AssumeRoleWithWebIdentity",
                             "Condition": {"StringLike": {"sts:RoleSessionName": "MicrosoftDefenderForClouds_*"}}})
    denied = diagnose(parse_record(_record(error=("AccessDenied", "x"))),
                      AccountView.of_snapshot(defender_snapshot({"CspmMonitorAws": doc})))
    assert denied.cause == "trust-explicit-deny:NoSentinel" and "NoSentinel" in denied.summary
    other = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    call = parse_record(_record(provider_arn=other, error=("AccessDenied", "x")))
    foreign = diagnose(call, AccountView.of_snapshot(snapshot))
    assert foreign.cause == "trust-no-statement" and PROVIDER_ARN in foreign.summary


def test_a_missing_role_is_its_own_cause(snapshot):
    call = parse_record(_record(role_arn=f"arn:aws:iam::{ACCOUNT}:role/Deleted", error=("AccessDenied", "x")))
    assert diagnose(call, AccountView.of_snapshot(snapshot)).cause == "role-missing"


def test_recorded_context_keys_take_part(snapshot):
    """aws:SourceIp, the time and session tags come from the record: conditions on them are decided."""
    doc = json.loads(snapshot.roles["CspmMonitorAws"].trust_policy_text)
    doc["Statement"][0]["Condition"]["IpAddress"] = {"aws:SourceIp": "20.0.0.0/8"}
    policy = parse_policy(json.dumps(doc), require_principal=True)
    call = parse_record(_record(source_ip="192.0.2.10", error=("AccessDenied", "x"),
                                when=dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)))
    request = web_identity_context(policy, provider_arn=PROVIDER_ARN, issuer_key=ISSUER_KEY, claims=call.claims(),
                                   session_name=call.session_name, role_arn=CSPM_ARN,
                                   known={"aws:SourceIp": call.source_ip}, unknowable=lambda k: True)
    explanation = explain_trust(policy, request)
    assert explanation.verdict == "refused" and explanation.first.key == "aws:SourceIp"
