"""What app.py feeds the stack, without synthesising: config path, staged asset, layer checks, schedule periods."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from connector_health.config import load_config, parse_config
from stacks.assets import CONFIG_FILE, LAYER_STAMP, LayerNotBuilt, check_layer, stage_lambda_asset
from stacks.schedule import ScheduleError, heartbeat_window, schedule_period_seconds

from .conftest import REPO, make_stub_layer


def load_layer_builder():
    spec = importlib.util.spec_from_file_location("layer_build", REPO / "layer" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ configuration path


def test_explicit_config_is_used_as_given(app_module, tmp_path):
    assert app_module.resolve_config_path("prod.yaml", tmp_path) == (app_module.Path("prod.yaml"), None)


def test_default_config_when_present(app_module, tmp_path):
    (tmp_path / "connector-health.yaml").write_text("x")
    assert app_module.resolve_config_path(None, tmp_path) == (tmp_path / "connector-health.yaml", None)


def test_falls_back_to_the_example_with_a_note(app_module, tmp_path):
    path, note = app_module.resolve_config_path(None, tmp_path)
    assert path == tmp_path / "connector-health.example.yaml"
    assert "connector-health.yaml not found" in note and "-c config=FILE" in note


def test_config_error_becomes_one_synth_line(app_module, tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("schedule: every hour\nconnectors: [{name: a, preset: generic, issuer: https://x.example}]\n")
    with pytest.raises(app_module.SynthError) as err:
        app_module.load(str(bad))
    assert str(err.value).startswith(f"connector-health: config error: {bad}: schedule = 'every hour'")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("expression", ["rate(1 hours)", "cron(0 * * * * *)"])
def test_schedule_eventbridge_refuses_fails_synth_with_the_clis_line(app_module, tmp_path, capsys, expression):
    """The same one line at synth as at CLI start (an invalid expression would otherwise fail only at deploy)."""
    from connector_health.cli import main

    bad = tmp_path / "c.yaml"
    bad.write_text(f"schedule: {expression}\nconnectors: [{{name: a, preset: generic, issuer: https://x.example}}]\n")
    with pytest.raises(app_module.SynthError) as err:
        app_module.load(str(bad))
    assert main(["check", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == str(err.value)
    assert "day-of-week must be ?" in str(err.value) or "rate(1 hour)" in str(err.value)


# ------------------------------------------------------------------ code asset and layer


def test_staged_asset_holds_the_code_and_the_config_that_loads_back(tmp_path):
    config = load_config(REPO / "connector-health.example.yaml")
    dest = tmp_path / "asset"
    (dest / "stale").mkdir(parents=True)  # whatever a previous synth left is replaced
    stage_lambda_asset(config, dest)
    assert not (dest / "stale").exists()
    assert (dest / "connector_health" / "config.py").is_file()
    assert not list(dest.rglob("__pycache__"))
    assert load_config(dest / CONFIG_FILE) == config
    assert json.loads((dest / CONFIG_FILE).read_text())["schedule"] == "rate(1 hour)"


def test_missing_layer_is_one_line_that_says_make_layer(tmp_path):
    with pytest.raises(LayerNotBuilt, match=r"^Lambda layer not built \(.*/python is missing\): run `make layer`$"):
        check_layer(tmp_path / "nothing")


def test_stale_layer_is_refused(tmp_path):
    layer = make_stub_layer(tmp_path / "layer")
    assert check_layer(layer) == layer
    (layer / LAYER_STAMP).write_text("0" * 64)
    with pytest.raises(LayerNotBuilt, match="out of date with requirements.txt: run `make layer`"):
        check_layer(layer)


def test_layer_requirements_leave_out_what_the_runtime_provides():
    builder = load_layer_builder()
    text = "# c\nboto3==1.0  # runtime\nbotocore==1.0\nrequests==2.0\npyOpenSSL==26 ; python_version>'3'\n\n"
    assert builder.layer_requirements(text) == "requests==2.0\npyOpenSSL==26 ; python_version>'3'\n"
    real = builder.layer_requirements((REPO / "requirements.txt").read_text())
    assert "boto3" not in real and "aws-lambda-powertools" in real and "cryptography" in real


def test_layer_is_built_for_the_lambda_platform():
    builder = load_layer_builder()
    command = builder.pip_command(REPO / "r.txt", REPO / "build" / "layer" / "python")
    joined = " ".join(command)
    for part in ("--platform manylinux2014_x86_64", "--implementation cp", "--python-version 3.12",
                 "--only-binary=:all:", "--target"):
        assert part in joined


# ------------------------------------------------------------------ schedule periods


@pytest.mark.parametrize(("expression", "seconds"), [
    ("rate(1 hour)", 3600),
    ("rate(5 minutes)", 300),
    ("rate(1 day)", 86400),
    ("cron(0/15 * * * ? *)", 900),
    ("cron(*/10 * * * ? *)", 600),
    ("cron(0 * * * ? *)", 3600),
    ("cron(30 8,20 * * ? *)", 12 * 3600),
    ("cron(0 9-17 ? * MON-FRI *)", 64 * 3600),  # Friday 17:00 to Monday 09:00
    ("cron(0 6 * * ? *)", 86400),
])
def test_schedule_period(expression, seconds):
    assert schedule_period_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["cron(0 0 1 * ? *)", "cron(0 0 L * ? *)", "cron(0 0 * JAN ? *)",
                                        "cron(0 0 * * ? 2031)", "every hour", "cron(0 0 * *)"])
def test_schedule_without_a_watchable_period_is_refused(expression):
    with pytest.raises(ScheduleError):
        schedule_period_seconds(expression)


@pytest.mark.parametrize(("expression", "window"), [
    ("rate(1 hour)", (3600, 2)),
    ("rate(5 minutes)", (300, 2)),
    ("rate(1 day)", (86400, 2)),
    ("rate(36 hours)", (86400, 3)),
    ("rate(3 days)", (86400, 6)),
])
def test_heartbeat_window_is_two_periods_within_cloudwatch_limits(expression, window):
    period, evaluations = heartbeat_window(expression)
    assert (period, evaluations) == window
    assert period % 60 == 0 and period * evaluations <= 7 * 86400


def test_schedule_too_rare_for_a_heartbeat_alarm_is_refused():
    with pytest.raises(ScheduleError, match="schedule at least every 3 days"):
        heartbeat_window("rate(4 days)")


def test_a_configured_ca_bundle_is_shipped_with_the_code(tmp_path, monkeypatch):
    bundle = tmp_path / "roots.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    data = yaml.safe_load((REPO / "connector-health.example.yaml").read_text())
    data["issuer_inspection"]["public_ca_bundle"] = str(bundle)
    dest = stage_lambda_asset(parse_config(data), tmp_path / "asset")
    assert (dest / "public-ca-bundle.pem").read_text() == bundle.read_text()
    staged = json.loads((dest / CONFIG_FILE).read_text())
    assert staged["issuer_inspection"]["public_ca_bundle"] == "public-ca-bundle.pem"
    monkeypatch.chdir(dest)  # Lambda runs in the code root (/var/task)
    assert load_config(dest / CONFIG_FILE).issuer_inspection.public_ca_bundle == "public-ca-bundle.pem"
