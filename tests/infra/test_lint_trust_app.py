"""`lint-trust cdk.out` on this project's own synthesised app (the shared synthesis, tests/infra/conftest.py): every
role of the four stacks is linted; the member stack's role, which trusts the hub's worker role from a template
parameter, is no false alarm, and a widened copy of it is caught at its line."""

from __future__ import annotations

import json
import shutil

import pytest

from connector_health.cli import main

from .conftest import MEMBER

pytestmark = pytest.mark.usefixtures("synth")


def _lint(capsys, *argv: str) -> tuple[int, dict]:
    status = main(["lint-trust", *argv, "--format", "json"])
    return status, json.loads(capsys.readouterr().out)


def _member_role(synth) -> str:
    return next(k for k, v in synth.resources("AWS::IAM::Role", MEMBER).items())


def test_every_role_of_the_app_is_linted_and_none_is_a_false_alarm(synth, capsys):
    status, out = _lint(capsys, str(synth.outdir), "--fail-on", "info")
    assert status == 0 and out["findings"] == [], [f["message"] for f in out["findings"]]
    assert out["summary"]["inputs"] == [{"path": out["summary"]["inputs"][0]["path"], "kind": "cdk-assembly",
                                        "templates": 4, "roles": out["summary"]["inputs"][0]["roles"]}]
    linted = {(r["file"].rsplit("/", 1)[-1], r["resource"]): r["kind"] for r in out["summary"]["roles"]}
    expected = {(f"{stack}.template.json", logical) for stack, template in synth.templates.items()
                for logical, resource in template["Resources"].items() if resource["Type"] == "AWS::IAM::Role"}
    assert set(linted) == expected and len(expected) >= 6
    # The member role trusts an AWS principal (the hub's worker role): judged for what matters for any role.
    assert linted[(f"{MEMBER}.template.json", _member_role(synth))] == "other"


def test_member_role_with_the_hub_worker_given_stays_clean(synth, capsys):
    worker = "arn:aws:iam::123456789012:role/ConnectorHealthHub-WorkerRole"
    status, out = _lint(capsys, str(synth.outdir), "--parameter", f"HubWorkerRoleArn={worker}", "--fail-on", "info")
    assert status == 0 and out["findings"] == []


def test_widened_member_role_is_caught_at_its_statement(synth, tmp_path, capsys):
    copy = tmp_path / "cdk.out"
    shutil.copytree(synth.outdir, copy, ignore=shutil.ignore_patterns("asset.*"))
    path = copy / f"{MEMBER}.template.json"
    template = json.loads(path.read_text(encoding="utf-8"))
    logical = _member_role(synth)
    statement = template["Resources"][logical]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    statement["Principal"] = {"AWS": "*"}
    text = json.dumps(template, indent=1)
    path.write_text(text, encoding="utf-8")
    status, out = _lint(capsys, str(copy))
    assert status == 1
    [finding] = out["findings"]
    assert finding["check_id"] == "TRUST_WILDCARD_PRINCIPAL" and finding["severity"] == "critical"
    location = finding["location"]
    assert location["resource"] == logical and location["file"].endswith(f"{MEMBER}.template.json")
    assert location["stack"] == MEMBER and location["resource_type"] == "AWS::IAM::Role"
    # The line is the statement's, in the file as written.
    lines = text.splitlines()
    assert lines[location["line"] - 1].strip() == "{" and '"Action": "sts:AssumeRole"' in lines[location["line"]]
