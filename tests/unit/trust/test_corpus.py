"""The real-world corpus (tests/corpus/): trust policies nobody here wrote, each with its source, the verdict AWS's
semantics give and why. Every case runs through `lint-trust`'s entry point; its TRUST_* findings must be exactly the
expected IDs at the expected severities. A documented good setup must produce nothing at medium or above."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from connector_health.cli import main
from connector_health.findings import Severity
from connector_health.trust.lint import lint_policy

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
CASES = sorted(CORPUS.glob("*/*.yaml"))
KINDS = {"documented-good", "documented-option", "documented-hole", "documented-legacy", "peer-fixture", "real-world",
         "adversarial-variant"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def verdict(case: dict) -> dict[str, str]:
    lint = case.get("lint") or {}
    findings = lint_policy(json.dumps(case["policy"]), preset=lint.get("preset"), issuer=lint.get("issuer"),
                           provider_audiences=lint.get("provider_audiences"), caller=lint.get("caller"),
                           resource=case["id"])
    worst: dict[str, str] = {}
    for f in findings:
        if f.check_id.startswith("TRUST_") and (f.check_id not in worst or f.severity.rank > Severity(worst[f.check_id]).rank):
            worst[f.check_id] = f.severity.value
    return worst


def test_corpus_size_and_breadth():
    cases = [load(p) for p in CASES]
    good = [c for c in cases if c["kind"] == "documented-good"]
    assert len(cases) >= 60
    assert len(good) >= 15 and len({c["family"] for c in good}) >= 5
    assert {c["kind"] for c in cases} <= KINDS
    assert len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        assert case["source"] and case["why"] and case["policy"]
    # Holes are covered by ID, not only by count: every by-effect ID that judges who gets in appears as expected.
    fired = Counter(cid for c in cases for cid in c["expect"]["fire"])
    for cid in ("TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED", "TRUST_AUDIENCE_UNRESTRICTED",
                "TRUST_EXPECTED_IDENTITY_DENIED", "TRUST_WILDCARD_VALUE", "TRUST_UNEXPECTED_PRINCIPAL",
                "TRUST_INVALID_DOCUMENT"):
        assert fired[cid] >= 1, cid


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_case(path):
    case = load(path)
    got = verdict(case)
    expected = case["expect"]["fire"]
    assert got == expected, f"{case['id']} ({case['source']}): got {got}, expected {expected} because {case['why']}"
    if case["kind"] == "documented-good":
        assert all(Severity(s).rank < Severity.MEDIUM.rank for s in got.values()), case["id"]


def test_corpus_through_the_cli(tmp_path, capsys):
    """The same verdict through `connector-health lint-trust FILE --format json` (options as the CLI spells them)."""
    for path in CASES[::7]:
        case = load(path)
        lint = case.get("lint") or {}
        policy = tmp_path / f"{case['id']}.json"
        policy.write_text(json.dumps(case["policy"]))
        argv = ["lint-trust", str(policy), "--format", "json", "--fail-on", "critical"]
        argv += ["--preset", lint["preset"]] if lint.get("preset") else []
        for value in lint.get("caller") or []:
            argv += ["--caller", value]
        for value in lint.get("provider_audiences") or []:
            argv += ["--provider-audience", value]
        status = main(argv)
        out = json.loads(capsys.readouterr().out)
        ids = {f["check_id"] for f in out["findings"]}
        assert ids == set(case["expect"]["fire"]), case["id"]
        assert status == (1 if "critical" in case["expect"]["fire"].values() else 0), case["id"]
