"""`cdk synth` through the pinned npm aws-cdk CLI (cdk.json runs `python3 app.py`), offline and without AWS
credentials. `make test` installs node_modules (npm ci) first; without it this test is skipped, saying why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from .conftest import REPO

CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK_CLI.exists(), reason="node_modules/.bin/cdk missing: run `make node_modules` (npm ci); "
                                                 "`make test` installs it")
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_cdk_cli_synth_works_offline_without_credentials(stub_layer, tmp_path):
    out = tmp_path / "cli.out"
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true",
           # No AWS account is needed: take no credentials from whoever runs the tests.
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "CDK_CONTEXT_JSON"):
        env.pop(var, None)
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "--no-notices", "-o", str(out),
         "-c", f"config={REPO / 'connector-health.example.yaml'}",
         "-c", f"layer_dir={stub_layer}", "-c", f"asset_dir={tmp_path / 'asset'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((out / "ConnectorHealth.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::Lambda::LayerVersion", "AWS::Events::Rule", "AWS::SNS::Topic",
            "AWS::DynamoDB::Table", "AWS::CloudWatch::Dashboard", "AWS::CloudWatch::Alarm"} <= types
    [function] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["Handler"] == "handlers.scan.handler"
    assert (out / "manifest.json").is_file()
