#!/usr/bin/env python3
"""The CDK app: validate the configuration once, stage the Lambda code, build the monitor stack, run cdk-nag.

    npx cdk synth                          # connector-health.yaml, else the example (with a note)
    npx cdk deploy -c config=prod.yaml
    .venv/bin/python app.py                # the same synth without the CLI (writes cdk.out/)

Context: `config` (the YAML file), `layer_dir` (default build/layer, made by `make layer`), `asset_dir` (default
build/lambda-asset, staged here at every synth), `stack_name` (default ConnectorHealth).
A configuration error, a missing layer or a cdk-nag violation fails synth with one line, without a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

try:
    import aws_cdk as cdk
except ImportError:  # cdk.json runs `python3 app.py`: re-run under the project's virtualenv when that one has CDK
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parents[1].resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.exit("connector-health: aws-cdk-lib is not installed for this Python: run `make install` "
             "(or activate .venv)")

sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]  # stacks/, and the engine: config model, declared permissions, metric definitions

from cdk_nag import AwsSolutionsChecks  # noqa: E402

from connector_health.config import Config, ConfigError, load_config  # noqa: E402
from stacks import LayerNotBuilt, MonitorStack, ScheduleError, stage_lambda_asset  # noqa: E402
from stacks.assets import DEFAULT_ASSET_DIR, DEFAULT_LAYER_DIR  # noqa: E402

DEFAULT_CONFIG = "connector-health.yaml"
EXAMPLE_CONFIG = "connector-health.example.yaml"
STACK_NAME = "ConnectorHealth"


class SynthError(Exception):
    """A problem the user fixes (config, layer, schedule); printed as one line."""


def resolve_config_path(value: str | None, root: Path = ROOT) -> tuple[Path, str | None]:
    """(config path, note to print). An explicit `-c config=FILE` is used as given (relative to the working
    directory); without one, connector-health.yaml, else the example with a note."""
    if value:
        return Path(value), None
    default = root / DEFAULT_CONFIG
    if default.is_file():
        return default, None
    return root / EXAMPLE_CONFIG, (f"connector-health: {DEFAULT_CONFIG} not found; synthesising with {EXAMPLE_CONFIG} "
                                   f"(copy it to {DEFAULT_CONFIG} and edit, or pass -c config=FILE)")


def load(value: str | None, root: Path = ROOT) -> Config:
    path, note = resolve_config_path(value, root)
    if note:
        print(note, file=sys.stderr)
    try:
        return load_config(path)
    except ConfigError as exc:
        raise SynthError(f"connector-health: config error: {exc}") from None


def cdk_json_context(root: Path = ROOT) -> dict:
    """The feature flags of cdk.json. The CLI passes them to the app itself; `python app.py` and the tests read
    them here so that every way of synthesising gives the same template."""
    return dict(json.loads((root / "cdk.json").read_text(encoding="utf-8")).get("context", {}))


def build(app: cdk.App, *, nag: bool = True) -> MonitorStack:
    """Build the monitor stack into `app` from its context; with `nag`, AwsSolutions checks run at synth."""
    ctx = app.node.try_get_context
    config = load(ctx("config"))
    asset_dir = stage_lambda_asset(config, Path(ctx("asset_dir") or DEFAULT_ASSET_DIR))
    try:
        stack = MonitorStack(
            app,
            ctx("stack_name") or STACK_NAME,
            config=config,
            asset_dir=asset_dir,
            layer_dir=Path(ctx("layer_dir") or DEFAULT_LAYER_DIR),
            env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=config.region),
            description="connector-health: scheduled health and drift monitor for OIDC web-identity connectors",
        )
    except (LayerNotBuilt, ScheduleError) as exc:
        raise SynthError(f"connector-health: {exc}") from None
    if config.org.enabled:
        # Hub mode: the member accounts' StackSet template (docs/org.md); no assets, no bootstrap rule.
        from stacks.member_stack import MemberStack
        from stacks.monitor_stack import declared_read_actions

        MemberStack(app, f"{stack.stack_name}Member", config=config, read_actions=declared_read_actions(),
                    description="connector-health member role: read-only audit role trusted by the hub's worker")
    if nag:
        # Acknowledgements are also written into the template (Metadata.cdk_nag) as an audit trail for reviewers.
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    return stack


def main(context: dict | None = None, outdir: str | None = None) -> int:
    """`context` and `outdir` stand in for `-c` and `-o` (tests); the CLI passes its own through the environment."""
    # Under the CLI, CDK_OUTDIR says where; run directly, write cdk.out/ as `cdk synth` would (not a temp dir).
    outdir = outdir or (None if os.environ.get("CDK_OUTDIR") else str(ROOT / "cdk.out"))
    app = cdk.App(outdir=outdir, context={**cdk_json_context(), **(context or {})})
    try:
        build(app)
    except SynthError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        app.synth()
    except RuntimeError as exc:  # jsii wraps the validation failure; its report is already printed above
        if "ValidationFailed" not in str(exc):
            raise
        print(f"connector-health: cdk-nag found violations (report: {app.outdir}/validation-report.json)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
