"""Property-based fuzzing of what the live-exchange phase reads from the account: CloudTrail records (any shape a
writer of roles, tokens or session names could push into them) never make parsing, diagnosis, grouping or `explain`
raise, and never let a JWT-looking value through to what is shown."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_health.collect.aws import AccountSnapshot, OidcProvider, Role
from connector_health.live.activity import ConnectorActivity, Diagnoser
from connector_health.live.diagnosis import AccountView, ExpectedCaller
from connector_health.live.events import TOKEN_LIKE, iter_records, parse_record
from connector_health.live.explain import PolicySource, explain_event
from connector_health.policy import parse_policy

FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
KEY = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{KEY}"
ROLE = "arn:aws:iam::123456789012:role/CspmMonitorAws"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringLike": {f"{KEY}:aud": "api://4d8bed1f-*", "sts:RoleSessionName": "MicrosoftDefenderForClouds_*"},
                  "IpAddress": {"aws:SourceIp": "20.0.0.0/8"}}}]}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=True),
                    st.text(max_size=30), st.just(JWT), st.just(PROVIDER), st.just(ROLE))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=3)),
                      max_leaves=10)
codes = st.one_of(st.none(), st.sampled_from(["AccessDenied", "InvalidIdentityToken", "ExpiredTokenException",
                                              "IDPCommunicationError", "RegionDisabledException", "ValidationError"]),
                  values)
records = st.fixed_dictionaries({
    "eventName": st.just("AssumeRoleWithWebIdentity"),
    "userIdentity": st.one_of(values, st.fixed_dictionaries({
        "type": st.just("WebIdentityUser"), "principalId": st.one_of(values, st.just(f"{PROVIDER}:a:{JWT}")),
        "userName": st.one_of(values, st.just(JWT)), "identityProvider": st.one_of(values, st.just(PROVIDER))})),
    "requestParameters": st.one_of(values, st.fixed_dictionaries({
        "roleArn": st.one_of(values, st.just(ROLE)), "roleSessionName": st.one_of(values, st.just(JWT)),
        "principalTags": values})),
    "responseElements": values,
    "errorCode": codes,
    "errorMessage": values,
    "eventTime": st.one_of(values, st.just("2026-03-01T12:00:00Z")),
    "sourceIPAddress": values,
    "userAgent": values,
    "awsRegion": values,
})


def _view() -> AccountView:
    snapshot = AccountSnapshot(account_id="123456789012", roles_complete=True, providers_complete=True)
    snapshot.providers.append(OidcProvider(PROVIDER, "https://" + KEY, ["api://4d8bed1f-x"], []))
    snapshot.roles["CspmMonitorAws"] = Role("CspmMonitorAws", ROLE, "/", POLICY, json.dumps(POLICY))
    return AccountView.of_snapshot(snapshot)


@FUZZ
@given(records)
def test_any_record_is_parsed_diagnosed_and_grouped_without_raising(record):
    call = parse_record(record)
    assert call is not None
    activity = ConnectorActivity("defender")
    expected = ExpectedCaller(frozenset({"api://4d8bed1f-x"}), "MicrosoftDefenderForClouds_x")
    if call.ok:
        activity.add_success(call)
    else:
        diagnosis = Diagnoser(_view())(call, expected)
        activity.add_failure(call, diagnosis)
        shown = json.dumps([g.observed() for g in activity.groups.values()]) + diagnosis.summary + diagnosis.fix + \
            json.dumps(diagnosis.details)
        assert JWT not in shown
    policy = parse_policy(json.dumps(POLICY), require_principal=True)
    explanation = explain_event(call, PolicySource(document=policy, label="policy.json"), None, expected)
    assert explanation.verdict in ("admitted", "refused", "undecided")
    assert JWT not in json.dumps(explanation.as_dict(), default=str)


@FUZZ
@given(values)
def test_any_file_content_yields_records_or_nothing(data):
    for record in iter_records(data):
        assert isinstance(record, dict)
        parse_record(record)


def test_token_like_marker_is_what_replaces_a_jwt():
    call = parse_record({"eventName": "AssumeRoleWithWebIdentity", "requestParameters": {"roleSessionName": JWT}})
    assert call.caller()["session_name"] == TOKEN_LIKE
