"""`make demo`: the scripted story on the sandbox, start to end, with no internet.

Each step changes the emulated world the way an operator, an attacker or the issuer would, then runs what the
scheduled Lambda runs (`connector-health run`: scan, state, alerts) and prints the findings and the alert e-mails
it sent, read back from the emulated SNS topic.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.panel import Panel

from .config import load_config
from .output import render_table
from .pipeline import accept_baseline, run_pipeline
from .presets import load_preset
from .sandbox import Sandbox

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


@dataclass
class Step:
    title: str
    action: Callable[[], str] | None
    expect: set[str]  # check IDs that must be reported (empty: no finding at all)
    mails: int | None = None  # alert e-mails expected (None: don't care)


def run_demo(console: Console | None = None) -> int:
    console = console or Console(width=150)
    console.print(Panel.fit(
        "connector-health demo: an emulated AWS account (moto) with Microsoft Defender for Cloud's OIDC provider and plan "
        "roles,\na local HTTPS issuer with its own root CA and intermediate standing in for sts.windows.net, and a validating "
        "STS.\nEach step runs what the scheduled Lambda runs and shows the findings and the alert e-mails it sent.",
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
    issuer = sandbox.issuer
    state = {"provider_arn": sandbox.seeded["provider_arn"]}
    cspm_trust = iam.get_role(RoleName="CspmMonitorAws")["Role"]["AssumeRolePolicyDocument"]

    def run_step(number: int, step: Step) -> bool:
        console.rule(f"[bold]Step {number}: {step.title}")
        if step.action:
            console.print(f"[cyan]What happens:[/] {step.action()}")
        result = run_pipeline(config, run_id=f"demo-{number}-{uuid.uuid4().hex[:8]}")
        render_table(result.scan.findings, result.scan.summary(), console=console, show_remediation=False)
        for issuer_url, probe in (result.scan.summary().get("probes") or {}).items():
            console.print(f"[dim]forged probe against {issuer_url}: stage reached {probe.get('stage')!r}, "
                          f"{probe.get('latency_ms')} ms[/]")
        if result.baselines_recorded:
            console.print(f"[dim]baseline recorded for: {', '.join(result.baselines_recorded)}[/]")
        mails = sandbox.read_alerts()
        if not mails:
            console.print("[dim]No alert e-mail (nothing changed that people have not been told).[/]")
        for mail in mails:
            console.print(Panel(mail["body"], title=f"E-mail: {mail['subject']}", subtitle=json.dumps(mail["attributes"]),
                                border_style="magenta"))
        got = {f.check_id for f in result.scan.findings}
        ok = (step.expect <= got if step.expect else not got) and (step.mails is None or step.mails == len(mails))
        console.print("[green]as expected[/]" if ok else
                      f"[red]unexpected: wanted {sorted(step.expect) or 'no findings'} and {step.mails} mail(s), "
                      f"got {sorted(got)} and {len(mails)}[/]")
        return ok

    def rotate() -> str:
        old = sandbox.pki.thumbprint
        new = issuer.rotate_intermediate()
        return f"the issuer rotates its intermediate CA (same root). Thumbprint {old} -> {new}; the provider still pins {old}."

    def repeat() -> str:
        return "nothing changes; the monitor runs again an hour later (no new e-mail: people were told already)."

    def update_thumbprint() -> str:
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=state["provider_arn"],
                                                       ThumbprintList=[sandbox.pki.thumbprint])
        accept_baseline(config)
        return (f"the operator pins {sandbox.pki.thumbprint} (the fix the finding gave) and accepts the new state: "
                "`connector-health baseline accept`.")

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

    def attach_admin() -> str:
        iam.attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=ADMIN)
        return "someone attaches AdministratorAccess to CspmMonitorAws."

    def detach_read_only() -> str:
        iam.detach_role_policy(RoleName="CspmMonitorAws", PolicyArn=ADMIN)
        iam.detach_role_policy(RoleName="CspmMonitorAws", PolicyArn=READ_ONLY)
        return "AdministratorAccess is removed again, but so is ReadOnlyAccess: the CSPM plan can no longer read the account."

    def restore_permissions() -> str:
        iam.attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=READ_ONLY)
        return "the operator re-attaches ReadOnlyAccess."

    def delete_provider() -> str:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=state["provider_arn"])
        return f"someone deletes the OIDC provider {state['provider_arn']}."

    def repair() -> str:
        state["provider_arn"] = iam.create_open_id_connect_provider(
            Url=issuer.url, ClientIDList=list(load_preset("defender-for-cloud").audiences),
            ThumbprintList=[sandbox.pki.thumbprint])["OpenIDConnectProviderArn"]
        return "the operator re-runs the onboarding template: the provider is back with its audiences and thumbprint."

    steps = [
        Step("healthy account (first run records the baseline)", None, set(), 0),
        Step("the issuer rotates its intermediate", rotate, {"PROVIDER_THUMBPRINT_MISMATCH"}, 1),
        Step("the next run: still open, no repeated e-mail", repeat, {"PROVIDER_THUMBPRINT_MISMATCH"}, 0),
        Step("thumbprint updated and accepted", update_thumbprint, set(), 1),
        Step("a trust policy is widened", widen_trust,
             {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED", "TRUST_UNEXPECTED_PRINCIPAL", "TRUST_DRIFT"}, 1),
        Step("the trust policy is restored", restore_trust, set(), 1),
        Step("AdministratorAccess attached to a Defender role", attach_admin, {"PERMS_ADMIN_ACCESS", "PERMS_DRIFT"}, 1),
        Step("ReadOnlyAccess detached", detach_read_only, {"PERMS_REQUIRED_MISSING", "PERMS_DRIFT"}, 1),
        Step("permissions restored", restore_permissions, set(), 1),
        Step("the OIDC provider is deleted", delete_provider, {"PROVIDER_MISSING", "EXCHANGE_PROVIDER_NOT_FOUND"}, 1),
        Step("repaired", repair, set(), 1),
    ]
    results = [run_step(i, step) for i, step in enumerate(steps, 1)]
    console.rule()
    if all(results):
        console.print("[bold green]Demo finished: every step reported what it should.[/]")
        return 0
    console.print(f"[bold red]Demo finished with {results.count(False)} unexpected step(s).[/]")
    return 1
