"""Rendering findings: JSON for machines (the stable interface in PRODUCT.md), a table for people.

rich is imported only when a table is drawn: `check --format json` and the Lambda handlers never load it.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from .findings import Finding, Severity

if TYPE_CHECKING:
    from rich.console import Console

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


@functools.lru_cache(maxsize=1)
def _output_console_class() -> type:
    from rich.console import Console

    class OutputConsole(Console):
        """rich's Console, except that a reader going away (`| head`) is left to the CLI, which ends quietly with
        141: rich's own handling exits 1, the status that means "findings"."""

        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    return OutputConsole


def output_console(out: TextIO | None = None) -> Console:
    """The console findings are printed on. Not a terminal (CI logs, pipes): a wide fixed width keeps tables
    readable."""
    width = None if (out is None and sys.stdout.isatty()) else 160
    return _output_console_class()(file=out, soft_wrap=False, width=width)


def findings_json(findings: list[Finding], summary: dict[str, Any]) -> str:
    return json.dumps({"findings": [f.to_dict() for f in findings], "summary": summary}, indent=2, default=str)


def write_findings_json(findings: list[Finding], summary: dict[str, Any], out: TextIO | None = None) -> None:
    """`print(findings_json(...))`, byte for byte, written as it is encoded: 7,000 findings are ~7 MB of text and
    a million small pieces, which the whole document as one string would hold in memory at once."""
    out = out or sys.stdout
    encoder = json.JSONEncoder(indent=2, default=str)
    pending: list[str] = []
    for chunk in encoder.iterencode({"findings": [f.to_dict() for f in findings], "summary": summary}):
        pending.append(chunk)
        if len(pending) >= 8192:
            out.write("".join(pending))
            pending.clear()
    pending.append("\n")
    out.write("".join(pending))


def render_table(findings: list[Finding], summary: dict[str, Any], out: TextIO | None = None, *,
                 console: Console | None = None, show_remediation: bool = True) -> None:
    from rich.table import Table
    from rich.text import Text

    console = console or output_console(out)
    if not findings:
        console.print(Text("No findings: every check passed.", style="green"))
    else:
        table = Table(show_lines=False, header_style="bold", expand=False)
        table.add_column("Severity", no_wrap=True)
        table.add_column("Check", no_wrap=True)
        table.add_column("Connector", no_wrap=True)
        table.add_column("Finding", overflow="fold")
        for f in findings:
            body = Text(f.message)
            if show_remediation:
                body.append("\nFix: ", style="bold")
                body.append(f.remediation)
            table.add_row(Text(f.severity.value.upper(), style=SEVERITY_STYLE[f.severity]), f.check_id, f.connector, body)
        console.print(table)
    counts = ", ".join(f"{n} {sev}" for sev, n in summary.get("by_severity", {}).items() if n)
    console.print(
        f"Account {summary.get('account', '?')}: {summary.get('findings', len(findings))} finding(s)"
        + (f" ({counts})" if counts else "")
        + f" in {summary.get('duration_seconds', 0):.2f}s",
        style="bold",
    )


def exit_status(findings: list[Finding], fail_on: Severity) -> int:
    return 1 if any(f.severity.at_least(fail_on) for f in findings) else 0
