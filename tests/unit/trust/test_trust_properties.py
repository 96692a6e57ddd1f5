"""The trust analysis never raises, whatever the document, and its verdict ignores list-vs-string spelling."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from connector_health.policy import parse_policy
from connector_health.trust.analysis import TrustTarget, analyze_trust
from connector_health.trust.profiles import PROFILES

MS = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
ARN = f"arn:aws:iam::123456789012:oidc-provider/{MS}"
TARGET = TrustTarget(issuer_key=MS, provider_arn=ARN, profile=PROFILES["defender-for-cloud"],
                     audiences=("api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479",))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from([f"{MS}:aud", "sts:RoleSessionName", f"{MS}:sub", "aws:SourceIp", "x"])
values = st.sampled_from(["api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", "api://*", "*",
                          "MicrosoftDefenderForClouds_0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b", "MicrosoftSentinel_*", "a?c"])
operators = st.sampled_from(["StringEquals", "StringLike", "StringNotLike", "ForAllValues:StringLike",
                             "StringEqualsIfExists", "Null", "Bogus"])
statements = st.fixed_dictionaries({
    "Effect": st.sampled_from(["Allow", "Deny", "allow"]),
    "Principal": st.sampled_from(["*", {"Federated": ARN}, {"AWS": "111122223333"}, {"Federated": [ARN]}]),
    "Action": st.sampled_from(["sts:AssumeRoleWithWebIdentity", "sts:*", ["sts:AssumeRoleWithWebIdentity"]]),
    "Condition": st.dictionaries(operators, st.dictionaries(keys, values | st.lists(values, max_size=2), max_size=2), max_size=2),
})


@settings(max_examples=200, database=None, deadline=None)
@given(json_values)
def test_never_raises_on_any_json(value):
    analyze_trust(parse_policy(value, require_principal=True), [TARGET])
    analyze_trust(parse_policy(json.dumps(value), require_principal=True), [TARGET])


def _listify(doc):
    out = json.loads(json.dumps(doc))
    for stmt in out["Statement"]:
        stmt["Action"] = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        for op in stmt["Condition"].values():
            for key, val in list(op.items()):
                op[key] = val if isinstance(val, list) else [val]
    return out


@settings(max_examples=150, database=None, deadline=None)
@given(st.lists(statements, min_size=1, max_size=3))
def test_verdict_ignores_one_element_lists(stmts):
    doc = {"Version": "2012-10-17", "Statement": stmts}
    ids = sorted(i.check_id for i in analyze_trust(parse_policy(doc, require_principal=True), [TARGET]))
    ids_list = sorted(i.check_id for i in analyze_trust(parse_policy(_listify(doc), require_principal=True), [TARGET]))
    assert ids == ids_list
