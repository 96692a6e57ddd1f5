"""`check --org` for people: the findings with their account, one line per account, the skipped accounts."""

from __future__ import annotations

from typing import Any, TextIO

from rich.table import Table
from rich.text import Text

from ..findings import Finding, Severity
from ..output import SEVERITY_STYLE, output_console



def render_org_findings(findings: list[Finding], out: TextIO | None = None, *, show_remediation: bool = True) -> None:
    console = output_console(out)
    if not findings:
        console.print(Text("No findings in any scanned account.", style="green"))
        return
    table = Table(header_style="bold", expand=False)
    for name in ("Severity", "Account", "Check", "Connector"):
        table.add_column(name, no_wrap=True)
    table.add_column("Finding", overflow="fold")
    for f in findings:
        body = Text(f.message)
        if show_remediation:
            body.append("\nFix: ", style="bold")
            body.append(f.remediation)
        table.add_row(Text(f.severity.value.upper(), style=SEVERITY_STYLE[f.severity]), f.account, f.check_id,
                      f.connector, body)
    console.print(table)


def render_org_summary(summary: dict[str, Any], out: TextIO | None = None) -> None:
    """`check --org`: one line per account (status and counts), then the skipped accounts and the totals."""
    console = output_console(out)
    table = Table(header_style="bold", expand=False, title="Accounts")
    for name in ("Account", "Name", "Status", "Findings", "Critical", "High", "Medium", "Low", "Info"):
        table.add_column(name, no_wrap=True)
    for acct in summary.get("accounts", []):
        sev = acct["by_severity"]
        status = Text(acct["status"], style="green" if acct["status"] == "scanned" else "bold red")
        table.add_row(acct["account"], acct.get("name", ""), status, str(acct["findings"]),
                      *(str(sev.get(s.value, 0)) for s in Severity))
    for skipped in summary.get("skipped", []):
        table.add_row(skipped["account"], skipped.get("name", ""), Text("skipped", style="dim"), "-", "", "", "", "", "",
                      style="dim")
    console.print(table)
    for skipped in summary.get("skipped", []):
        console.print(f"skipped {skipped['account']} ({skipped.get('name', '')}): {skipped['reason']}", style="dim")
    console.print(
        f"Organisation: {summary.get('accounts_scanned', 0)} account(s) scanned, {summary.get('accounts_failed', 0)} "
        f"failed, {summary.get('accounts_skipped', 0)} skipped in {summary.get('duration_seconds', 0):.2f}s",
        style="bold",
    )
