"""The `connector-health` command line.

Exit status (PRODUCT.md): 0 no finding at or above --fail-on, 1 some, 2 bad usage or configuration, or a run that
could not do its job (nothing of the account could be read, an alert could not be published). Output cut short by
its reader (`| head`) ends quietly with 141, as a command stopped by SIGPIPE does.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from .findings import Severity

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own default is also 2)
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _severity(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid severity {value!r}; use one of {', '.join(s.value for s in Severity)}"
        ) from None


def _default_config() -> str:
    return os.environ.get("CONNECTOR_HEALTH_CONFIG", "connector-health.yaml")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="connector-health", description="Health and drift monitor for OIDC web-identity connectors into AWS.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = sub.add_parser("check", help="scan the account of the current AWS credentials")
    check.add_argument("--config", default=_default_config(), help="YAML config (default: $CONNECTOR_HEALTH_CONFIG or connector-health.yaml)")
    check.add_argument("--format", choices=("table", "json", "ocsf"), default="table",
                       help="ocsf: a JSON array of OCSF 1.5.0 Detection Findings (class 2004, cloud profile)")
    check.add_argument("--fail-on", type=_severity, default="high", help="lowest severity that makes the exit status 1 (default high)")
    check.add_argument("--org", action="store_true",
                       help="scan every selected account of the organisation through its member role (the config's org: section)")
    check.add_argument("--max-workers", type=int, default=None, metavar="N",
                       help="with --org: accounts scanned at once (default: org.max_workers)")

    run = sub.add_parser("run", help="what the scheduled Lambda runs: scan, state, alerts, metrics (needs the state table and topic)")
    run.add_argument("--config", default=_default_config())
    run.add_argument("--run-id", default=None, help="idempotency key of this run (default: a new one)")
    run.add_argument("--format", choices=("table", "json"), default="table")
    run.add_argument("--fail-on", type=_severity, default="high")
    run.add_argument("--metrics", action="store_true", help="also print the metrics as CloudWatch EMF lines")

    baseline = sub.add_parser("baseline", help="manage the accepted baseline")
    baseline.add_argument("action", choices=("accept",))
    baseline.add_argument("--config", default=_default_config())
    baseline.add_argument("--connector", default=None, help="only this connector (default: all)")

    lint = sub.add_parser("lint-trust", help="analyse trust policies offline: a policy file, CloudFormation/CDK templates, "
                                             "a Terraform plan, or a directory of them")
    lint.add_argument("paths", nargs="+", metavar="PATH",
                      help="a trust policy JSON (or `aws iam get-role` output), a CloudFormation template (JSON or YAML), "
                           "a CDK cloud assembly (cdk.out), a Terraform plan or state (`terraform show -json`), or a "
                           "directory searched for these by content")
    lint.add_argument("--preset", help="the connector kind (default: recognised from the issuer; with templates and "
                                       "plans it applies to the roles on that kind of issuer)")
    lint.add_argument("--issuer", help="the provider URL to judge against (default: the policy's federated principals; "
                                       "with templates and plans, for roles whose provider cannot be resolved)")
    lint.add_argument("--caller", action="append", default=[], metavar="KEY=VALUE",
                      help="a value of the legitimate caller, e.g. sts:RoleSessionName=MicrosoftDefenderForClouds_<tenant> "
                           "or sub=repo:OWNER/REPO:ref:refs/heads/main (repeatable; keys the issuer's grammar knows)")
    lint.add_argument("--provider-audience", action="append", default=None, metavar="AUD",
                      help="an audience in the provider's ClientIDList (repeatable); STS refuses any other audience, so "
                           "TRUST_AUDIENCE_UNRESTRICTED is high only when one of these reaches the role unintended "
                           "(a provider declared in the template or plan brings its own list)")
    lint.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                      help="a CloudFormation parameter value to judge templates with (repeatable; default: the "
                           "parameter's default, else a placeholder the findings name)")
    lint.add_argument("--skip-unrecognised", action="store_true",
                      help="pass over named files that are not a policy, template, assembly or plan (pre-commit hooks "
                           "hand over every changed JSON/YAML file)")
    lint.add_argument("--format", choices=("table", "json", "sarif"), default="table")
    lint.add_argument("--output", metavar="FILE", default=None,
                      help="write the report to FILE instead of standard output (e.g. results.sarif)")
    lint.add_argument("--fail-on", type=_severity, default="high")

    explain = sub.add_parser(
        "explain", help="why STS admits or refuses one caller for one role: every stage and the first refusing condition")
    where = explain.add_mutually_exclusive_group()
    where.add_argument("--role", metavar="NAME|ARN", help="read the role's trust policy and the providers from the account "
                                                          "(online; with --cloudtrail-event the recorded role is the default)")
    where.add_argument("--policy", metavar="FILE", help="a trust-policy file or `aws iam get-role` output (offline)")
    who = explain.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", metavar="JWT", help="a token to check locally (@FILE reads a file, - standard input); "
                                                    "never printed")
    who.add_argument("--claims", metavar="JSON", help="token claims as a JSON object (@FILE reads a file)")
    who.add_argument("--cloudtrail-event", metavar="FILE",
                     help="a CloudTrail record (the console's event record, lookup-events output or a log file)")
    explain.add_argument("--session-name", help="the RoleSessionName the caller sends (with --token or --claims)")
    explain.add_argument("--provider-audience", action="append", default=[], metavar="AUD",
                         help="offline: an audience of the provider's ClientIDList (repeatable)")
    explain.add_argument("--config", default=None,
                         help="YAML config for the issuer inspection settings and the connectors' expected callers "
                              "(default: $CONNECTOR_HEALTH_CONFIG when set)")
    explain.add_argument("--format", choices=("table", "json"), default="table")
    explain.add_argument("--fail-on", type=_severity, default="high")

    sandbox = sub.add_parser("sandbox", help="run the emulated environment (moto + local TLS issuer) in the background")
    sandbox.add_argument("action", choices=("up", "down", "status"))
    sandbox.add_argument("--dir", type=Path, default=None, help="state directory of the background sandbox")
    sandbox.add_argument("--accounts", type=int, default=0, metavar="N",
                         help="with up: also emulate an organisation of N member accounts (hub mode; a few misconfigured)")

    sub.add_parser("demo", help="the scripted story on the sandbox (what `make demo` runs)")
    return parser


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"connector-health: {message}", file=sys.stderr)
    return status


def cmd_check(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")

    if args.org:
        return _check_org(args, config)

    from .engine import scan_account
    from .output import exit_status, render_table, write_findings_json

    if args.format == "table" and sys.stderr.isatty():
        from rich.console import Console

        with Console(stderr=True).status("Scanning the account and its issuers..."):
            result = scan_account(config)
    else:
        result = scan_account(config)
    unread = result.unreadable()
    if unread:
        return _fail(f"cannot read the account, nothing was checked: {unread}")
    if args.format == "json":
        write_findings_json(result.findings, result.summary())
    elif args.format == "ocsf":
        _print_ocsf(result.findings, config.region, result.snapshot.partition)
    else:
        render_table(result.findings, result.summary())
    return exit_status(result.findings, args.fail_on)


def _print_ocsf(findings, region: str, partition: str) -> None:
    import json

    from .integrations.ocsf import findings_ocsf

    print(json.dumps(findings_ocsf(findings, region=region, partition=partition), indent=2, default=str))


def _check_org(args: argparse.Namespace, config) -> int:
    """`check --org`: the hub's fan-out on a local thread pool, a progress bar on stderr, a per-account summary."""
    from botocore.exceptions import BotoCoreError, ClientError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .org import scan_organization
    from .org.report import render_org_findings, render_org_summary
    from .output import exit_status, findings_json

    if args.max_workers is not None and not 1 <= args.max_workers <= 64:
        return _fail("--max-workers must be between 1 and 64")
    console = Console(stderr=True)
    progress = Progress(TextColumn("[bold]Scanning accounts"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), console=console,
                        transient=True, disable=not console.is_terminal)
    task = progress.add_task("accounts", total=None, failed=0)
    failed = 0

    def selected(selection) -> None:
        progress.update(task, total=len(selection.selected))

    def done(outcome) -> None:
        nonlocal failed
        failed += outcome.status != "scanned"
        progress.update(task, advance=1, failed=failed)

    try:
        with progress:
            result = scan_organization(config, max_workers=args.max_workers, on_selected=selected, on_done=done)
    except (ClientError, BotoCoreError) as exc:
        # Listing the organisation failed (not the management or delegated administrator account, no permission).
        return _fail(f"cannot list the organisation's accounts: {exc}")
    summary = result.summary()
    if args.format == "json":
        print(findings_json(result.findings, summary))
    elif args.format == "ocsf":
        _print_ocsf(result.findings, config.region, "aws")
    else:
        render_org_findings(result.findings)
        render_org_summary(summary)
    return exit_status(result.findings, args.fail_on)


def cmd_run(args: argparse.Namespace) -> int:
    import uuid

    from .config import ConfigError, load_config
    from .output import exit_status, findings_json, render_table
    from .pipeline import PipelineError, run_pipeline

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    try:
        result = run_pipeline(config, run_id=args.run_id or f"cli-{uuid.uuid4()}")
    except PipelineError as exc:
        return _fail(str(exc))
    if args.metrics:
        from .telemetry import emit_scan_metrics

        emit_scan_metrics(result.scan, heartbeat=not result.publish_errors)
    if args.format == "json":
        print(findings_json(result.scan.findings, result.summary()))
    else:
        render_table(result.scan.findings, result.scan.summary())
        for alert in result.published:
            print(f"alert published for {alert.connector}: {alert.message.subject}")
        if result.baselines_recorded:
            print(f"baseline recorded for: {', '.join(result.baselines_recorded)}")
        for report in result.deliveries:
            counts = ", ".join(f"{n} {k}" for k, n in report.as_dict().items())
            print(f"{report.channel}: {counts}")
    if result.publish_errors:
        # The run did not do its job: the changes stay unalerted until a later run publishes them.
        return _fail(f"{len(result.publish_errors)} alert(s) NOT published (the next run retries): "
                     + "; ".join(result.publish_errors))
    if result.delivery_errors:
        return _fail(f"{len(result.delivery_errors)} finding(s) NOT delivered to an integration (the next run "
                     "retries): " + "; ".join(result.delivery_errors[:3]))
    return exit_status(result.scan.findings, args.fail_on)


def cmd_baseline(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config
    from .pipeline import PipelineError, accept_baseline

    try:
        config = load_config(args.config)
        accepted = accept_baseline(config, connector=args.connector)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    except PipelineError as exc:
        return _fail(str(exc))
    print(f"baseline accepted for: {', '.join(accepted)}")
    return EXIT_OK


def cmd_lint_trust(args: argparse.Namespace) -> int:
    import dataclasses

    from .output import exit_status, findings_json, output_console, render_table
    from .trust.iac import LintOptions, lint_paths
    from .trust.lint import LintInputError

    parameters: dict[str, str] = {}
    for pair in args.parameter:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            return _fail(f"--parameter {pair!r}: write NAME=VALUE, e.g. GitHubOrg=octo-org")
        parameters[name.strip()] = value
    options = LintOptions(preset=args.preset, issuer=args.issuer, caller=args.caller,
                          provider_audiences=args.provider_audience, parameters=parameters)
    try:
        run = lint_paths(args.paths, options, skip_unrecognised=args.skip_unrecognised)
    except LintInputError as exc:
        return _fail(str(exc))
    findings = run.findings
    summary = run.summary(args.paths)
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else None  # noqa: SIM115 - closed below
    except OSError as exc:
        return _fail(f"--output {args.output}: cannot write ({exc.strerror or exc})")
    try:
        if args.format == "json":
            print(findings_json(findings, summary), file=out)
        elif args.format == "sarif":
            from .output_sarif import findings_sarif

            print(findings_sarif(findings), file=out)
        else:
            shown = [dataclasses.replace(f, message=f"{_where(f.location)}{f.message}") for f in findings]
            label = args.paths[0] if len(args.paths) == 1 else f"{len(args.paths)} paths"
            render_table(shown, {**summary, "account": label, "duration_seconds": 0.0}, console=output_console(out))
    finally:
        if out is not None:
            out.close()
    if not run.roles and not run.inputs:
        print("connector-health: nothing to lint (no named file is a policy, template, assembly or plan)",
              file=sys.stderr)
    return exit_status(findings, args.fail_on)


def _where(location: dict | None) -> str:
    """"template.yaml:42 GitHubRole: " for the table (the JSON and SARIF carry the location as data)."""
    if not location:
        return ""
    place = location.get("file", "")
    if location.get("line"):
        place += f":{location['line']}"
    head = " ".join(str(part) for part in (place, location.get("resource")) if part)
    return f"{head}\n" if head else ""


def cmd_explain(args: argparse.Namespace) -> int:
    """`explain`: stages and the first refusing condition; the token never reaches the output or an error."""
    from .config import ConfigError, load_config
    from .exchange.redact import Secret, protected, scrub
    from .live.explain import ExplainInputError, read_file, read_json, read_text, render_explanations, run_explain
    from .output import exit_status, findings_json

    config = None
    config_path = args.config or os.environ.get("CONNECTOR_HEALTH_CONFIG")
    if config_path:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            return _fail(f"config error: {exc}")
    token = claims = event = None
    try:
        if args.token is not None:
            token = Secret(read_text(args.token, "--token"))
        elif args.claims is not None:
            claims = read_json(read_text(args.claims, "--claims"), "--claims")
            if not isinstance(claims, dict):
                return _fail("--claims: must be a JSON object of token claims, e.g. {\"iss\": ..., \"aud\": ..., \"sub\": ...}")
        else:
            event = read_json(read_file(Path(args.cloudtrail_event), "--cloudtrail-event"), "--cloudtrail-event")
        if event is None and not (args.role or args.policy):
            return _fail("--role NAME|ARN or --policy FILE is needed with --token or --claims")
        with protected(token):
            explanations, account = run_explain(
                role=args.role, policy_file=args.policy, token=token, claims=claims, event_data=event,
                session_name=args.session_name, provider_audiences=args.provider_audience, config=config)
    except ExplainInputError as exc:
        return _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - one line, and never the token
        with protected(token):
            text = scrub(f"{exc.__class__.__name__}: {exc}")[:300]
        return _fail(f"could not complete explain: {text}")
    findings = [f for f in (e.finding(account) for e in explanations) if f is not None]
    by_sev = {s.value: 0 for s in Severity}
    for finding in findings:
        by_sev[finding.severity.value] += 1
    summary = {"account": account, "findings": len(findings), "by_severity": by_sev,
               "explanations": [e.as_dict() for e in explanations]}
    if args.format == "json":
        print(findings_json(findings, summary))
    else:
        from rich.console import Console

        render_explanations(explanations, Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160))
    return exit_status(findings, args.fail_on)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import daemon

    directory = args.dir or daemon.DEFAULT_DIR
    if args.action == "up":
        if not 0 <= args.accounts <= 1000:
            return _fail("--accounts must be between 0 and 1000")
        try:
            env = daemon.up(directory, accounts=args.accounts)
        except RuntimeError as exc:
            return _fail(str(exc))
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}")
        print(f"# sandbox running; stop it with: connector-health sandbox down{' --dir ' + str(directory) if args.dir else ''}",
              file=sys.stderr)
        return EXIT_OK
    if args.action == "status":
        pid = daemon.running_pid(directory)
        print(f"running (pid {pid})" if pid else "not running")
        return EXIT_OK if pid else 1
    stopped = daemon.down(directory)
    print("sandbox stopped" if stopped else "no sandbox was running", file=sys.stderr)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"check": cmd_check, "run": cmd_run, "baseline": cmd_baseline, "lint-trust": cmd_lint_trust,
                "explain": cmd_explain, "sandbox": cmd_sandbox, "demo": cmd_demo}
    try:
        return handlers[args.command](args)
    except BrokenPipeError:
        # The reader went away (`| head`): no traceback, no message. Point stdout at /dev/null so that the
        # interpreter's final flush does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - a person gets one line; CONNECTOR_HEALTH_DEBUG=1 shows the traceback
        if os.environ.get("CONNECTOR_HEALTH_DEBUG") == "1":
            raise
        return _fail(f"could not complete {args.command}: {exc.__class__.__name__}: {str(exc)[:300]} "
                     "(set CONNECTOR_HEALTH_DEBUG=1 for the traceback)")


if __name__ == "__main__":
    raise SystemExit(main())
