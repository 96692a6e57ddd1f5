"""`make demo`: the scripted story on the sandbox, start to end, with no internet.

Each step changes the emulated world the way an operator, an attacker or the issuer would, then runs what the
scheduled Lambda runs (`connector-health run`: scan, state, alerts) and prints the findings and the alert e-mails
it sent, read back from the emulated SNS topic. The last steps watch live traffic: a simulated Defender service
exchanges real tokens of the local issuer at the validating STS, which logs every call in the sandbox's CloudTrail;
the monitor reads it back (LookupEvents) and explains the refusals.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from .config import load_config, parse_config
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
    config: Any = None  # another configuration for this step's run (None: the story's)


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
        result = run_pipeline(step.config or config, run_id=f"demo-{number}-{uuid.uuid4().hex[:8]}")
        render_table(result.scan.findings, result.scan.summary(), console=console, show_remediation=False)
        live = result.scan.live.activity.get("defender") if result.scan.live else None
        if live is not None and step.config is not None:
            console.print(f"[dim]real exchanges of the connector in this run's CloudTrail window: {live.successes} "
                          f"succeeded, {live.failures} refused[/]")
            for finding in result.scan.findings:
                if finding.check_id.startswith("EXCHANGE_LIVE"):
                    body = Text(finding.message + "\n\n") + Text("Fix: ", style="bold") + Text(finding.remediation)
                    console.print(Panel(body, title=f"{finding.severity.value.upper()} {finding.check_id}",
                                        border_style="red"))
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
    live_steps, callers = _live_steps(sandbox)
    steps += live_steps
    try:
        results = [run_step(i, step) for i, step in enumerate(steps, 1)]
    finally:
        for caller in callers:
            caller.stop()
    console.rule()
    if all(results):
        console.print("[bold green]Demo finished: every step reported what it should.[/]")
        return 0
    console.print(f"[bold red]Demo finished with {results.count(False)} unexpected step(s).[/]")
    return 1


# The live part of the story. The connector's expected activity is shortened to seconds so that silence shows within
# the demo (the Defender preset expects a successful exchange at least every 36 hours).
LIVE_EXPECTED_HOURS = 0.002  # 7.2 seconds
SESSION_CHANGE = "MicrosoftDefender_"  # a made-up new prefix, as MicrosoftSentinel_ became MicrosoftDefenderForClouds_


def _live_steps(sandbox: Sandbox) -> tuple[list[Step], list[Any]]:
    """The live steps and the simulated callers they start (the story stops them whatever happens)."""
    from .sandbox.caller import SimulatedCaller

    data = sandbox.config_dict()
    data["connectors"][0]["expected_activity_hours"] = LIVE_EXPECTED_HOURS
    live_config = parse_config(data)
    cspm = sandbox.defender_caller()
    scanner = sandbox.defender_caller(role="DefenderForCloud-AgentlessScanner",
                                      audience="api://AzureSecurityCenter.MultiCloud.DefenderForServers.VmScanner")
    original = cspm.session_name

    def traffic(wanted: list[tuple[SimulatedCaller, Callable[[str | None], bool]]]) -> None:
        """Both plans call once a second until each has made two calls of the wanted kind; then the run."""
        for caller in (cspm, scanner):
            caller.start(interval=1.0)
        try:
            for caller, outcome in wanted:
                caller.wait_for(outcome, calls=2)
        finally:
            for caller in (cspm, scanner):
                caller.stop()

    def calls() -> str:
        traffic([(cspm, lambda r: r is None), (scanner, lambda r: r is None)])
        return ("Defender's CSPM and agentless-scanning plans call AWS with real tokens (issued by the local issuer, "
                "validated by the sandbox's STS, logged in its CloudTrail).")

    def session_change() -> str:
        cspm.session_name = SESSION_CHANGE + original.split("_", 1)[1]
        traffic([(cspm, lambda r: r == "AccessDenied"), (scanner, lambda r: r is None)])
        return (f"Microsoft changes the session name its CSPM scans send to {SESSION_CHANGE}<tenant> (as it did in "
                "March 2025). Every static check still passes; STS refuses each call with AccessDenied.")

    def change_reverted() -> str:
        cspm.session_name = original
        traffic([(cspm, lambda r: r is None), (scanner, lambda r: r is None)])
        return "Microsoft reverts the session name: the CSPM scans get in again."

    def caller_stops() -> str:
        wait = LIVE_EXPECTED_HOURS * 3600 + 1
        time.sleep(wait)
        return (f"Defender stops calling (e.g. the connector was removed on the Azure side). {wait:.0f} s pass, longer "
                "than the connector's expected activity (shortened from the preset's 36 hours for the demo).")

    def calls_resume() -> str:
        traffic([(cspm, lambda r: r is None)])
        return "Defender calls again."

    return [
        Step("live traffic: the connector's real exchanges (CloudTrail)", calls, set(), 0, live_config),
        Step("the session name changes: live traffic shows the refusing condition", session_change,
             {"EXCHANGE_LIVE_FAILURES"}, 1, live_config),
        Step("the change is reverted", change_reverted, set(), 1, live_config),
        Step("the connector's service stops calling", caller_stops, {"EXCHANGE_LIVE_SILENT"}, 1, live_config),
        Step("calls resume", calls_resume, set(), 1, live_config),
    ], [cspm, scanner]
