"""CDK fixtures: one synthesis per test process, shared by every infra test (a synth costs ~8 s of Node.js).

The app holds four stacks, all checked by cdk-nag at that one synth:
- `ConnectorHealth`, built by app.py's `build()` from a full configuration (the example plus e-mails, an Entra
  client-credentials token source with a Secrets Manager secret, and every integration: Security Hub, a chat topic
  the stack creates, EventBridge on a named bus);
- `ConnectorHealthMinimal`: one GitHub connector, a cron schedule, no e-mails, no secret, no integration;
- `ConnectorHealthHub` and `ConnectorHealthMember`: the full configuration in hub mode (`org.enabled`) and the
  member stack built from it.

The Lambda layer is a stub directory made here (`python/` + the requirements stamp), so these templates need
neither the network nor `make layer`. What the functions run is tested apart, in test_lambda_runtime.py: the
synthesised code assets and environments with the real layer (`make layer`) under Python 3.12.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# aws-cdk-lib runs on the installed Node.js and prints a banner when that one is past end-of-life.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,19,20,21")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aws_cdk as cdk  # noqa: E402

from connector_health.config import load_config  # noqa: E402
from stacks import MonitorStack  # noqa: E402
from stacks.assets import LAYER_STAMP, requirements_digest, stage_lambda_asset  # noqa: E402
from stacks.member_stack import MemberStack  # noqa: E402
from stacks.monitor_stack import declared_read_actions  # noqa: E402

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:connector-health/entra-AbCdEf"
EVENT_BUS = "security-findings"
EMAILS = ["secops@example.com", "platform@example.com"]
MAIN, MINIMAL = "ConnectorHealth", "ConnectorHealthMinimal"
HUB, MEMBER = "ConnectorHealthHub", "ConnectorHealthMember"
ORG_ID = "o-a1b2c3d4e5"


def load_app_module():
    """app.py as a module (it is a script at the repository root, not a package)."""
    spec = importlib.util.spec_from_file_location("connector_health_cdk_app", REPO / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def full_config_data() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "connector-health.example.yaml").read_text(encoding="utf-8"))
    data["region"] = "eu-west-1"
    data["alerts"]["emails"] = list(EMAILS)
    data["alerts"]["create_chat_topic"] = True
    data["integrations"] = {"security_hub": {"enabled": True}, "eventbridge": {"enabled": True, "bus": EVENT_BUS}}
    data["connectors"].append({
        "name": "entra-app", "preset": "entra-app", "customer_tenant_id": "11111111-2222-4333-8444-555555555555",
        "audiences": ["api://connector-health-test"], "roles": [{"name": "app-reader"}],
        "token_source": {"type": "entra-client-credentials", "tenant_id": "11111111-2222-4333-8444-555555555555",
                         "client_id": "22222222-3333-4444-8555-666666666666",
                         "scope": "api://connector-health-test/.default", "secret_arn": SECRET_ARN},
    })
    return data


def minimal_config_data() -> dict[str, Any]:
    return {
        "schedule": "cron(0/15 * * * ? *)",
        "connectors": [{"name": "ci", "preset": "github-actions",
                        "roles": [{"name": "deploy", "audience": "sts.amazonaws.com"}],
                        "caller": {"sub": "repo:acme/infra:ref:refs/heads/main"}}],
    }


def hub_config_data() -> dict[str, Any]:
    data = full_config_data()
    data["org"] = {"enabled": True, "organization_id": ORG_ID, "worker_concurrency": 4, "max_receive_count": 3,
                   "worker_batch_size": 5, "worker_timeout_seconds": 300}
    return data


def make_stub_layer(directory: Path) -> Path:
    (directory / "python").mkdir(parents=True, exist_ok=True)
    (directory / "python" / "README.txt").write_text("stub layer for the CDK tests\n", encoding="utf-8")
    (directory / LAYER_STAMP).write_text(requirements_digest() + "\n", encoding="utf-8")
    return directory


@dataclass
class Synth:
    outdir: Path
    templates: dict[str, dict[str, Any]]
    configs: dict[str, Any]
    asset_dirs: dict[str, Path]

    def template(self, name: str = MAIN) -> cdk.assertions.Template:
        return cdk.assertions.Template.from_json(copy.deepcopy(self.templates[name]))

    def resources(self, cfn_type: str, name: str = MAIN) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[name]["Resources"].items() if v["Type"] == cfn_type}


@pytest.fixture(scope="session")
def app_module():
    return load_app_module()


@pytest.fixture(scope="session")
def stub_layer(tmp_path_factory) -> Path:
    return make_stub_layer(tmp_path_factory.mktemp("layer"))


@pytest.fixture(scope="session")
def synth(tmp_path_factory, app_module, stub_layer) -> Synth:
    work = tmp_path_factory.mktemp("cdk")
    full_path, minimal_path, hub_path = work / "full.yaml", work / "minimal.yaml", work / "hub.yaml"
    full_path.write_text(yaml.safe_dump(full_config_data()), encoding="utf-8")
    minimal_path.write_text(yaml.safe_dump(minimal_config_data()), encoding="utf-8")
    hub_path.write_text(yaml.safe_dump(hub_config_data()), encoding="utf-8")
    outdir = work / "cdk.out"
    app = cdk.App(outdir=str(outdir), context={
        **app_module.cdk_json_context(),
        "config": str(full_path), "layer_dir": str(stub_layer), "asset_dir": str(work / "asset-full"),
    })
    app_module.build(app)  # the path `cdk synth` takes, cdk-nag included
    minimal = load_config(minimal_path)
    MonitorStack(app, MINIMAL, config=minimal, asset_dir=stage_lambda_asset(minimal, work / "asset-minimal"),
                 layer_dir=stub_layer, env=cdk.Environment(region=minimal.region))
    hub = load_config(hub_path)
    MonitorStack(app, HUB, config=hub, asset_dir=stage_lambda_asset(hub, work / "asset-hub"), layer_dir=stub_layer,
                 env=cdk.Environment(region=hub.region))
    MemberStack(app, MEMBER, config=hub, read_actions=declared_read_actions())
    app.synth()  # raises when cdk-nag reports a violation
    templates = {name: json.loads((outdir / f"{name}.template.json").read_text(encoding="utf-8"))
                 for name in (MAIN, MINIMAL, HUB, MEMBER)}
    return Synth(outdir=outdir, templates=templates,
                 configs={MAIN: load_config(full_path), MINIMAL: minimal, HUB: hub},
                 asset_dirs={MAIN: work / "asset-full", MINIMAL: work / "asset-minimal", HUB: work / "asset-hub"})
