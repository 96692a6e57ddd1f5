"""The gates `make test` enforces on the CDK app: cdk-nag (AwsSolutions), cfn-lint, and a synth that fails with one
line on a user's mistake. The CLI synth is in test_cdk_cli.py."""

from __future__ import annotations

import json
import re

import pytest
from cfnlint.api import lint

from .conftest import MAIN, MINIMAL, REPO

# Acknowledged AwsSolutions findings, by logical ID without its hash (the reasons live beside the resources in stacks/).
EXPECTED_ACKNOWLEDGEMENTS = {
    "ScannerFailedScans": {"AwsSolutions-SQS3"},
    "ScannerExecutionRoleDefaultPolicy": {"AwsSolutions-IAM5[Resource::*]"},
    "ScannerFunction": {"AwsSolutions-L1"},
}


def acknowledgements(template: dict) -> dict[str, dict[str, str]]:
    """{logical ID without its hash: {rule id: reason}} from the cdk_nag metadata the app writes into the template."""
    found: dict[str, dict[str, str]] = {}
    for logical_id, resource in template["Resources"].items():
        rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
        if rules:
            found[re.sub(r"[0-9A-F]{8}$", "", logical_id)] = {
                r["id"].removeprefix("AwsSolutions::"): r["reason"] for r in rules}
    return found


def test_cdk_nag_passes_with_only_per_resource_acknowledgements_that_carry_a_reason(synth):
    report = json.loads((synth.outdir / "validation-report.json").read_text()) \
        if (synth.outdir / "validation-report.json").exists() else {"pluginReports": []}
    assert not [r for r in report["pluginReports"] if r.get("conclusion") == "failure"]  # synth raised otherwise
    for name in (MAIN, MINIMAL):
        acks = acknowledgements(synth.templates[name])
        assert {path: set(rules) for path, rules in acks.items()} == EXPECTED_ACKNOWLEDGEMENTS
        for rules in acks.values():
            for rule, reason in rules.items():
                assert len(reason) > 60 and "todo" not in reason.lower(), (rule, reason)
        assert "cdk_nag" not in synth.templates[name].get("Metadata", {}), "no stack-wide acknowledgement"


def test_cdk_nag_fails_synthesis_on_a_violation(app_module, stub_layer, tmp_path):
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs

    app = cdk.App(outdir=str(tmp_path / "out"), context={
        **app_module.cdk_json_context(), "config": str(REPO / "connector-health.example.yaml"),
        "layer_dir": str(stub_layer), "asset_dir": str(tmp_path / "asset")})
    stack = app_module.build(app)
    sqs.Queue(stack, "Unacknowledged")  # no DLQ, no TLS-only policy
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


@pytest.mark.parametrize("name", [MAIN, MINIMAL])
def test_cfn_lint_passes_on_the_synthesized_template(synth, name):
    text = (synth.outdir / f"{name}.template.json").read_text()
    region = synth.configs[name].region
    matches = lint(text, regions=[region])
    assert not matches, "\n".join(f"{m.rule.id} {m.message} ({m.path})" for m in matches)


def run_main(app_module, capsys, tmp_path, **context) -> tuple[int, str]:
    """app.py's `main()` as `python app.py` runs it, with `-c` context."""
    code = app_module.main(context, outdir=str(tmp_path / "cdk.out"))
    return code, capsys.readouterr().err


def test_config_error_fails_synth_with_one_line(app_module, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("connectors:\n  - name: x\n    preset: defendr\n")
    code, err = run_main(app_module, capsys, tmp_path, config=str(bad), asset_dir=str(tmp_path / "asset"))
    assert code == 1
    assert err.splitlines() == [f"connector-health: config error: {bad}: connectors[0].preset = 'defendr': unknown "
                                "preset; use one of defender-for-cloud, microsoft-sentinel, github-actions, eks-irsa, "
                                "gitlab, entra-app, generic"]


def test_missing_layer_fails_synth_with_one_line_that_says_make_layer(app_module, capsys, tmp_path):
    code, err = run_main(app_module, capsys, tmp_path, config=str(REPO / "connector-health.example.yaml"),
                         layer_dir=str(tmp_path / "none"), asset_dir=str(tmp_path / "asset"))
    assert code == 1
    assert err.splitlines() == [
        f"connector-health: Lambda layer not built ({tmp_path / 'none'}/python is missing): run `make layer`"]
