"""`lint-trust --format sarif`: valid against the official SARIF 2.1.0 schema (tests/iac/sarif-schema-2.1.0.json,
from oasis-tcs/sarif-spec), one rule per check ID with its catalogue texts and GitHub's security-severity, results with
levels from our severities, locations relative to the working directory, and fingerprints that survive moved lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from connector_health.checks import get_check
from connector_health.cli import main
from connector_health.output_sarif import LINT_RULES

IAC = Path(__file__).resolve().parents[1] / "iac"
SCHEMA = json.loads((IAC / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
ARTEFACTS = ["cloudformation/configure-aws-credentials-federation-and-role.yml", "cloudformation/oidc-github-gitlab-eks.yaml",
             "cloudformation/sentinel", "terraform/eks-irsa-module-deferred-document.plan.json",
             "terraform/github-jsonencode-new-provider.plan.json"]


def _sarif(capsys, *argv: str) -> dict:
    main(["lint-trust", *argv, "--format", "sarif"])
    return json.loads(capsys.readouterr().out)


def _validate(log: dict) -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    errors = sorted(jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).iter_errors(log),
                    key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


@pytest.mark.parametrize("path", ARTEFACTS)
def test_valid_against_the_official_schema(capsys, monkeypatch, path):
    monkeypatch.chdir(IAC)
    log = _sarif(capsys, path)
    _validate(log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1 and log["runs"][0]["results"]


def test_the_schema_rejects_what_is_not_sarif():
    """The validation can fail: a result without its message, an unknown level."""
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                            "results": [{"ruleId": "R", "level": "fatal"}]}]}
    assert list(jsonschema.Draft4Validator(SCHEMA).iter_errors(broken))


def test_rules_one_per_check_with_catalogue_texts(capsys, monkeypatch):
    monkeypatch.chdir(IAC)
    run = _sarif(capsys, "cloudformation/oidc-github-gitlab-eks.yaml")["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(LINT_RULES) and "TRUST_ROLE_MISSING" not in LINT_RULES
    for rule in rules:
        check = get_check(rule["id"])
        assert rule["shortDescription"]["text"] == check.title
        assert check.remediation in rule["help"]["text"] and rule["fullDescription"]["text"]
        severity = float(rule["properties"]["security-severity"])
        expected = {"critical": (9.0, 10.0), "high": (7.0, 8.9), "medium": (4.0, 6.9), "low": (0.1, 3.9)}
        low, high = expected[check.default_severity.value]
        assert low <= severity <= high and "security" in rule["properties"]["tags"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_results_levels_and_locations(capsys, monkeypatch):
    monkeypatch.chdir(IAC)
    main(["lint-trust", "cloudformation/oidc-github-gitlab-eks.yaml", "--format", "json"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    run = _sarif(capsys, "cloudformation/oidc-github-gitlab-eks.yaml")["runs"][0]
    assert len(run["results"]) == len(findings)
    level = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
    for finding, result in zip(findings, run["results"]):
        assert result["ruleId"] == finding["check_id"] and result["level"] == level[finding["severity"]]
        assert result["properties"]["severity"] == finding["severity"]
        assert result["message"]["text"].startswith(finding["message"])
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": "cloudformation/oidc-github-gitlab-eks.yaml",
                                                "uriBaseId": "%SRCROOT%"}
        assert physical["region"]["startLine"] == finding["location"]["line"]
        assert result["locations"][0]["logicalLocations"][0]["name"] == finding["location"]["resource"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == IAC.resolve().as_uri() + "/"


def test_plan_results_point_at_the_file_and_the_address(capsys, monkeypatch):
    monkeypatch.chdir(IAC / "terraform")
    result = _sarif(capsys, "eks-irsa-module-deferred-document.plan.json")["runs"][0]["results"][0]
    location = result["locations"][0]
    assert location["physicalLocation"]["region"] == {"startLine": 1}  # a plan keeps no lines
    assert location["logicalLocations"][0]["name"].startswith('module.irsa["')


def test_fingerprints_are_stable_when_lines_move(capsys, tmp_path):
    original = tmp_path / "a" / "template.yaml"
    original.parent.mkdir()
    shutil.copy(IAC / "cloudformation/oidc-github-gitlab-eks.yaml", original)
    before = _sarif(capsys, str(original))["runs"][0]["results"]
    original.write_text("# a comment that moves every line\n\n" + original.read_text())
    after = _sarif(capsys, str(original))["runs"][0]["results"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] + 2 for r in before] == \
        [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after]
    assert [r["partialFingerprints"] for r in before] == [r["partialFingerprints"] for r in after]
    assert len({json.dumps(r["partialFingerprints"]) for r in after}) == len(after)  # one alert per finding


def test_no_findings_is_still_a_valid_log(capsys, monkeypatch):
    monkeypatch.chdir(IAC)
    log = _sarif(capsys, "cdk-eks-service-account")
    _validate(log)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"]
