"""The one wildcard matcher (`connector_health.policy.wildcards`): the semantics it had as a regex translation
and a quadratic DP (kept here as the reference), IAM's ``${...}`` forms, and bounded work on hostile patterns."""

import functools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_health.policy import RequestContext, UNKNOWN, evaluate, parse_policy
from connector_health.policy.evaluator import _pattern_set
from connector_health.policy.wildcards import (
    WildcardSet,
    compile_wildcard,
    literal_template,
    split_arn_pattern,
    wildcard_match,
)

SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# --- the previous semantics, kept as the reference ---------------------------------------------------
# (what the evaluator did before: `*`/`?` translated to a backtracking regex, and the O(n·m) dynamic programmes
# for pattern-vs-pattern questions; slow or explosive on hostile input, but the meaning to preserve)

@functools.lru_cache(maxsize=4096)
def _reference_regex(pattern: str, ignore_case: bool) -> re.Pattern:
    parts = re.split(r"(\*+|\?)", pattern)
    source = "".join(".*" if p[:1] == "*" else "." if p == "?" else re.escape(p) for p in parts if p)
    return re.compile(source, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def reference_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _reference_regex(pattern, ignore_case).fullmatch(value) is not None


def reference_covers(p: str, q: str) -> bool:
    n, m = len(p), len(q)
    row = [False] * (m + 1)
    row[m] = True
    for i in range(n - 1, -1, -1):
        pc = p[i]
        cur = [False] * (m + 1)
        for j in range(m, -1, -1):
            if pc == "*":
                cur[j] = row[j] or (j < m and cur[j + 1])
            elif j < m:
                qc = q[j]
                if qc == "*":
                    cur[j] = False
                elif qc == "?":
                    cur[j] = pc == "?" and row[j + 1]
                else:
                    cur[j] = (pc == "?" or pc == qc) and row[j + 1]
        row = cur
    return row[0]


def reference_overlaps(p: str, q: str) -> bool:
    n, m = len(p), len(q)
    row = [False] * (m + 1)
    row[m] = True
    for j in range(m - 1, -1, -1):
        row[j] = q[j] == "*" and row[j + 1]
    for i in range(n - 1, -1, -1):
        pc = p[i]
        cur = [False] * (m + 1)
        cur[m] = pc == "*" and row[m]
        for j in range(m - 1, -1, -1):
            qc = q[j]
            if pc == "*":
                cur[j] = row[j] or cur[j + 1]
            elif qc == "*":
                cur[j] = cur[j + 1] or row[j]
            else:
                cur[j] = (pc == "?" or qc == "?" or pc == qc) and row[j + 1]
        row = cur
    return row[0]


def _collapse(text: str) -> str:
    return re.sub(r"\*+", "*", text)


# --- properties against the reference ---------------------------------------------------------------

patterns = st.text(st.sampled_from(list("ab:*?")), max_size=8)
values = st.text(st.sampled_from(list("abAB:*?")), max_size=8)
queries = st.text(st.sampled_from(list("ab:*?")), max_size=7)


@SETTINGS
@given(patterns, values, st.booleans())
def test_match_agrees_with_the_regex_translation(pattern, value, ignore_case):
    expected = reference_match(pattern, value, ignore_case)
    assert compile_wildcard(pattern, ignore_case=ignore_case).match(value) is expected
    assert compile_wildcard(pattern, ignore_case=ignore_case, variables=True).match(value) is expected


@SETTINGS
@given(patterns, queries)
def test_covers_and_overlaps_agree_with_the_previous_programmes(p, q):
    assert compile_wildcard(p).covers(q) is reference_covers(_collapse(p), _collapse(q))
    assert compile_wildcard(p).overlaps(q) is reference_overlaps(_collapse(p), _collapse(q))


@SETTINGS
@given(st.lists(patterns, min_size=1, max_size=6), values, st.booleans())
def test_a_compiled_set_matches_like_its_patterns_one_at_a_time(pattern_list, value, split):
    compiled = WildcardSet(pattern_list, ignore_case=True, split_service=split)
    expected = any(reference_match(p, value, True) for p in pattern_list)
    assert compiled.match(value.lower()) is expected
    assert _pattern_set(tuple(pattern_list), True, split).match(value.lower()) is expected


@SETTINGS
@given(st.lists(st.text(st.sampled_from(list("abAB:*?$")), max_size=8), min_size=1, max_size=6),
       st.lists(st.text(st.sampled_from(list("ab:")), max_size=7), max_size=30), st.booleans(), st.booleans())
def test_a_compiled_set_matches_in_bulk_like_one_value_at_a_time(pattern_list, values, split, ignore_case):
    compiled = WildcardSet(pattern_list, ignore_case=ignore_case, split_service=split)
    assert compiled.matching(values) == {v for v in values if compiled.match(v)}
    assert compiled.matching(values) == {v for v in values
                                         if any(reference_match(p, v, ignore_case) for p in pattern_list)}


@SETTINGS
@given(st.lists(st.text(st.sampled_from(list("abAB:*?")), max_size=8), min_size=1, max_size=6),
       st.text(st.sampled_from(list("abAB:*?")), max_size=7), st.booleans(), st.booleans())
def test_a_compiled_set_compares_patterns_like_its_patterns_one_at_a_time(pattern_list, query, split, ignore_case):
    """Filing patterns by literal service (``split_service``) never changes a covers/overlaps answer."""
    compiled = WildcardSet(pattern_list, ignore_case=ignore_case, split_service=split)
    one_by_one = [compile_wildcard(p, ignore_case=ignore_case) for p in pattern_list]
    assert compiled.covers(query) is any(p.covers(query) for p in one_by_one)
    assert compiled.overlaps(query) is any(p.overlaps(query) for p in one_by_one)


@SETTINGS
@given(patterns, queries, st.lists(st.text(st.sampled_from(list("ab:")), max_size=3), min_size=4, max_size=4))
def test_covers_and_overlaps_are_sound_on_instances(p, q, fillers):
    # An instance of q (its wildcards filled in): if p covers q, p matches it; if p matches it, they overlap.
    pieces, k = [], 0
    for char in q:
        if char in "*?":
            filler = fillers[k % len(fillers)]
            pieces.append(filler if char == "*" else (filler[:1] or "a"))
            k += 1
        else:
            pieces.append(char)
    instance = "".join(pieces)
    wildcard = compile_wildcard(p)
    if wildcard.covers(q):
        assert wildcard.match(instance)
    if wildcard.match(instance):
        assert wildcard.overlaps(q)


# --- IAM's ${...} forms ------------------------------------------------------------------------------

def test_escapes_stand_for_the_literal_characters():
    star = compile_wildcard("report${*}.txt", variables=True)
    assert star.match("report*.txt") and not star.match("report-2024.txt")
    assert compile_wildcard("what${?}", variables=True).match("what?")
    assert not compile_wildcard("what${?}", variables=True).match("whatX")
    assert compile_wildcard("${$}5*", variables=True).match("$5 off")
    # Without variables (policies older than 2012-10-17) ${*} is "$", "{", a wildcard and "}".
    assert compile_wildcard("a${*}").match("a${anything}") and not compile_wildcard("a${*}").match("a*")


def test_a_variable_is_replaced_by_the_request_value_as_literal_text():
    bucket = compile_wildcard("arn:aws:s3:::home/${aws:username}/*", variables=True)
    assert bucket.match("arn:aws:s3:::home/alice/notes", {"aws:username": ("alice",)}) is True
    assert bucket.match("arn:aws:s3:::home/bob/notes", {"aws:username": ("alice",)}) is False
    # IAM substitutes once: a value's own `*` is a character, not a wildcard.
    assert bucket.match("arn:aws:s3:::home/bob/notes", {"aws:username": ("*",)}) is False
    assert bucket.match("arn:aws:s3:::home/*/notes", {"aws:username": ("*",)}) is True
    # Key names are case-insensitive (the evaluator hands lower-cased keys).
    assert compile_wildcard("${AWS:UserName}", variables=True).match("alice", {"aws:username": "alice"})


def test_an_unresolvable_variable_is_undecidable_unless_no_value_could_matter():
    bucket = compile_wildcard("arn:aws:s3:::home/${aws:username}/*", variables=True)
    assert bucket.match("arn:aws:s3:::home/alice/notes", {}) is None  # absent
    assert bucket.match("arn:aws:s3:::home/alice/notes", {"aws:username": ("a", "b")}) is None  # several values
    assert bucket.match("arn:aws:s3:::home/alice/notes", {"aws:username": UNKNOWN}) is None
    assert bucket.match("arn:aws:s3:::other/alice/notes", {}) is False  # no username could make this match
    assert bucket.overlaps("*") is True and bucket.covers("*") is False
    assert bucket.overlaps("arn:aws:s3:::home/*") is None and bucket.overlaps("arn:aws:s3:::x/*") is False


def test_defaults_apply_when_the_key_is_absent():
    anonymous = compile_wildcard("home/${aws:userid, 'anonymous'}/*", variables=True)
    assert anonymous.match("home/anonymous/x", {}) is True
    assert anonymous.match("home/AID1/x", {"aws:userid": ("AID1",)}) is True
    quoted = compile_wildcard("${k, 'it''s}'}", variables=True)
    assert quoted.match("it's}", {}) is True


def test_string_equals_values_and_arn_components_resolve_variables():
    assert literal_template("team-${aws:PrincipalTag/team}-${*}", {"aws:principaltag/team": ("red",)}) == "team-red-*"
    assert literal_template("${aws:username}", {}) is None
    # A ':' inside ${...} does not split an ARN pattern into components.
    assert split_arn_pattern("arn:aws:iam::${aws:PrincipalAccount}:role/x", variables=True) == [
        "arn", "aws", "iam", "", "${aws:PrincipalAccount}", "role/x"]


def _decision(policy, request):
    return evaluate([parse_policy(policy)], request, assume="deny")


def test_the_evaluator_expands_variables_only_in_2012_10_17_policies():
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::home/${aws:username}/*"}
    request = RequestContext(action="s3:GetObject", resource="arn:aws:s3:::home/alice/a",
                             keys={"aws:username": "alice"})
    assert _decision({"Version": "2012-10-17", "Statement": [statement]}, request).allowed
    assert not _decision({"Version": "2008-10-17", "Statement": [statement]}, request).allowed
    literal = RequestContext(action="s3:GetObject", resource="arn:aws:s3:::home/${aws:username}/a")
    assert _decision({"Version": "2008-10-17", "Statement": [statement]}, literal).allowed


def test_an_unresolvable_variable_in_a_condition_is_resolved_by_assume():
    policy = parse_policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sns:Subscribe", "Resource": "*",
        "Condition": {"StringLike": {"sns:Endpoint": "https://example.com/${aws:username}/"},
                      "StringEquals": {"aws:PrincipalTag/team": "${aws:ResourceTag/team}"}}}]})
    known = {"sns:Endpoint": "https://example.com/alice/", "aws:username": "alice",
             "aws:PrincipalTag/team": "red", "aws:ResourceTag/team": "red"}
    assert evaluate([policy], RequestContext(action="sns:Subscribe", keys=known)).allowed
    unknown = {k: v for k, v in known.items() if k != "aws:username"}
    could = evaluate([policy], RequestContext(action="sns:Subscribe", keys=unknown), assume="allow")
    surely = evaluate([policy], RequestContext(action="sns:Subscribe", keys=unknown), assume="deny")
    assert could.allowed and not surely.allowed and could.uncertain
    other_team = known | {"aws:ResourceTag/team": "blue"}
    assert not evaluate([policy], RequestContext(action="sns:Subscribe", keys=other_team), assume="allow").allowed


def test_arn_like_resolves_a_variable_in_the_account_component():
    policy = parse_policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
        "Condition": {"ArnLike": {"iam:AssociatedResourceArn": "arn:aws:ec2:*:${aws:PrincipalAccount}:instance/*"}}}]})
    keys = {"iam:AssociatedResourceArn": "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
            "aws:PrincipalAccount": "111122223333"}
    assert evaluate([policy], RequestContext(action="iam:PassRole", keys=keys)).allowed
    keys["aws:PrincipalAccount"] = "444455556666"
    assert not evaluate([policy], RequestContext(action="iam:PassRole", keys=keys), assume="allow").allowed


# --- hostile patterns --------------------------------------------------------------------------------

class _CountingStr(str):
    """A value that counts how often the matcher scans it (every scan is a C-level find/startswith/endswith)."""

    scans = 0

    def find(self, *args):
        _CountingStr.scans += 1
        return str.find(self, *args)

    def startswith(self, *args):
        _CountingStr.scans += 1
        return str.startswith(self, *args)

    def endswith(self, *args):
        _CountingStr.scans += 1
        return str.endswith(self, *args)


@pytest.mark.parametrize("pattern", ["*?" * 40 + "!", "*a" * 40 + "!", "*a?" * 30 + "b", "?" * 50 + "*!"])
def test_work_on_a_hostile_pattern_grows_with_pattern_and_value_not_combinatorially(pattern):
    for size in (100, 1000):
        _CountingStr.scans = 0
        value = _CountingStr("a" * size)
        assert compile_wildcard(pattern, variables=True).match(value) is False
        # At most a few scans of the value per pattern character (a backtracking matcher retries each `*` at
        # every position: C(size, stars) attempts).
        assert _CountingStr.scans <= 3 * len(pattern) + 3


def test_a_backtracking_trust_condition_evaluates_at_once(hang_guard):
    """The attack of issue 13: a StringLike value of `*?*?…*!` held a scan past the Lambda timeout (with the
    regex translation this evaluation takes longer than the age of the universe)."""
    hostile = "*?" * 25 + "!"
    policy = parse_policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/issuer.example"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"issuer.example:sub": hostile}}}]}, require_principal=True)
    request = RequestContext(action="sts:AssumeRoleWithWebIdentity",
                             principal=("Federated", "arn:aws:iam::123456789012:oidc-provider/issuer.example"),
                             keys={"issuer.example:sub": "repo:" + "a" * 200})
    finished, allowed = hang_guard(lambda: evaluate([policy], request, assume="allow").allowed)
    assert finished and allowed is False


def test_hostile_action_and_resource_patterns_are_answered_at_once(hang_guard):
    hostile_action = "s3:" + "*?" * 30 + "!"
    hostile_resource = "arn:aws:s3:::" + "*a" * 40 + "!"
    policy = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": hostile_action, "Resource": hostile_resource}]})
    long_arn = "arn:aws:s3:::" + "a" * 2000

    def ask():
        return (evaluate([policy], RequestContext(action="s3:" + "g" * 200, resource=long_arn)).allowed,
                evaluate([policy], RequestContext(action="s3:*", resource="*", wildcards="any")).allowed)

    finished, answers = hang_guard(ask)
    assert finished and answers == (False, True)


def test_wildcard_match_helper():
    assert wildcard_match("sts:AssumeRole*", "STS:AssumeRoleWithWebIdentity", ignore_case=True)
    assert not wildcard_match("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", ignore_case=True)
