"""Seeds the emulated account: Microsoft's Defender for Cloud onboarding as its published template deploys it.

`defender_onboarding_template.json` holds what the last public template (Azure/Microsoft-Defender-for-Cloud,
MultiCloud/AWS/AwsOnboarding.tf at commit 20917cec, February 2024) creates: the OIDC providers, the customer-managed
policies, every role with its trust policy and attachments. It is data transcribed from the template, with the
commit as source; `{placeholders}` are the template's variables.

- `seed_onboarding_template` creates all of it as Terraform or CloudFormation would (they differ in one place: the
  Terraform file never attaches the CSPM deny policy, see the data file's notes).
- `seed_defender_account` creates the provider and the plan roles the preset describes (today's role names),
  with the template's trust policies and policies: the healthy account the demo and most tests start from.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from ..presets import load_preset

# A made-up customer Azure tenant for the sandbox.
CUSTOMER_TENANT = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
SESSION_PREFIX = "MicrosoftDefenderForClouds_"
TEMPLATE_ISSUER_KEY = "sts.windows.net/{aad_tenant}/"
TEMPLATE_CIEM_KEY = "sts.windows.net/{client_tenant}/"


@lru_cache(maxsize=1)
def onboarding_template() -> dict[str, Any]:
    """The template's resources as data (see the module docstring)."""
    text = resources.files(__package__).joinpath("defender_onboarding_template.json").read_text(encoding="utf-8")
    return json.loads(text)


def _render(value: Any, values: dict[str, str]) -> Any:
    """The data with `{placeholders}` filled (issuer keys first: the sandbox's issuers replace Microsoft's hosts)."""
    text = json.dumps(value)
    for key, replacement in values.items():
        text = text.replace("{" + key + "}" if not key.startswith("sts.") else key, replacement)
    return json.loads(text)


def trust_policy(provider_arn: str, issuer_key: str, audience: str, tenant: str = CUSTOMER_TENANT) -> dict[str, Any]:
    """The trust policy the Defender template writes for each plan role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringLike": {
                        f"{issuer_key}:aud": audience,
                        "sts:RoleSessionName": f"{SESSION_PREFIX}{tenant}",
                    }
                },
            }
        ],
    }


def template_policy(name: str, account: str, partition: str = "aws") -> dict[str, Any]:
    """One of the template's customer-managed policies as a document for `account`."""
    return _render(onboarding_template()["policies"][name], {"account": account, "partition": partition})


def _managed_arn(iam, name: str, account: str, created: dict[str, str], values: dict[str, str]) -> str:
    """The ARN to attach for a template policy name: AWS-managed ARNs as they are, the template's own created once."""
    if name.startswith("arn:"):
        return name
    if name not in created:
        document = _render(onboarding_template()["policies"][name], values)
        created[name] = iam.create_policy(PolicyName=_render(name, values), PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    return created[name]


def seed_onboarding_template(iam, issuer_url: str, thumbprint: str, *, client_tenant: str = CUSTOMER_TENANT,
                             ciem_issuer_url: str | None = None, ciem_thumbprint: str | None = None,
                             deployer: str = "cloudformation", partition: str = "aws",
                             role_names: dict[str, str] | None = None) -> dict[str, Any]:
    """Create every provider, policy and role of Microsoft's onboarding template, with the sandbox's local issuer(s)
    in place of sts.windows.net. `deployer`: "cloudformation" (the deny policy attached) or "terraform" (as the
    Terraform file applies: created, not attached). Without `ciem_issuer_url` the CIEM provider and its two roles
    are left out (they need a second issuer). `role_names` renames roles as the template's role-name variables do
    (e.g. {"CspmMonitorAws": "Cspm-Prod"} for CspmMonitorAwsIamRoleName). Returns what it made."""
    if deployer not in ("cloudformation", "terraform"):
        raise ValueError("deployer must be 'cloudformation' or 'terraform'")
    data = onboarding_template()
    issuer_key = issuer_url.removeprefix("https://")
    ciem_key = (ciem_issuer_url or "").removeprefix("https://")
    providers = {}
    for spec in data["providers"]:
        is_ciem = TEMPLATE_CIEM_KEY in spec["url"]
        if is_ciem and not ciem_issuer_url:
            continue
        url = ciem_issuer_url if is_ciem else issuer_url
        arn = iam.create_open_id_connect_provider(
            Url=url, ClientIDList=list(spec["client_ids"]),
            ThumbprintList=[(ciem_thumbprint or thumbprint) if is_ciem else thumbprint])["OpenIDConnectProviderArn"]
        providers["ciem" if is_ciem else "defender"] = arn
    account = providers["defender"].split(":")[4]
    values = {TEMPLATE_ISSUER_KEY: issuer_key, TEMPLATE_CIEM_KEY: ciem_key or TEMPLATE_CIEM_KEY,
              **data["variables"], "client_tenant": client_tenant, "account": account, "partition": partition}
    skipped = data["terraform_unattached"] if deployer == "terraform" else {}
    created: dict[str, str] = {}
    roles = []
    for spec in data["roles"]:
        if not ciem_issuer_url and spec["name"] in ("DefenderForCloud-OidcCiem", "DefenderForCloud-Ciem"):
            continue
        name = (role_names or {}).get(spec["name"]) or _render(spec["name"], values)
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_render(spec["trust"], values)),
                        Description=spec["description"])
        for managed in spec["managed"]:
            arn = _managed_arn(iam, managed, account, created, values)  # created even when not attached
            if managed not in skipped.get(spec["name"], ()):
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for inline, document in spec.get("inline", {}).items():
            iam.put_role_policy(RoleName=name, PolicyName=_render(inline, values),
                                PolicyDocument=json.dumps(_render(document, values)))
        roles.append(name)
    return {"account": account, "provider_arn": providers["defender"], "ciem_provider_arn": providers.get("ciem"),
            "roles": roles, "policy_arns": dict(created), "deployer": deployer}


def _template_trust(role_name: str, aliases: list[str]) -> dict[str, Any] | None:
    for spec in onboarding_template()["roles"]:
        if spec["name"] in (role_name, *aliases):
            return spec["trust"]
    return None


def seed_defender_account(iam, issuer_url: str, thumbprint: str, plans: list[str] | None = None) -> dict[str, Any]:
    """Create the provider, the template's policies and the preset's plan roles (under today's names).

    Every role gets the template's trust policy and exactly the policies its preset entry lists (the template's own
    documents, the rest AWS-managed), so the healthy account produces no PERMS_* finding. `plans`: only these plans'
    roles (default: every plan). Returns what it made."""
    preset = load_preset("defender-for-cloud")
    provider_arn = iam.create_open_id_connect_provider(
        Url=issuer_url, ClientIDList=list(preset.audiences), ThumbprintList=[thumbprint]
    )["OpenIDConnectProviderArn"]
    account = provider_arn.split(":")[4]
    values = {TEMPLATE_ISSUER_KEY: issuer_url.removeprefix("https://"), **onboarding_template()["variables"],
              "client_tenant": CUSTOMER_TENANT, "account": account, "partition": "aws"}
    created: dict[str, str] = {}
    deny_arn = _managed_arn(iam, "CspmMonitorAwsDenyPolicy", account, created, values)
    roles = []
    for plan, specs in preset.plans.items():
        if plans is not None and plan not in plans:
            continue
        for spec in specs:
            trust = _template_trust(spec.name, spec.aliases)
            document = _render(trust, values) if trust else \
                trust_policy(provider_arn, values[TEMPLATE_ISSUER_KEY], spec.audience or "")
            iam.create_role(
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(document),
                Description=f"Microsoft Defender for Cloud ({plan})",
                Tags=[{"Key": "CreatedBy", "Value": "Microsoft Defender for Cloud"}],
            )
            for managed in spec.managed_policies:
                name = managed if managed in onboarding_template()["policies"] else f"arn:aws:iam::aws:policy/{managed}"
                iam.attach_role_policy(RoleName=spec.name, PolicyArn=_managed_arn(iam, name, account, created, values))
            for inline in spec.inline_policies:
                iam.put_role_policy(RoleName=spec.name, PolicyName=inline,
                                    PolicyDocument=json.dumps(template_policy(inline, account)))
            roles.append(spec.name)
    return {"account": account, "provider_arn": provider_arn, "roles": roles, "deny_policy_arn": deny_arn,
            "policy_arns": dict(created)}


def defender_history(account: str, provider_arn: str, roles: list[str], issuer_url: str, region: str,
                     subject: str) -> dict[str, Any]:
    """A seeded account's recent traffic: Defender's scan assumed its first plan role a minute ago (a CloudTrail
    record as the STS stand-in writes for a real call), so a freshly seeded connector is not silent."""
    from .cloudtrail import web_identity_record

    preset = load_preset("defender-for-cloud")
    role = roles[0] if roles else "CspmMonitorAws"
    audience = next((r.audience for specs in preset.plans.values() for r in specs if r.name == role), preset.audiences[0])
    return web_identity_record(
        role_arn=f"arn:aws:iam::{account}:role/{role}", session_name=f"{SESSION_PREFIX}{CUSTOMER_TENANT}",
        claims={"iss": issuer_url, "aud": audience, "sub": subject},
        provider_arn=provider_arn, region=region, duration=3600, user_agent="MicrosoftDefenderForCloud/1.0",
        when=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1),
        credentials={"AccessKeyId": "ASIASANDBOXHISTORY01", "SessionToken": "sandbox-history-session-token",
                     "Expiration": "sandbox"},
    )
