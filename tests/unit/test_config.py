"""Configuration: presets resolve, and every error is one line that names the field (CLI exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from connector_health.cli import main
from connector_health.config import ConfigError, load_config, parse_config
from connector_health.presets import PRESET_NAMES, load_preset

REPO = Path(__file__).resolve().parents[2]
TENANT = "11111111-2222-4333-8444-555555555555"


def test_every_preset_loads():
    for name in PRESET_NAMES:
        assert load_preset(name).name == name


def test_defender_preset_carries_the_template_values():
    preset = load_preset("defender-for-cloud")
    assert preset.issuer == "https://sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
    assert len(preset.audiences) == 6
    assert preset.thumbprints == ["626d44e704d1ceabe3bf0d53397464ac8080142c"]
    roles = {r.name: r for plan in preset.plans.values() for r in plan}
    assert roles["CspmMonitorAws"].audience == "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
    assert "billing:*" in roles["CspmMonitorAws"].expected_deny
    # Every audience a role needs is one the template puts in the provider; the data-collection role's own
    # web-identity audience is not needed (Microsoft's AWS user assumes it with an external id).
    assert {r.audience for r in roles.values() if r.audience_needed} == set(preset.audiences)
    assert preset.caller["session_name"] == "MicrosoftDefenderForClouds_{customer_tenant_id}"
    # Today's role names, with the Feb 2024 template's names as aliases (Microsoft Learn, containers-permissions).
    assert roles["MDCContainersK8sRole"].aliases == ["DefenderForCloud-Containers-K8s"]
    data = roles["MDCContainersK8sDataCollectionRole"]
    assert data.aliases == ["DefenderForCloud-DataCollection"] and not data.audience_needed
    assert data.expected_principals[0].principal == "arn:aws:iam::197857026523:user/azuredefender-eks"


def test_defender_connector_resolves_with_overrides():
    config = parse_config({"connectors": [{
        "name": "mdc", "preset": "defender-for-cloud", "customer_tenant_id": TENANT.upper(),
        "plans": ["cspm"], "extra_audiences": ["api://other"], "severities": {"PROVIDER_AUDIENCE_UNEXPECTED": "low"},
    }]})
    [conn] = config.resolved_connectors()
    assert conn.needed_audiences == ("api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479",)
    assert "api://other" in conn.accepted_audiences and len(conn.accepted_audiences) == 7
    assert [r.name for r in conn.roles] == ["CspmMonitorAws"]
    assert conn.caller["session_name"] == f"MicrosoftDefenderForClouds_{TENANT}"
    assert conn.issuer_key == "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
    assert conn.severities["PROVIDER_AUDIENCE_UNEXPECTED"].value == "low"


def test_entra_app_issuer_comes_from_the_tenant():
    config = parse_config({"connectors": [{"name": "app", "preset": "entra-app", "customer_tenant_id": TENANT,
                                           "audiences": ["api://mciem-aws-oidc-app"]}]})
    assert config.resolved_connectors()[0].issuer == f"https://sts.windows.net/{TENANT}/"


def test_example_config_is_valid():
    config = load_config(REPO / "connector-health.example.yaml")
    assert {c.preset for c in config.connectors} >= {"defender-for-cloud", "github-actions"}


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"connectors": [{"name": "d", "preset": "defendr"}]},
         "connectors[0].preset = 'defendr': unknown preset; use one of defender-for-cloud"),
        ({"connectors": [{"name": "g", "preset": "generic", "issuer": "http://idp.example.com", "audiences": ["a"]}]},
         "connectors[0].issuer = 'http://idp.example.com': must start with https://"),
        ({"connectors": [{"name": "g", "preset": "generic", "issuer": "https://idp.example.com?x=1", "audiences": ["a"]}]},
         "query string"),
        ({"connectors": [{"name": "g", "preset": "generic", "isuer": "https://x"}]},
         "connectors[0].isuer: unknown option; did you mean 'issuer'?"),
        ({"connectors": "all"}, "connectors = 'all': Input should be a valid list"),
        ({"connectors": [{"name": "d", "preset": "defender-for-cloud"}]}, "customer_tenant_id"),
        ({"connectors": [{"name": "d", "preset": "defender-for-cloud", "customer_tenant_id": "not-a-guid"}]},
         "customer_tenant_id = 'not-a-guid': must be the Azure tenant GUID"),
        ({"connectors": [{"name": "d", "preset": "defender-for-cloud", "customer_tenant_id": TENANT, "plans": ["cpsm"]}]},
         "unknown plan 'cpsm'"),
        ({"connectors": [{"name": "e", "preset": "eks-irsa"}]}, "needs `issuer`"),
        ({"connectors": [{"name": "g", "preset": "github-actions", "severities": {"PROVIDER_MISSNG": "low"}}]},
         "did you mean PROVIDER_MISSING?"),
        ({"connectors": [{"name": "g", "preset": "github-actions", "severities": {"PROVIDER_MISSING": "urgent"}}]},
         "connectors[0].severities.PROVIDER_MISSING = 'urgent'"),
        ({"issuer_inspection": {"timeout_seconds": "fast"}, "connectors": [{"name": "g", "preset": "github-actions"}]},
         "issuer_inspection.timeout_seconds = 'fast'"),
        ({"connectors": [{"name": "g", "preset": "github-actions"}, {"name": "g", "preset": "gitlab"}]}, "used twice"),
        ({"conectors": []}, "conectors: unknown option; did you mean 'connectors'?"),
        ({"schedule": "every hour", "connectors": [{"name": "g", "preset": "github-actions"}]}, "rate(1 hour)"),
        ([1, 2], "must hold a YAML mapping"),
    ],
)
def test_bad_config_is_one_line_naming_the_field(data, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_cli_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"connectors": [{"name": "d", "preset": "nope"}]}))
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "connectors[0].preset" in err and "unknown preset" in err


@pytest.mark.parametrize("text, expected", [("connectors: [\n", "not valid YAML at line"), ("", "must hold a YAML mapping")])
def test_unparsable_files(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.yaml")


def test_unexpected_error_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    import connector_health.engine as engine

    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump({"connectors": [{"name": "g", "preset": "github-actions"}]}))

    def explode(*args, **kwargs):
        raise RuntimeError("endpoint exploded")

    monkeypatch.setattr(engine, "scan_account", explode)
    monkeypatch.delenv("CONNECTOR_HEALTH_DEBUG", raising=False)
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "could not complete check: RuntimeError: endpoint exploded" in err


# EventBridge's schedule grammar (FACTS.md "Service limits"): what EventBridge accepts, and what it refuses.
@pytest.mark.parametrize("expression", [
    "rate(1 minute)", "rate(1 hour)", "rate(1 day)", "rate(5 minutes)", "rate(12 hours)", "rate(7 days)",
    "cron(0 * * * ? *)", "cron(0/15 * * * ? *)", "cron(*/10 * * * ? *)", "cron(0 9 ? * MON-FRI *)",
    "cron(30 8,20 * * ? *)", "cron(0 12 ? * 2-6 *)", "cron(0 0 1 * ? *)", "cron(0 0 L * ? *)", "cron(0 0 15W * ? *)",
    "cron(0 0 ? * 6L *)", "cron(0 10 ? * FRI#2 *)", "cron(0 0 ? JAN-MAR,OCT * 2026-2030)", "cron(5/20 1-5 ? * SUN *)",
])
def test_schedules_eventbridge_accepts(expression):
    assert parse_config({"schedule": expression, "connectors": [{"name": "g", "preset": "github-actions"}]})


@pytest.mark.parametrize("expression, expected", [
    ("rate(1 hours)", "a rate of 1 takes the singular unit: rate(1 hour)"),
    ("rate(1 minutes)", "rate(1 minute)"),
    ("rate(5 hour)", "a rate above 1 takes the plural unit: rate(5 hours)"),
    ("rate(0 minutes)", "at least 1"),
    ("rate(2 weeks)", "unknown rate unit 'weeks'"),
    ("rate(1.5 hours)", "rate(N minutes|hours|days)"),
    ("cron(0 * * * * *)", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(0 * ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(0 * * * ?)", "cron takes six fields"),
    ("cron(0 * * * ? * *)", "cron takes six fields"),
    ("cron(60 * * * ? *)", "minutes field '60': values run from 0 to 59"),
    ("cron(0 24 * * ? *)", "hours field '24': values run from 0 to 23"),
    ("cron(0 0 32 * ? *)", "day-of-month field '32': values run from 1 to 31"),
    ("cron(0 0 ? 13 MON *)", "month field '13': values run from 1 to 12"),
    ("cron(0 0 ? * 8 *)", "day-of-week field '8': values run from 1 to 7"),
    ("cron(0 0 ? * MON-XYZ *)", "'XYZ' is not a number or a name"),
    ("cron(0 0 * * ? 1969)", "year field '1969': values run from 1970 to 2199"),
    ("cron(? 0 * * ? *)", "minutes field: ? is only allowed in day-of-month and day-of-week"),
    ("cron(0 0 L * MON *)", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(0/0 * * * ? *)", "a step (/n) must be a whole number of at least 1"),
    ("cron(0 0 ? * 3#6 *)", "'3#6' is not a number"),
    ("cron(30-10 * * * ? *)", "a range must go upwards"),
])
def test_schedules_eventbridge_refuses_are_one_line_config_errors(expression, expected, tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"schedule": expression, "connectors": [{"name": "g", "preset": "github-actions"}]}))
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"connector-health: config error: {path}: schedule = {expression!r}: ") and "\n" not in err
    assert expected in err
