"""Bounded evidence: what a state item keeps of a huge finding, and DynamoDB's item size as the store counts it."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_health.bounds import bounded, clip, fit, json_bytes
from connector_health.state.store import FINDING_BYTES, ITEM_LIMIT_BYTES, FindingRecord, finding_json, item_size


def test_long_lists_keep_their_first_items_and_their_count():
    actions = [f"svc:Action{i}" for i in range(12_000)]
    kept = bounded({"actions": actions, "count": 12_000})
    assert kept["actions"][:100] == actions[:100]
    assert kept["actions"][100] == "… and 11,900 more (12,000 in all)" and len(kept["actions"]) == 101
    assert kept["count"] == 12_000


def test_long_strings_say_how_long_they_were():
    text = clip("x" * 600_000, 512)
    assert len(text) == 512 and text.endswith("(600,000 characters in all)")


def test_fit_tightens_until_the_budget_holds():
    value = {"diff": ["line " + "y" * 5000] * 2000, "nested": {f"k{i}": list(range(300)) for i in range(500)}}
    small, cut = fit(value, 32 * 1024)
    assert cut and json_bytes(small) <= 32 * 1024
    same, cut = fit({"a": 1}, 100)
    assert not cut and same == {"a": 1}


def test_a_huge_finding_is_stored_within_its_share_of_an_item():
    finding = {"check_id": "PERMS_WRITE_UNEXPECTED", "message": "m" * 1_000_000,
               "details": {"allowed": [f"s:A{i}" for i in range(20_000)], "diff": ["d" * 10_000] * 100}}
    text = finding_json(finding)
    assert len(text.encode()) <= FINDING_BYTES
    stored = json.loads(text)
    assert stored["check_id"] == "PERMS_WRITE_UNEXPECTED" and stored["details"]["allowed"][-1].startswith("… and ")
    record = FindingRecord("f" * 32, "PERMS_WRITE_UNEXPECTED", "medium", "arn:" + "r" * 100_000, "open", "t", "t",
                           finding)
    assert item_size(record.item("ACCOUNT#1#CONNECTOR#c")) < ITEM_LIMIT_BYTES


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3000),
                    lambda children: st.lists(children, max_size=300) | st.dictionaries(st.text(max_size=50), children,
                                                                                        max_size=50),
                    max_leaves=400))
def test_any_evidence_is_stored_within_the_budget(details):
    text = finding_json({"check_id": "X", "message": "m", "details": details})
    assert len(text.encode("utf-8", "surrogatepass")) <= FINDING_BYTES


def test_item_size_counts_names_and_values():
    assert item_size({"pk": "abc", "n": 12345, "b": b"\x00" * 10, "ok": True}) == (2 + 3) + (1 + 4) + (1 + 10) + (2 + 1)
    assert item_size({"é": "ü"}) == 4
