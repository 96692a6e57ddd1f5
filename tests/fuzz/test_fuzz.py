"""Property-based fuzzing (hypothesis): whatever the input, these entry points never raise.

- policy documents and conditions: `parse_policy`, `evaluate`, `actions_allowed`, the trust analysis, lint-trust
  (which may refuse its input only with LintInputError), also on templates whose policies are built from random
  intrinsics and on Terraform plans of random shape (every finding then carries a location);
- configs: `parse_config` raises only ConfigError;
- discovery and JWKS documents: the inspector's parsing (`IssuerInspector._inspect` over a stubbed fetch, no
  network) and the provider checks that read its report;
- STS answers: `exchange.classify` and the probe's reading of botocore error shapes.
"""

from __future__ import annotations

import datetime as dt
import json

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_health.checks import CheckContext, all_checks
from connector_health.collect.aws import AccountSnapshot, OidcProvider
from connector_health.collect.issuer import CertInfo, FetchError, HostTls, IssuerInspector
from connector_health.config import ConfigError, parse_config
from connector_health.exchange import Outcome, classify
from connector_health.exchange.probe import assume_role_with_web_identity
from connector_health.exchange.redact import Secret
from connector_health.policy import RequestContext, actions_allowed, evaluate, parse_policy
from connector_health.trust.analysis import FOREIGN_AUDIENCE, TrustTarget, analyze_trust
from connector_health.trust.iac import lint_paths
from connector_health.trust.lint import LintInputError, lint_trust
from connector_health.trust.profiles import PROFILES, legit_identity

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ISSUER_KEY = "token.actions.githubusercontent.com"
PROVIDER_ARN = f"arn:aws:iam::111122223333:oidc-provider/{ISSUER_KEY}"

# ------------------------------------------------------------------------------------------------ strategies
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=True),
                    st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)

OPERATORS = ["StringEquals", "StringLike", "StringNotEquals", "StringEqualsIgnoreCase", "ForAnyValue:StringLike",
             "ForAllValues:StringEquals", "StringEqualsIfExists", "Null", "Bool", "NumericLessThan", "DateGreaterThan",
             "ArnLike", "IpAddress", "BinaryEquals", "Frobnicate", "ForAllValues:Null", "stringequals"]
KEYS = [f"{ISSUER_KEY}:sub", f"{ISSUER_KEY}:aud", "sts:RoleSessionName", "aws:SourceIp", "aws:CurrentTime",
        "aws:PrincipalTag/x", "unknown:key", ""]
condition_values = st.one_of(st.text(max_size=30), st.sampled_from(["repo:acme/*", "sts.amazonaws.com", "*", "?",
                                                                    "10.0.0.0/8", "2025-01-01T00:00:00Z", "true"]),
                             st.lists(st.text(max_size=10), max_size=3), json_values)
conditions = st.dictionaries(st.sampled_from(OPERATORS) | st.text(max_size=12),
                             st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=12), condition_values, max_size=3)
                             | json_values, max_size=3)
principals = st.one_of(st.just("*"), st.fixed_dictionaries({"Federated": st.sampled_from([PROVIDER_ARN, "*", ""])}),
                       st.dictionaries(st.sampled_from(["AWS", "Service", "Federated", "CanonicalUser", "x"]),
                                       st.one_of(st.text(max_size=30), st.lists(st.text(max_size=30), max_size=2)),
                                       max_size=2), json_values)
actions = st.one_of(st.sampled_from(["sts:AssumeRoleWithWebIdentity", "sts:*", "*", "s3:Get*", "iam:?assRole"]),
                    st.lists(st.text(max_size=20), max_size=3), json_values)
statements = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny", "allow", "Maybe"]) | json_values},
    optional={"Principal": principals, "NotPrincipal": principals, "Action": actions, "NotAction": actions,
              "Resource": st.one_of(st.just("*"), st.text(max_size=20), json_values), "Condition": conditions,
              "Sid": json_values, "Extra": json_values})
policies = st.one_of(
    st.fixed_dictionaries({"Version": st.sampled_from(["2012-10-17", "2008-10-17", "x"]) | json_values,
                           "Statement": st.one_of(statements, st.lists(statements, max_size=4), json_values)}),
    json_values)


def _as_text(doc, style: int) -> str:
    text = json.dumps(doc)
    if style == 1 and isinstance(doc, dict):
        return text[:-1] + ', "Statement": []}'  # a duplicate key in the raw text
    if style == 2:
        return text[: len(text) // 2]  # truncated
    return text


# ------------------------------------------------------------------------------------------------ policies
@FUZZ
@given(doc=policies, style=st.integers(0, 3), action=st.sampled_from(["sts:AssumeRoleWithWebIdentity", "s3:GetObject", "*"]),
       keys=st.dictionaries(st.sampled_from(KEYS), st.one_of(st.text(max_size=20), st.lists(st.text(max_size=8))),
                            max_size=3))
def test_policy_parsing_and_evaluation_never_raise(doc, style, action, keys):
    for source in (doc, _as_text(doc, style)):
        document = parse_policy(source, source="fuzz", require_principal=True)
        request = RequestContext(action=action, principal=("Federated", PROVIDER_ARN), keys=keys)
        for assume in ("allow", "deny"):
            assert evaluate([document], request, assume=assume).effect is not None
        actions_allowed([parse_policy(source, source="fuzz")], [action, "iam:PassRole"], keys=keys)


@FUZZ
@given(doc=policies, style=st.integers(0, 3))
def test_trust_analysis_never_raises(doc, style):
    profile = PROFILES["github-actions"]
    target = TrustTarget(issuer_key=ISSUER_KEY, provider_arn=PROVIDER_ARN, profile=profile,
                         audiences=("sts.amazonaws.com",), provider_audiences=("sts.amazonaws.com", FOREIGN_AUDIENCE),
                         legit=legit_identity(profile, {}))
    text = _as_text(doc, style)
    for issue in analyze_trust(parse_policy(text, source="fuzz", require_principal=True), [target], raw_text=True):
        assert issue.check_id.startswith("TRUST_")


@FUZZ
@given(doc=policies, style=st.integers(0, 3), wrap=st.booleans())
def test_lint_trust_refuses_only_with_its_error(tmp_path_factory, doc, style, wrap):
    text = _as_text(doc, style)
    if wrap:
        text = json.dumps({"Role": {"Arn": "arn:aws:iam::111122223333:role/x", "AssumeRolePolicyDocument": text}})
    path = tmp_path_factory.mktemp("lint") / "trust.json"
    path.write_text(text)
    try:
        lint_trust(path)
    except LintInputError:
        pass


# ------------------------------------------------------------------------------------------------ templates and plans
NAMES = st.sampled_from(["P", "Provider", "Role", "Cond", "AWS::AccountId", "AWS::NoValue", "AWS::Region", "Missing"])
intrinsics = st.recursive(
    st.one_of(condition_values, st.fixed_dictionaries({"Ref": NAMES | json_values})),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"Fn::If": st.tuples(st.sampled_from(["Cond", "Other", "Missing"]) | json_values,
                                                    inner, inner).map(list)}),
        st.fixed_dictionaries({"Fn::Sub": st.one_of(st.sampled_from(["repo:${P}/*", "${Provider.Arn}", "${!x}${",
                                                                     "${AWS::AccountId}"]), st.text(max_size=12),
                                                    st.tuples(st.text(max_size=10), st.dictionaries(
                                                        st.sampled_from(["P", "x"]), inner, max_size=2)).map(list))}),
        st.fixed_dictionaries({"Fn::Join": st.tuples(st.sampled_from(["", ":", 5]), st.lists(inner, max_size=3)).map(list)}),
        st.fixed_dictionaries({"Fn::Select": st.tuples(st.integers(-1, 3) | inner, inner).map(list)}),
        st.fixed_dictionaries({"Fn::Split": st.tuples(st.sampled_from([":", "", "/"]), inner).map(list)}),
        st.fixed_dictionaries({"Fn::FindInMap": st.lists(inner, max_size=4)}),
        st.fixed_dictionaries({"Fn::ImportValue": inner}),
        st.fixed_dictionaries({"Fn::GetAtt": st.one_of(st.sampled_from(["Provider.Arn", "Role.Arn", "Missing.X"]),
                                                       st.lists(inner, max_size=3))}),
        st.fixed_dictionaries({"Fn::Base64": inner}), st.fixed_dictionaries({"Fn::Frobnicate": inner}),
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=3)),
    max_leaves=16)
template_statements = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny"]) | intrinsics},
    optional={"Principal": st.one_of(principals, st.fixed_dictionaries({"Federated": intrinsics})),
              "Action": st.one_of(actions, intrinsics),
              "Condition": st.dictionaries(st.sampled_from(OPERATORS), st.dictionaries(st.sampled_from(KEYS), intrinsics,
                                                                                       max_size=2), max_size=2)})
templates = st.fixed_dictionaries({
    "Parameters": st.just({"P": {"Type": "String"}, "Q": {"Type": "CommaDelimitedList", "Default": "a,b"}}),
    "Conditions": st.dictionaries(st.sampled_from(["Cond", "Other"]), st.one_of(
        st.just({"Fn::Equals": [{"Ref": "P"}, "x"]}), st.just({"Fn::Not": [{"Condition": "Cond"}]}),
        st.just({"Condition": "Other"}), json_values), max_size=2),
    "Resources": st.fixed_dictionaries({
        "Provider": st.fixed_dictionaries({"Type": st.just("AWS::IAM::OIDCProvider"), "Properties": st.fixed_dictionaries(
            {"Url": st.sampled_from(["https://token.actions.githubusercontent.com", "https://gitlab.com"]) | intrinsics,
             "ClientIdList": st.lists(intrinsics, max_size=2) | intrinsics})},
            optional={"Condition": st.sampled_from(["Cond", "Other", "Missing"])}),
        "Role": st.fixed_dictionaries({"Type": st.just("AWS::IAM::Role"), "Properties": st.fixed_dictionaries(
            {"AssumeRolePolicyDocument": st.one_of(
                st.fixed_dictionaries({"Version": st.just("2012-10-17"),
                                       "Statement": st.lists(template_statements, max_size=3)}),
                intrinsics)})})})})
planned_roles = st.lists(st.fixed_dictionaries({
    "address": st.sampled_from(["aws_iam_role.a", 'module.m["k"].aws_iam_role.b[0]', "module.", "x"]) | st.text(max_size=8),
    "type": st.sampled_from(["aws_iam_role", "aws_iam_openid_connect_provider"]),
    "values": st.fixed_dictionaries({}, optional={"assume_role_policy": st.one_of(policies.map(json.dumps), json_values),
                                                  "url": json_values, "client_id_list": json_values})}), max_size=3)
plans = st.fixed_dictionaries({"format_version": st.sampled_from(["1.2", "0.1"]) | json_values},
                              optional={"planned_values": st.fixed_dictionaries({"root_module": st.fixed_dictionaries(
                                  {"resources": planned_roles}, optional={"child_modules": st.lists(
                                      st.fixed_dictionaries({"resources": planned_roles}), max_size=2) | json_values})}),
                                  "resource_changes": st.lists(st.fixed_dictionaries(
                                      {"address": st.just("aws_iam_role.a"), "change": json_values}), max_size=2),
                                  "configuration": json_values, "prior_state": json_values})


@FUZZ
@given(data=st.one_of(templates, plans), as_yaml=st.booleans())
def test_lint_trust_on_templates_and_plans_refuses_only_with_its_error(tmp_path_factory, data, as_yaml):
    import yaml

    path = tmp_path_factory.mktemp("iac") / ("template.yaml" if as_yaml else "input.json")
    path.write_text(yaml.safe_dump(data) if as_yaml and "Resources" in data else json.dumps(data))
    try:
        run = lint_paths([path])
    except LintInputError:
        return
    for finding in run.findings:
        assert finding.location and finding.location["file"] and finding.location["resource"]


# ------------------------------------------------------------------------------------------------ configs
connector_configs = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["defender", "gh", "a" * 70, ""]), json_values),
     "preset": st.one_of(st.sampled_from(["defender-for-cloud", "github-actions", "eks-irsa", "gitlab", "entra-app",
                                          "generic", "defendr"]), json_values)},
    optional={"issuer": st.one_of(st.sampled_from(["https://x.example/", "http://x", "https://x?q=1", "https://h:99/p"]),
                                  json_values),
              "audiences": st.one_of(st.lists(st.text(max_size=10), max_size=3), json_values),
              "customer_tenant_id": st.one_of(st.uuids().map(str), json_values),
              "plans": st.one_of(st.lists(st.sampled_from(["cspm", "agentless-scanning", "x"]), max_size=2), json_values),
              "roles": st.one_of(st.lists(st.fixed_dictionaries({"name": json_values}, optional={"audience": json_values}),
                                          max_size=2), json_values),
              "severities": st.one_of(st.dictionaries(st.sampled_from(["TRUST_DRIFT", "NOPE"]),
                                                      st.sampled_from(["low", "urgent"])), json_values),
              "token_source": json_values, "caller": json_values, "isuer": json_values, "enabled": json_values})
configs = st.one_of(
    st.fixed_dictionaries({"version": st.one_of(st.just(1), json_values),
                           "connectors": st.one_of(st.lists(connector_configs, max_size=3), json_values)},
                          optional={"region": json_values, "issuer_inspection": json_values, "alerts": json_values,
                                    "state": json_values, "schedule": json_values, "org": json_values}),
    json_values)


@FUZZ
@given(data=configs)
def test_parse_config_raises_only_config_error(data):
    try:
        parse_config(data, source="fuzz.yaml")
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc).strip()


# ------------------------------------------------------------------------------------------------ discovery / JWKS
ISSUER = "https://localhost:8443/tenant/"
jwk = st.fixed_dictionaries({}, optional={
    "kty": st.sampled_from(["RSA", "EC", "oct", "OKP"]) | json_values, "use": st.sampled_from(["sig", "enc"]) | json_values,
    "kid": json_values, "n": st.sampled_from(["AQAB", "!!", ""]) | json_values, "e": st.sampled_from(["AQAB"]) | json_values,
    "crv": st.sampled_from(["P-256", "P-999"]) | json_values, "x": json_values, "y": json_values, "alg": json_values})
jwks_docs = st.one_of(st.fixed_dictionaries({"keys": st.one_of(st.lists(jwk | json_values, max_size=4), json_values)}),
                      json_values)
discovery_docs = st.one_of(
    st.fixed_dictionaries({}, optional={
        "issuer": st.sampled_from([ISSUER, ISSUER.rstrip("/"), "https://other/"]) | json_values,
        "jwks_uri": st.sampled_from([ISSUER + "keys", "http://localhost/keys", "https://other:1/keys", "https://"])
        | json_values}),
    json_values)


class _StubInspector(IssuerInspector):
    """The inspector's parsing with the network replaced: documents come from the test."""

    def __init__(self, documents):
        super().__init__()
        self.documents = documents

    def host_tls(self, host, port):
        info = CertInfo(subject="CN=x", issuer="CN=x", sha1="a" * 40,
                        not_after=dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))
        return HostTls(host, port, chain=[info], publicly_trusted=True)

    def fetch_json(self, url, tls=None, pinned=frozenset()):
        doc = self.documents.pop(0)
        if isinstance(doc, FetchError):
            raise doc
        return doc


@FUZZ
@given(discovery=discovery_docs, jwks=jwks_docs)
def test_discovery_and_jwks_parsing_never_raise(discovery, jwks):
    report = _StubInspector([discovery, jwks]).inspect(ISSUER, {"a" * 40})
    assert not (report.discovery_error or "").startswith("unexpected error"), report.discovery_error
    if report.discovery_error is None and report.jwks_error is None:
        assert report.key_ids
    # the provider checks read the report: none may raise on it
    config = parse_config({"version": 1, "connectors": [
        {"name": "c", "preset": "generic", "issuer": ISSUER, "audiences": ["aud"]}]})
    [conn] = config.resolved_connectors()
    snapshot = AccountSnapshot(account_id="111122223333", roles_complete=True, providers_complete=True,
                               providers=[OidcProvider(arn=PROVIDER_ARN, url=ISSUER, client_ids=["aud"],
                                                       thumbprints=["a" * 40])])
    ctx = CheckContext(config=config, connector=conn, snapshot=snapshot, issuer=report,
                       now=dt.datetime.now(dt.timezone.utc))
    for check in all_checks():
        if check.id.startswith("PROVIDER_") and check.scope == "connector":
            list(check.run(ctx))


# ------------------------------------------------------------------------------------------------ STS answers
KNOWN = ["No OpenIDConnect provider found in your account for https://x/", "Incorrect token audience",
         "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
         "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity "
         "documentation for requirements", "Not authorized to perform sts:AssumeRoleWithWebIdentity",
         "Token expired: current date/time 1 must be before the expiration date/time 0"]
codes = st.one_of(st.none(), st.sampled_from(["InvalidIdentityToken", "IDPCommunicationError", "RegionDisabledException",
                                              "AccessDenied", "ExpiredTokenException", "Throttling", ""]), st.text(max_size=20))
messages = st.one_of(st.none(), st.sampled_from(KNOWN), st.text(max_size=200),
                     st.builds(lambda k, t: k + t, st.sampled_from(KNOWN), st.text(max_size=20)),
                     st.builds(lambda t, k: t + k, st.text(min_size=1, max_size=20), st.sampled_from(KNOWN)))


@FUZZ
@given(code=codes, message=messages)
def test_classify_never_raises(code, message):
    assert isinstance(classify(code, message), Outcome)


class _Sts:
    def __init__(self, response):
        self.response = response

    def assume_role_with_web_identity(self, **_):
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


error_shapes = st.one_of(
    st.fixed_dictionaries({}, optional={"Error": st.one_of(st.fixed_dictionaries({}, optional={
        "Code": codes | json_values, "Message": messages | json_values, "Type": json_values}), json_values),
        "ResponseMetadata": st.one_of(st.fixed_dictionaries({}, optional={"HTTPStatusCode": json_values,
                                                                         "RequestId": json_values}), json_values)}))


@FUZZ
@given(shape=error_shapes)
def test_probe_reads_any_sts_error_shape(shape):
    try:
        error = ClientError(shape, "AssumeRoleWithWebIdentity")
    except Exception:  # noqa: BLE001 - botocore itself cannot build this one; not an answer STS can give
        return
    answer = assume_role_with_web_identity(_Sts(error), "arn:aws:iam::1:role/r", "probe", Secret("t.o.k"))
    assert answer.code and isinstance(classify(answer.code, answer.message), Outcome)
