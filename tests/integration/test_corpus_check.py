"""A sample of the real-world corpus (cases marked `sample_check`) through `check` on the sandbox: the policy is
attached to a role in the emulated account, its issuer replaced by the sandbox's local issuer (a provider with the
case's ClientIDList), and the connector configured as its owner would. The TRUST_* verdict must equal lint-trust's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
import yaml

from connector_health.config import parse_config
from connector_health.engine import scan_account
from connector_health.findings import Severity
from connector_health.presets import load_preset
from connector_health.trust.lint import issuer_key_of

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SAMPLE = [p for p in sorted(CORPUS.glob("*/*.yaml")) if yaml.safe_load(p.read_text(encoding="utf-8")).get("sample_check")]
PRESET_OF_FAMILY = {"github": "github-actions", "gitlab": "gitlab", "eks": "eks-irsa", "defender": "defender-for-cloud",
                    "sentinel": "microsoft-sentinel", "entra": "entra-app"}
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _provider_audiences(case: dict, preset: str, written: list[str]) -> list[str]:
    lint = case.get("lint") or {}
    if lint.get("provider_audiences"):
        return list(lint["provider_audiences"])
    named = load_preset(preset).audiences
    return list(named) if len(named) > 1 else (written or list(named) or ["sts.amazonaws.com"])


def test_sample_is_broad():
    families = {yaml.safe_load(p.read_text(encoding="utf-8"))["family"] for p in SAMPLE}
    assert len(SAMPLE) >= 10 and len(families) >= 5


@pytest.mark.parametrize("path", SAMPLE, ids=[p.stem for p in SAMPLE])
def test_corpus_case_through_check(sandbox, path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    lint = case.get("lint") or {}
    preset = lint.get("preset") or PRESET_OF_FAMILY[case["family"]]
    text = json.dumps(case["policy"])
    federated = next(v for s in case["policy"]["Statement"] for v in [s["Principal"].get("Federated")] if v)
    key = issuer_key_of(federated)
    local = sandbox.issuer.url.removeprefix("https://")
    written = sorted(set(re.findall(re.escape(f'"{key}:aud": "') + r'([^"]+)"', text)))
    requests.post(f"{sandbox.endpoint_url}/moto-api/reset", timeout=10)
    iam = sandbox.client("iam")
    provider_arn = iam.create_open_id_connect_provider(
        Url=sandbox.issuer.url, ClientIDList=_provider_audiences(case, preset, written),
        ThumbprintList=[sandbox.pki.thumbprint])["OpenIDConnectProviderArn"]
    policy = text.replace(json.dumps(federated), json.dumps(provider_arn)).replace(f'"{key}:', f'"{local}:')
    iam.create_role(RoleName="corpus-role", AssumeRolePolicyDocument=policy)

    caller = dict(v.split("=", 1) for v in lint.get("caller") or [])
    role: dict = {"name": "corpus-role"}
    aud = caller.pop("aud", None) or (written[0] if written else None)
    if aud:
        role["audience"] = aud
    connector: dict = {"name": "corpus", "preset": preset, "issuer": sandbox.issuer.url, "roles": [role], "caller": caller}
    session = caller.get("sts:RoleSessionName", "")
    if preset == "defender-for-cloud":
        connector |= {"plans": [], "customer_tenant_id": re.search(GUID, session).group(0)}
    elif preset == "microsoft-sentinel":
        connector["workspace_id"] = re.search(GUID, session).group(0) if session else "5d9e1c7a-3b2f-4e6d-9c8b-7a6f5e4d3c2b"
    elif preset == "entra-app":
        connector |= {"customer_tenant_id": re.search(GUID, key).group(0), "audiences": written}
    data = sandbox.config_dict() | {"connectors": [connector]}
    result = scan_account(parse_config(data), exchanges=False)

    got: dict[str, str] = {}
    for f in result.findings:
        if f.check_id.startswith("TRUST_") and f.details.get("role") == "corpus-role":
            if f.check_id not in got or f.severity.rank > Severity(got[f.check_id]).rank:
                got[f.check_id] = f.severity.value
    assert got == case["expect"]["fire"], f"{case['id']}: check says {got}, lint-trust and AWS semantics {case['expect']['fire']}"
    assert not [f for f in result.findings if f.check_id.startswith("PROVIDER_")], case["id"]
