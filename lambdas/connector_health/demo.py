"""`make demo`: the scripted story on the sandbox, start to end, with no internet.

healthy -> the issuer rotates its intermediate -> thumbprint mismatch -> thumbprint updated -> a trust policy is
widened -> restored -> the issuer moves to a private CA -> provider deleted -> repaired. Each step changes the emulated world the way an operator or the issuer
would, then runs the same engine as `connector-health check` and prints what it reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from rich.console import Console
from rich.panel import Panel

from .config import load_config
from .engine import scan_account
from .output import render_table
from .sandbox import Sandbox


def run_demo(console: Console | None = None) -> int:
    console = console or Console(width=150)
    console.print(Panel.fit(
        "connector-health demo: an emulated AWS account (moto) with Microsoft Defender for Cloud's OIDC provider and "
        "plan roles,\nand a local HTTPS issuer with its own root CA and intermediate standing in for sts.windows.net.",
        title="connector-health", border_style="blue"))
    with Sandbox() as sandbox:
        saved = {k: os.environ.get(k) for k in sandbox.env()}
        os.environ.update(sandbox.env())
        try:
            return _story(console, sandbox)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _story(console: Console, sandbox: Sandbox) -> int:
    assert sandbox.issuer and sandbox.pki
    config = load_config(sandbox.config_path)
    iam = sandbox.client("iam")
    provider_arn = sandbox.seeded["provider_arn"]
    issuer = sandbox.issuer

    def step(number: int, title: str, action: Callable[[], str] | None, expect: set[str]) -> bool:
        console.rule(f"[bold]Step {number}: {title}")
        if action:
            console.print(f"[cyan]What happens:[/] {action()}")
        result = scan_account(config)
        render_table(result.findings, result.summary(), console=console)
        got = {f.check_id for f in result.findings}
        ok = expect <= got and (expect or not got)
        console.print(("[green]as expected[/]" if ok else f"[red]unexpected: wanted {sorted(expect) or 'no findings'}, got {sorted(got)}[/]"))
        return ok

    def rotate() -> str:
        old = sandbox.pki.thumbprint
        new = issuer.rotate_intermediate()
        return (f"the issuer rotates its intermediate CA (same root). Thumbprint {old} -> {new}; the IAM provider "
                f"still pins {old}.")

    def update_thumbprint() -> str:
        iam.update_open_id_connect_provider_thumbprint(
            OpenIDConnectProviderArn=provider_arn, ThumbprintList=[sandbox.pki.thumbprint])
        return f"the operator pins the new thumbprint {sandbox.pki.thumbprint} (the fix the finding gave)."

    cspm_trust = iam.get_role(RoleName="CspmMonitorAws")["Role"]["AssumeRolePolicyDocument"]

    def widen_trust() -> str:
        widened = json.loads(json.dumps(cspm_trust))
        widened["Statement"][0]["Condition"]["StringLike"]["sts:RoleSessionName"] = "MicrosoftDefenderForClouds_*"
        widened["Statement"].append({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                                     "Action": "sts:AssumeRole"})
        iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(widened))
        return ("someone widens CspmMonitorAws's trust policy: the session name now matches any tenant "
                "(MicrosoftDefenderForClouds_*) and account 999988887777 may assume the role.")

    def restore_trust() -> str:
        iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(cspm_trust))
        return "the operator restores the template's trust policy."

    def untrusted() -> str:
        new = issuer.switch_to_untrusted_chain()
        return (f"the issuer moves to a chain from a private CA (not in the trust store); thumbprint {new} is not pinned, "
                "so AWS has nothing to trust it by.")

    def delete_provider() -> str:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
        return f"someone deletes the OIDC provider {provider_arn}."

    def repair() -> str:
        nonlocal provider_arn
        from .presets import load_preset

        provider_arn = iam.create_open_id_connect_provider(
            Url=issuer.url, ClientIDList=list(load_preset("defender-for-cloud").audiences),
            ThumbprintList=[sandbox.pki.thumbprint])["OpenIDConnectProviderArn"]
        return "the operator re-runs the onboarding template: the provider is back, pinned to the live chain."

    results = [
        step(1, "healthy account", None, set()),
        step(2, "the issuer rotates its intermediate", rotate, {"PROVIDER_THUMBPRINT_MISMATCH"}),
        step(3, "thumbprint updated", update_thumbprint, set()),
        step(4, "a trust policy is widened", widen_trust,
             {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED", "TRUST_UNEXPECTED_PRINCIPAL"}),
        step(5, "the trust policy is restored", restore_trust, set()),
        step(6, "the issuer moves to a private CA", untrusted,
             {"PROVIDER_THUMBPRINT_MISMATCH", "PROVIDER_DISCOVERY_UNREACHABLE"}),
        step(7, "the OIDC provider is deleted", delete_provider, {"PROVIDER_MISSING"}),
        step(8, "repaired", repair, set()),
    ]
    console.rule()
    if all(results):
        console.print("[bold green]Demo finished: every step reported what it should.[/]")
        return 0
    console.print(f"[bold red]Demo finished with {results.count(False)} unexpected step(s).[/]")
    return 1
