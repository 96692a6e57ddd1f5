"""File, env and command token sources; failures name the problem and never the token."""

from __future__ import annotations

import json
import sys

from connector_health.config import CommandTokenSource, EnvTokenSource, FileTokenSource
from connector_health.exchange.redact import Secret
from connector_health.exchange.tokens import fetch_token


def _ok(result, token):
    assert result.ok and result.error is None
    assert isinstance(result.token, Secret) and result.token.reveal() == token
    assert token not in repr(result) and token not in str(result.details)


def test_file_source(tmp_path, issuer):
    token = issuer.token()
    path = tmp_path / "token"
    path.write_text(token + "\n")
    _ok(fetch_token(FileTokenSource(type="file", path=str(path))), token)
    missing = fetch_token(FileTokenSource(type="file", path=str(tmp_path / "nope")))
    assert not missing.ok and "cannot read the token file" in missing.error and "FileNotFoundError" in missing.error


def test_env_source(monkeypatch, issuer):
    token = issuer.token()
    monkeypatch.setenv("CH_UNIT_TOKEN", token)
    _ok(fetch_token(EnvTokenSource(type="env", variable="CH_UNIT_TOKEN")), token)
    monkeypatch.setenv("CH_UNIT_TOKEN", "")
    assert "not set or empty" in fetch_token(EnvTokenSource(type="env", variable="CH_UNIT_TOKEN")).error


def test_something_that_is_not_a_jwt_is_not_a_token(monkeypatch):
    monkeypatch.setenv("CH_UNIT_TOKEN", "hunter2-not-a-jwt-at-all")
    result = fetch_token(EnvTokenSource(type="env", variable="CH_UNIT_TOKEN"))
    assert not result.ok and "not a usable JWT" in result.error and "hunter2" not in result.error


def test_command_source_plain_and_json(issuer):
    token = issuer.token()
    plain = CommandTokenSource(type="command", argv=[sys.executable, "-c", f"print({token!r})"])
    _ok(fetch_token(plain), token)
    as_json = CommandTokenSource(type="command", argv=[sys.executable, "-c",
                                                       f"print({json.dumps({'access_token': token})!r})"])
    _ok(fetch_token(as_json), token)


def test_command_failures_keep_only_the_exit_status(issuer):
    token = issuer.token()
    failing = CommandTokenSource(type="command", argv=[sys.executable, "-c",
                                                       f"import sys; sys.stderr.write({token!r}); sys.exit(3)"])
    result = fetch_token(failing)
    assert not result.ok and "exited with status 3" in result.error
    assert token not in result.error + json.dumps(result.details)
    slow = CommandTokenSource(type="command", argv=[sys.executable, "-c", "import time; time.sleep(5)"],
                              timeout_seconds=0.3)
    assert "did not finish within 0.3s" in fetch_token(slow).error
    absent = CommandTokenSource(type="command", argv=["/nonexistent/token-helper"])
    assert "could not start" in fetch_token(absent).error
