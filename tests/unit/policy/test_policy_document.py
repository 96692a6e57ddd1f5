"""Parsing: every shape IAM accepts, junk that IAM rejects, and duplicate keys in raw JSON."""

import json
import urllib.parse

import pytest

from connector_health.policy import DuplicateKey, PolicyDocument, find_duplicate_keys, parse_policy

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def _doc(statement, **extra):
    return {"Version": "2012-10-17", "Statement": statement, **extra}


ALLOW_S3 = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


# --- shapes IAM accepts ---------------------------------------------------------------------------

@pytest.mark.parametrize("statement", [ALLOW_S3, [ALLOW_S3]], ids=["object", "list"])
def test_statement_as_object_or_list(statement):
    doc = parse_policy(_doc(statement))
    assert doc.valid
    assert len(doc.statements) == 1
    st = doc.statements[0]
    assert (st.index, st.effect, st.actions, st.resources) == (0, "Allow", ("s3:GetObject",), ("*",))
    assert st.raw is ALLOW_S3


@pytest.mark.parametrize("element,value,expected", [
    ("Action", "s3:GetObject", ("s3:GetObject",)),
    ("Action", ["s3:GetObject", "s3:List*"], ("s3:GetObject", "s3:List*")),
    ("NotAction", "iam:*", ("iam:*",)),
    ("Resource", "arn:aws:s3:::b/*", ("arn:aws:s3:::b/*",)),
    ("NotResource", ["arn:aws:s3:::a", "arn:aws:s3:::b"], ("arn:aws:s3:::a", "arn:aws:s3:::b")),
])
def test_string_or_list_values(element, value, expected):
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    statement.pop(element.replace("Not", ""), None)
    statement[element] = value
    st = parse_policy(_doc(statement)).statements[0]
    negated = element.startswith("Not")
    if element.endswith("Action"):
        assert (st.actions, st.not_action) == (expected, negated)
    else:
        assert (st.resources, st.not_resource) == (expected, negated)
    assert not st.uncertain_parts


@pytest.mark.parametrize("principal,expected", [
    ("*", {"*": ("*",)}),
    ({"AWS": "*"}, {"AWS": ("*",)}),
    ({"AWS": ["123456789012", "arn:aws:iam::111122223333:root"]},
     {"AWS": ("123456789012", "arn:aws:iam::111122223333:root")}),
    ({"Federated": PROVIDER}, {"Federated": (PROVIDER,)}),
    ({"Service": ["ec2.amazonaws.com"], "CanonicalUser": "abc"},
     {"Service": ("ec2.amazonaws.com",), "CanonicalUser": ("abc",)}),
])
def test_principal_shapes(principal, expected):
    doc = parse_policy(_doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}),
                       require_principal=True)
    st = doc.statements[0]
    assert dict(st.principals) == expected
    assert st.not_principal is False
    assert doc.problems == []


def test_not_principal_is_flagged():
    st = parse_policy(_doc({"Effect": "Deny", "NotPrincipal": {"AWS": "123456789012"}, "Action": "*"}),
                      require_principal=True).statements[0]
    assert st.not_principal is True
    assert dict(st.principals) == {"AWS": ("123456789012",)}


def test_condition_values_are_normalised_to_lists_of_strings():
    cond = {"StringEquals": {"k:a": "x", "k:b": ["x", "y"]}, "Bool": {"aws:SecureTransport": True},
            "NumericLessThan": {"k:n": 5}, "StringLike": {"k:mixed": [1, False, "z", 2.5]}}
    st = parse_policy(_doc({**ALLOW_S3, "Condition": cond})).statements[0]
    got = {(c.operator, c.key): c.values for c in st.conditions}
    assert got == {
        ("StringEquals", "k:a"): ("x",),
        ("StringEquals", "k:b"): ("x", "y"),
        ("Bool", "aws:SecureTransport"): ("true",),
        ("NumericLessThan", "k:n"): ("5",),
        ("StringLike", "k:mixed"): ("1", "false", "z", "2.5"),
    }
    assert all(c.decidable for c in st.conditions)


@pytest.mark.parametrize("operator,base,qualifier,if_exists", [
    ("StringLike", "StringLike", None, False),
    ("stringlike", "StringLike", None, False),
    ("ForAnyValue:StringLikeIfExists", "StringLike", "ForAnyValue", True),
    ("forallvalues:stringequals", "StringEquals", "ForAllValues", False),
    ("NUMERICLESSTHANEQUALSIFEXISTS", "NumericLessThanEquals", None, True),
    ("ArnNotLike", "ArnNotLike", None, False),
    ("Null", "Null", None, False),
])
def test_operator_parsing_is_case_insensitive(operator, base, qualifier, if_exists):
    value = "true" if base == "Null" else "1"
    st = parse_policy(_doc({**ALLOW_S3, "Condition": {operator: {"Aws:SourceIp": value}}})).statements[0]
    (clause,) = st.conditions
    assert (clause.base, clause.qualifier, clause.if_exists) == (base, qualifier, if_exists)
    assert (clause.operator, clause.key, clause.key_lc) == (operator, "Aws:SourceIp", "aws:sourceip")
    assert clause.decidable


@pytest.mark.parametrize("operator,value,fragment", [
    ("StringFooBar", "x", "unknown condition operator"),
    ("NullIfExists", "true", "unknown condition operator"),
    ("ForSomeValues:StringEquals", "x", "unknown condition operator"),
    ("NumericEquals", "five", "not a number"),
    ("DateLessThan", "yesterday", "not an ISO 8601 date"),
    ("IpAddress", "10.0.0.0/33", "not an IP address"),
    ("Bool", "yes", "not true or false"),
    ("Null", "maybe", "not true or false"),
])
def test_unreadable_conditions_are_problems_and_undecidable(operator, value, fragment):
    doc = parse_policy(_doc({**ALLOW_S3, "Condition": {operator: {"k:x": value}}}))
    (clause,) = doc.statements[0].conditions
    assert not clause.decidable
    assert fragment in clause.problem
    assert any(fragment in p.message and p.statement_index == 0 for p in doc.problems)


# --- statements IAM rejects -----------------------------------------------------------------------

@pytest.mark.parametrize("statement,reason", [
    ({"Action": "s3:*", "Resource": "*"}, "no Effect"),
    ({"Effect": "allow", "Action": "s3:*", "Resource": "*"}, "is not \"Allow\" or \"Deny\""),
    ({"Effect": "Permit", "Action": "s3:*", "Resource": "*"}, "is not \"Allow\" or \"Deny\""),
    ({"Effect": "Allow", "Resource": "*"}, "no Action or NotAction"),
    ({"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}, "both Action and NotAction"),
    ({"Effect": "Allow", "Action": [], "Resource": "*"}, "Action is empty"),
    ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotResource": "x"}, "both Resource and NotResource"),
    ("just a string", "not an object"),
])
def test_invalid_statements_are_kept_apart(statement, reason):
    doc = parse_policy(_doc([statement, ALLOW_S3]))
    assert doc.valid
    assert [s.index for s in doc.statements] == [1]
    assert [s.index for s in doc.invalid_statements] == [0]
    assert any(reason in r for r in doc.invalid_statements[0].invalid_reasons)
    assert any(p.statement_index == 0 and reason in p.message for p in doc.problems)


def test_trust_policy_requires_a_principal_only_when_asked():
    statement = {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity"}
    trust = parse_policy(_doc(statement), require_principal=True)
    assert trust.statements == () and trust.invalid_statements[0].invalid_reasons == ("no Principal or NotPrincipal",)
    assert len(parse_policy(_doc(statement)).statements) == 1


def test_both_principal_and_not_principal_is_invalid():
    doc = parse_policy(_doc({"Effect": "Allow", "Principal": "*", "NotPrincipal": "*", "Action": "*"}),
                       require_principal=True)
    assert doc.invalid_statements[0].invalid_reasons == ("both Principal and NotPrincipal",)


def test_element_names_are_case_sensitive():
    doc = parse_policy(_doc({"Effect": "Allow", "action": "s3:*", "Resource": "*"}))
    assert doc.statements == ()
    assert any("IAM spells it 'Action'" in p.message for p in doc.problems)


# --- junk -------------------------------------------------------------------------------------------

TRUST = _doc({"Effect": "Allow", "Principal": {"Federated": PROVIDER},
              "Action": "sts:AssumeRoleWithWebIdentity",
              "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}})


@pytest.mark.parametrize("junk,problem", [
    ({}, "no Statement"),
    ({"Version": "2012-10-17"}, "no Statement"),
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("null", "not a JSON object"),
    ("[1, 2]", "not a JSON object"),
    (None, "not a JSON object"),
    (42, "not a JSON object"),
    (3.5, "not a JSON object"),
    (["Statement"], "not a JSON object"),
    (object(), "not a JSON object"),
    (b"\xff\xfe", "not UTF-8"),
    ("[" * 100000, "not valid JSON"),
])
def test_junk_is_not_a_policy(junk, problem):
    doc = parse_policy(junk)
    assert isinstance(doc, PolicyDocument)
    assert doc.valid is False
    assert doc.statements == ()
    assert any(problem in p.message for p in doc.problems)


@pytest.mark.parametrize("text", [
    json.dumps(TRUST),
    "\ufeff" + json.dumps(TRUST),
    urllib.parse.quote(json.dumps(TRUST)),
    urllib.parse.quote_plus(json.dumps(TRUST)),
    ("\ufeff" + json.dumps(TRUST)).encode("utf-8"),
    json.dumps(json.dumps(TRUST)),
], ids=["json", "bom", "url-encoded", "url-encoded-plus", "bytes-bom", "double-encoded"])
def test_text_forms_iam_returns(text):
    doc = parse_policy(text, require_principal=True)
    assert doc.valid
    (st,) = doc.statements
    assert dict(st.principals) == {"Federated": (PROVIDER,)}
    assert st.conditions[0].values == ("sts.amazonaws.com",)
    assert doc.problems == []


def test_statement_as_number_is_an_invalid_statement():
    doc = parse_policy({"Version": "2012-10-17", "Statement": 7})
    assert doc.valid and doc.statements == ()
    assert doc.invalid_statements[0].invalid_reasons == ("statement is int, not an object",)


def test_empty_statement_list():
    doc = parse_policy({"Version": "2012-10-17", "Statement": []})
    assert doc.valid and doc.statements == () and any("empty" in p.message for p in doc.problems)


def test_condition_as_list_is_undecidable():
    doc = parse_policy(_doc({**ALLOW_S3, "Condition": [{"StringEquals": {"a": "b"}}]}))
    (clause,) = doc.statements[0].conditions
    assert not clause.decidable and "not an object" in clause.problem


def test_condition_operator_holding_a_string_is_undecidable():
    (clause,) = parse_policy(_doc({**ALLOW_S3, "Condition": {"StringEquals": "x"}})).statements[0].conditions
    assert not clause.decidable


@pytest.mark.parametrize("value", [None, {"a": 1}, [["x", None]], [[["x"]]]])
def test_odd_condition_values_are_undecidable(value):
    (clause,) = parse_policy(_doc({**ALLOW_S3, "Condition": {"StringEquals": {"k": value}}})).statements[0].conditions
    assert not clause.decidable


@pytest.mark.parametrize("principal", [5, None, ["*"], True])
def test_principal_of_odd_type_is_uncertain(principal):
    doc = parse_policy(_doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}),
                       require_principal=True)
    (st,) = doc.statements
    assert "principal" in st.uncertain_parts
    assert doc.problems


def test_nested_lists_and_numbers_in_action_are_read_and_uncertain():
    doc = parse_policy(_doc({"Effect": "Allow", "Action": [["s3:GetObject"], 5, None], "Resource": "*"}))
    (st,) = doc.statements
    assert st.actions == ("s3:GetObject", "5")
    assert st.uncertain_parts == frozenset({"action"})
    messages = " | ".join(p.message for p in doc.problems)
    assert "nested list" in messages and "is not a string" in messages


def test_non_string_keys_in_a_dict_do_not_break_parsing():
    doc = parse_policy({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", 1: 2,
                                      "Condition": {3: {"a": "b"}, "StringEquals": {4: "x"}}}, 5: 6})
    assert doc.valid
    assert [c.decidable for c in doc.statements[0].conditions] == [False, False]


def test_sid_and_source_are_kept():
    doc = parse_policy(_doc({**ALLOW_S3, "Sid": "ReadObjects"}), source="inline:reader")
    assert (doc.statements[0].sid, doc.statements[0].source, doc.source) == ("ReadObjects", "inline:reader",
                                                                             "inline:reader")


def test_parse_result_reports_duplicate_keys_of_text():
    text = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole",'
            '"Condition":{"StringLike":{"a":"1"},"StringLike":{"b":"2"}}}]}')
    doc = parse_policy(text, require_principal=True)
    assert [d.path for d in doc.duplicate_keys] == ["Statement[0].Condition.StringLike"]
    assert any(p.statement_index == 0 and "duplicate key" in p.message for p in doc.problems)


# --- find_duplicate_keys ------------------------------------------------------------------------------

def _trust_text(condition_json: str, extra: str = "") -> str:
    return ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "p"}, '
            f'"Action": "sts:AssumeRoleWithWebIdentity", "Condition": {condition_json}{extra}}}]}}')


@pytest.mark.parametrize("text,expected", [
    (_trust_text('{"StringLike": {"a": "1"}, "StringLike": {"b": "2"}}'),
     [("Statement[0].Condition.StringLike", "StringLike", ("StringLike", "StringLike"))]),
    (_trust_text('{"stringlike": {"a": "1"}, "StringLike": {"b": "2"}}'),
     [("Statement[0].Condition.stringlike", "stringlike", ("stringlike", "StringLike"))]),
    (_trust_text('{"StringEquals": {"sts:RoleSessionName": "x", "STS:rolesessionname": "y"}}'),
     [('Statement[0].Condition.StringEquals["sts:RoleSessionName"]', "sts:RoleSessionName",
       ("sts:RoleSessionName", "STS:rolesessionname"))]),
    (_trust_text('{"StringEquals": {"a": "1"}}', ', "Condition": {"StringEquals": {"b": "2"}}'),
     [("Statement[0].Condition", "Condition", ("Condition", "Condition"))]),
    (_trust_text('{"StringEquals": {"a": "1"}, "StringLike": {"a": "1"}}'), []),
])
def test_find_duplicate_keys(text, expected):
    found = find_duplicate_keys(text)
    assert [(d.path, d.key, d.spellings) for d in found] == expected
    assert all(d.statement_index == 0 and d.count == len(d.spellings) for d in found)


def test_duplicates_at_depth_in_get_role_output_with_case_only_difference():
    text = json.dumps({"Role": {"RoleName": "r", "AssumeRolePolicyDocument": {"Statement": [
        {"Effect": "Allow"}, {"Effect": "Allow", "Condition": {"StringLike": {"k": ["ZZZ"]}}}]}}})
    text = text.replace('"ZZZ"', '{"Deep": 1, "deep": 2, "DEEP": 3}')
    (dup,) = find_duplicate_keys(text)
    assert dup == DuplicateKey('Role.AssumeRolePolicyDocument.Statement[1].Condition.StringLike.k[0].Deep',
                               "Deep", ("Deep", "deep", "DEEP"), 3, 1)


def test_duplicates_inside_arrays_of_objects_and_at_root():
    text = '[{"a": 1, "A": 2}, {"b": {"c": 1, "c": 2}}]'
    assert [d.path for d in find_duplicate_keys(text)] == ["[0].a", "[1].b.c"]
    assert find_duplicate_keys('{"Statement": 1, "statement": 2}')[0].statement_index is None


@pytest.mark.parametrize("text", ["", "{", "not json", "[1,", None, 5])
def test_invalid_json_has_no_duplicates(text):
    assert find_duplicate_keys(text) == []


def test_duplicate_keys_in_url_encoded_and_bom_text():
    raw = '{"Statement": {"Condition": {"Null": {"a": "true"}, "NULL": {"b": "true"}}}}'
    assert [d.path for d in find_duplicate_keys(urllib.parse.quote(raw))] == ["Statement.Condition.Null"]
    assert [d.path for d in find_duplicate_keys("\ufeff" + raw)] == ["Statement.Condition.Null"]
