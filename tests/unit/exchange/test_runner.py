"""The probe plan and its discipline, against a scripted STS: shared probes, provider-wide stops, the per-run cap."""

from __future__ import annotations

from botocore.exceptions import ClientError

from connector_health.collect.aws import AccountSnapshot, OidcProvider
from connector_health.config import parse_config
from connector_health.exchange.runner import ExchangeRunner, ProbeLimiter

ISSUER = "https://issuer.example.com/tenant/"
AUDS = ["api://a", "api://b", "api://c"]


class ScriptedSts:
    def __init__(self, answers):
        self.answers = answers  # audience -> (code, message) or None for credentials
        self.calls = []

    def assume_role_with_web_identity(self, **kwargs):
        import jwt

        aud = jwt.decode(kwargs["WebIdentityToken"], options={"verify_signature": False})["aud"]
        self.calls.append((aud, kwargs["RoleArn"], kwargs["RoleSessionName"], kwargs["DurationSeconds"]))
        answer = self.answers.get(aud, ("InvalidIdentityToken", "could not be validated"))
        if answer is None:
            return {"Credentials": {"AccessKeyId": "ASIA", "SecretAccessKey": "x", "SessionToken": "y"},
                    "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/R/s"}}
        raise ClientError({"Error": {"Code": answer[0], "Message": answer[1]},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "AssumeRoleWithWebIdentity")


def _runner(answers, connectors, limiter=ProbeLimiter):
    config = parse_config({"connectors": connectors})
    snapshot = AccountSnapshot(account_id="123456789012", providers_complete=True, roles_complete=True,
                               providers=[OidcProvider("arn:aws:iam::123456789012:oidc-provider/issuer.example.com/"
                                                       "tenant/", ISSUER, AUDS, [])])
    sts = ScriptedSts(answers)
    runner = ExchangeRunner(config, snapshot, {}, limiter_factory=limiter)
    runner._sts = lambda **_: sts  # noqa: SLF001 - the scripted STS stands in for boto3's client
    return runner, config.resolved_connectors(), sts


def _generic(name, audiences, **extra):
    return {"name": name, "preset": "generic", "issuer": ISSUER, "audiences": audiences,
            "roles": [{"name": f"{name}-role"}]} | extra


def test_connectors_sharing_a_provider_and_audience_share_the_probe():
    runner, connectors, sts = _runner({}, [_generic("one", AUDS[:2], caller={"session_name": "s-one"}),
                                           _generic("two", AUDS[1:])])
    results = runner.run(connectors)
    assert sorted(c[0] for c in sts.calls) == AUDS  # three probes, not four
    assert all(c[3] == 900 for c in sts.calls)
    shared = next(p for p in results.probes if p.audience == AUDS[1])
    assert shared.connectors == ["one", "two"]
    assert {p.check_id for p in results.probes} == {None}  # the expected rejection everywhere
    assert results.metrics()["providers"][ISSUER]["stage"] == "signature"


def test_a_provider_wide_answer_stops_the_other_audiences():
    runner, connectors, sts = _runner({AUDS[0]: ("InvalidIdentityToken", f"No OpenIDConnect provider found in your "
                                                                          f"account for {ISSUER}")},
                                      [_generic("one", AUDS)])
    results = runner.run(connectors)
    assert len(sts.calls) == 1
    assert [p.check_id for p in results.probes] == ["EXCHANGE_PROVIDER_NOT_FOUND"] * 3
    assert [p.inherited_from for p in results.probes] == [None, AUDS[0], AUDS[0]]
    assert results.metrics()["providers"][ISSUER]["probes"] == 1


def test_the_per_run_cap_skips_without_a_finding():
    runner, connectors, sts = _runner({}, [_generic("one", AUDS)], limiter=lambda: ProbeLimiter(cap=2))
    results = runner.run(connectors)
    assert len(sts.calls) == 2
    skipped = results.probes[2]
    assert skipped.check_id is None and "at most 2 probes" in skipped.skipped


def test_an_invalid_session_name_is_replaced_for_the_probe():
    runner, connectors, sts = _runner({}, [_generic("one", AUDS[:1], caller={"session_name": "not valid"})])
    runner.run(connectors)
    assert sts.calls[0][2] == "connector-health-probe"
