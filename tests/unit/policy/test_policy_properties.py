"""Property-based tests: robustness on any input, and verdicts invariant under IAM-equivalent rewrites."""

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_health.policy import (
    UNKNOWN,
    Effect,
    RequestContext,
    actions_allowed,
    applicable_actions,
    evaluate,
    evaluate_with_boundary,
    find_duplicate_keys,
    parse_policy,
)

# database=None: no example database is written into the working tree.
SETTINGS = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"

# --- strategies -------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)

ACTIONS = ["sts:AssumeRoleWithWebIdentity", "sts:*", "*", "s3:Get*", "s3:GetObject", "iam:PassRole",
           "ec2:Describe*", "s3:?etObject", "*:Get*", "IAM:passrole"]
RESOURCES = ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/k", "arn:aws:iam::111122223333:role/*"]
PRINCIPALS = ["*", {"AWS": "*"}, {"Federated": PROVIDER}, {"AWS": ["111122223333", "arn:aws:iam::444455556666:root"]},
              {"Service": "ec2.amazonaws.com"}, {"AWS": "arn:aws:iam::111122223333:role/R"}]
OPERATORS = ["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
             "StringLike", "StringNotLike", "NumericLessThan", "NumericNotEquals", "DateGreaterThan",
             "DateNotEquals", "Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnLike", "ArnNotEquals",
             "Null", "StringLikeIfExists", "StringNotEqualsIfExists", "ForAllValues:StringEquals",
             "ForAnyValue:StringLike", "ForAllValues:StringNotLike", "ForAnyValue:StringNotEquals",
             "ForAnyValue:StringEqualsIfExists", "StringFooBar"]
KEYS = ["token.actions.githubusercontent.com:sub", "token.actions.githubusercontent.com:aud", "aws:SourceIp",
        "aws:CurrentTime", "sts:RoleSessionName", "aws:TagKeys", "k:n", "aws:SecureTransport"]
VALUES = ["sts.amazonaws.com", "repo:acme/*", "repo:acme/infra:ref:refs/heads/main", "10.0.0.0/8", "10.1.2.3",
          "2024-01-01T00:00:00Z", "1700000000", "5", "true", "false", "arn:aws:iam::111122223333:role/*",
          "*", "", "a?c", "abc", "Prod"]

condition_value = st.sampled_from(VALUES) | st.integers(-3, 10) | st.booleans()
condition_values = condition_value | st.lists(condition_value, min_size=1, max_size=3)
conditions = st.dictionaries(
    st.sampled_from(OPERATORS),
    st.dictionaries(st.sampled_from(KEYS), condition_values, min_size=1, max_size=3),
    max_size=3,
)
string_or_list = lambda pool: st.sampled_from(pool) | st.lists(st.sampled_from(pool), min_size=1, max_size=3)  # noqa: E731


@st.composite
def statements(draw, junk=False):
    statement = {"Effect": draw(st.sampled_from(["Allow", "Deny"] + (["allow", 5, None] if junk else [])))}
    statement["NotAction" if draw(st.integers(0, 4)) == 0 else "Action"] = draw(string_or_list(ACTIONS))
    if draw(st.booleans()):
        statement["NotResource" if draw(st.integers(0, 4)) == 0 else "Resource"] = draw(string_or_list(RESOURCES))
    if draw(st.booleans()):
        statement["NotPrincipal" if draw(st.integers(0, 5)) == 0 else "Principal"] = draw(st.sampled_from(PRINCIPALS))
    if draw(st.booleans()):
        statement["Condition"] = draw(conditions)
    if junk and draw(st.booleans()):
        statement[draw(st.sampled_from(["Action", "Principal", "Condition", "Resource", "Effect"]))] = draw(json_values)
    return statement


@st.composite
def documents(draw, junk=False):
    body = draw(st.lists(statements(junk=junk), min_size=1, max_size=4))
    return {"Version": "2012-10-17", "Statement": body if draw(st.booleans()) or len(body) > 1 else body[0]}


request_values = st.sampled_from(VALUES) | st.lists(st.sampled_from(VALUES), max_size=3) | st.just(UNKNOWN) | st.none()
requests = st.builds(
    lambda action, resource, principal, keys, wildcards: RequestContext(
        action=action, resource=resource, principal=principal, keys=keys, wildcards=wildcards),
    st.sampled_from(ACTIONS + ["sts:AssumeRole", "s3:PutObject"]),
    st.sampled_from(RESOURCES),
    st.sampled_from([None, ("Federated", PROVIDER), ("AWS", "arn:aws:sts::111122223333:assumed-role/R/s"),
                     ("AWS", "444455556666"), ("Service", "EC2.amazonaws.com")]),
    st.dictionaries(st.sampled_from(KEYS), request_values, max_size=4),
    st.sampled_from(["all", "any"]),
)


def verdicts(docs, request):
    return tuple((d.effect, d.uncertain) for d in (evaluate(docs, request, assume="allow"),
                                                   evaluate(docs, request, assume="deny")))


def assert_consistent(docs, request):
    could = evaluate(docs, request, assume="allow")
    surely = evaluate(docs, request, assume="deny")
    for decision in (could, surely):
        assert decision.allowed is (decision.effect is Effect.ALLOW)
        assert not any("internal error" in u.reason for u in decision.undecided)
    # "surely allowed" implies "could be allowed"; a certain verdict does not depend on the assumption
    assert not surely.allowed or could.allowed
    assert could.uncertain is surely.uncertain
    assert could.uncertain is (could.effect is not surely.effect)


# --- (a) never raises --------------------------------------------------------------------------------

@SETTINGS
@given(json_values, requests)
def test_parse_and_evaluate_never_raise_on_any_json(value, request):
    for candidate in (value, {"Statement": value}, {"Version": "2012-10-17", "Statement": [value]}):
        doc = parse_policy(candidate, require_principal=True)
        text_doc = parse_policy(json.dumps(candidate, allow_nan=True))
        for parsed in (doc, text_doc):
            assert_consistent([parsed], request)
        assert evaluate_with_boundary([doc], [text_doc], request).allowed in (True, False)
    assert isinstance(find_duplicate_keys(json.dumps(value)), list)


@SETTINGS
@given(st.text(max_size=40) | st.binary(max_size=40), requests)
def test_parse_never_raises_on_arbitrary_text(text, request):
    doc = parse_policy(text)
    assert doc.valid is False or isinstance(doc.statements, tuple)
    assert_consistent([doc], request)
    assert isinstance(find_duplicate_keys(text), list)


@SETTINGS
@given(documents(junk=True), requests)
def test_evaluate_never_raises_on_policy_shaped_junk(document, request):
    docs = [parse_policy(document), parse_policy(document, require_principal=True)]
    assert_consistent(docs, request)
    result = actions_allowed(docs, [request.action, "s3:GetObject"], boundary=[docs[0]], keys=request.keys)
    assert set(result) == {request.action, "s3:GetObject"}


# --- (b) one-element lists -------------------------------------------------------------------------

def _wrap_strings(document, flip):
    """Write string values as one-element lists where `flip()` says so (Action, Resource, principal
    values, condition values; also the Statement object itself). IAM reads both forms alike."""
    doc = copy.deepcopy(document)
    body = doc["Statement"]
    if isinstance(body, dict):
        body = [body] if flip() else body
        doc["Statement"] = body
    for statement in body if isinstance(body, list) else [body]:
        for element in ("Action", "NotAction", "Resource", "NotResource"):
            if isinstance(statement.get(element), str) and flip():
                statement[element] = [statement[element]]
        for element in ("Principal", "NotPrincipal"):
            if isinstance(statement.get(element), dict):
                statement[element] = {t: [v] if isinstance(v, str) and flip() else v
                                      for t, v in statement[element].items()}
        for block in statement.get("Condition", {}).values():
            for key, value in list(block.items()):
                if not isinstance(value, list) and flip():
                    block[key] = [value]
    return doc


@SETTINGS
@given(documents(), st.lists(requests, min_size=1, max_size=3), st.data())
def test_one_element_lists_do_not_change_the_verdict(document, request_list, data):
    rewritten = _wrap_strings(document, lambda: data.draw(st.booleans()))
    original, wrapped = parse_policy(document), parse_policy(rewritten)
    assert len(original.statements) == len(wrapped.statements)
    for request in request_list:
        assert verdicts([original], request) == verdicts([wrapped], request)


# --- (c) letter case of operators and keys -------------------------------------------------------

def _recase(text, rnd):
    return "".join(c.swapcase() if rnd.random() < 0.5 else c for c in text)


def _recase_conditions(document, rnd):
    rewritten = copy.deepcopy(document)
    body = rewritten["Statement"]
    for statement in body if isinstance(body, list) else [body]:
        if isinstance(statement.get("Condition"), dict):
            statement["Condition"] = {
                _recase(op, rnd): {_recase(k, rnd): v for k, v in block.items()}
                for op, block in statement["Condition"].items()
            }
    return rewritten


@SETTINGS
@given(documents(), st.lists(requests, min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_operator_and_key_case_do_not_change_the_verdict(document, request_list, rnd):
    original, recased = parse_policy(document), parse_policy(_recase_conditions(document, rnd))
    for request in request_list:
        assert verdicts([original], request) == verdicts([recased], request)


@SETTINGS
@given(conditions, st.lists(requests, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_condition_case_does_not_change_the_verdict_when_conditions_decide(condition, request_list, rnd):
    """Same property where only the Condition block can decide (Action and Resource match everything)."""
    document = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}]}
    original, recased = parse_policy(document), parse_policy(_recase_conditions(document, rnd))
    for request in request_list:
        keys = {_recase(k, rnd): v for k, v in request.keys.items()}
        recased_request = RequestContext(action=request.action, resource=request.resource, keys=keys,
                                         wildcards=request.wildcards)
        assert verdicts([original], request) == verdicts([recased], recased_request)




# --- (e) many literal actions at once --------------------------------------------------------------

BATCH_POOL = ["s3:GetObject", "S3:getobject", "s3:PutObject", "s3:GetBucketPolicy", "iam:PassRole", "IAM:passrole",
              "iam:CreatePolicyVersion", "ec2:DescribeInstances", "ec2:RunInstances", "sts:AssumeRoleWithWebIdentity",
              "sts:AssumeRole", "kms:Decrypt", "aws-portal:ViewBilling", "sqs:SendMessage"] + [
    f"svc{i}:Action{j}" for i in range(4) for j in range(20)]


@SETTINGS
@given(st.lists(documents(junk=True), min_size=1, max_size=3), st.none() | documents(),
       st.lists(st.sampled_from(BATCH_POOL), min_size=64, max_size=120), requests,
       st.sampled_from(["allow", "deny"]))
def test_a_batch_of_literal_actions_gets_the_verdicts_of_one_action_at_a_time(identity, boundary, batch, request,
                                                                             assume):
    """The batch path (each statement's Action element matched against the whole batch, then only the actions a
    statement names evaluated) gives exactly the verdicts of asking every action alone."""
    docs = [parse_policy(d) for d in identity]
    bounds = [parse_policy(boundary)] if boundary is not None else None
    together = actions_allowed(docs, batch, request.resource, bounds, keys=request.keys, assume=assume,
                               wildcards=request.wildcards)
    assert list(together) == list(dict.fromkeys(batch))
    named = applicable_actions(docs, batch, bounds)
    assert named == [a for a in together if a in named]  # the order given, once each
    for action in together:
        [alone] = actions_allowed(docs, [action], request.resource, bounds, keys=request.keys, assume=assume,
                                  wildcards=request.wildcards).values()
        assert together[action] == alone, action
        if action not in named:  # no statement names it: an empty policy set's verdict, whatever the question
            assert alone.effect is Effect.IMPLICIT_DENY and alone.deciding == () and not alone.uncertain, action
