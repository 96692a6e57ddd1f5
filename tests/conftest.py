"""Sandbox fixtures for tests/integration and tests/resilience: one sandbox (moto server + local TLS issuer) per
test process, restored per test.

They live here, not in each directory's conftest, because moto's backends are process-global: two session
fixtures of the same name in two conftests would start two sandboxes in one xdist worker. (With
`--import-mode=importlib` a conftest can neither be imported nor named in `pytest_plugins`.)
"""

from __future__ import annotations

import os

import pytest

from connector_health.config import load_config
from connector_health.engine import scan_account
from connector_health.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox_session():
    sandbox = Sandbox(issuer_timeout=1.0).start()
    saved = {k: os.environ.get(k) for k in sandbox.env()}
    os.environ.update(sandbox.env())
    yield sandbox
    sandbox.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def sandbox(sandbox_session):
    """The sandbox in its healthy seeded state."""
    sandbox_session.restore()
    return sandbox_session


@pytest.fixture
def three_members(sandbox):
    """An organisation of three member accounts (sandbox/org.py: 2 has a wildcard principal, 3 a stale thumbprint);
    afterwards the sandbox is a single account again (the next restore resets it)."""
    yield sandbox.seed_org(3, plans=["agentless-scanning", "servers"])
    sandbox.accounts = 0


@pytest.fixture
def config(sandbox):
    return load_config(sandbox.config_path)


@pytest.fixture
def scan(config):
    """Run the engine on the sandbox account; returns (result, {check_id: [findings]})."""

    def _scan(**kwargs):
        result = scan_account(config, **kwargs)
        by_id: dict[str, list] = {}
        for finding in result.findings:
            by_id.setdefault(finding.check_id, []).append(finding)
        return result, by_id

    return _scan


@pytest.fixture
def hang_guard():
    """`hang_guard(function, seconds=120) -> (finished, value)`: run `function` in a forked child process and kill
    it after `seconds`. A guard against hangs, not a timing assertion (bench/ measures times): a backtracking
    regex holds the GIL in C, so only a separate process can be stopped. `value` must be picklable."""
    import multiprocessing

    def run(function, seconds: float = 120.0):
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)

        def child():
            sender.send(function())

        process = context.Process(target=child, daemon=True)
        process.start()
        finished = receiver.poll(seconds)
        value = receiver.recv() if finished else None
        process.kill()
        process.join()
        return finished, value

    return run


@pytest.fixture(scope="session")
def ocsf_validator():
    """A validator of OCSF Detection Findings for the version and profiles the OCSF output names, from the official
    schema export that ocsf-json-schema ships (no network)."""
    import jsonschema
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    from connector_health.integrations.ocsf import CLASS_UID, OCSF_VERSION, PROFILES

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION))
    assert schema.lookup_class_name_from_uid(CLASS_UID) == "detection_finding"
    generated = schema.get_class_schema("detection_finding", profiles=PROFILES)
    jsonschema.Draft202012Validator.check_schema(generated)
    return jsonschema.Draft202012Validator(generated)
