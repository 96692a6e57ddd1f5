"""Test exchanges (EXCHANGE_*): the forged probe, token sources, pre-flight, real exchanges and their results.

`ExchangeRunner(config, snapshot, reports, session=..., inspector=...).run(connectors)` is the scan's exchange
phase; the EXCHANGE_* checks read the `ExchangeResults` it returns. `classify` turns an STS answer into an
`Outcome` exactly as CHECKS.md/FACTS.md say.
"""

from .classify import STAGES, Outcome, classify, stage_index
from .runner import ExchangeResults, ExchangeRunner, ProbeLimiter, ProbeResult, RealExchangeResult, exchange_summary

__all__ = [
    "ExchangeResults",
    "ExchangeRunner",
    "Outcome",
    "STAGES",
    "ProbeLimiter",
    "ProbeResult",
    "RealExchangeResult",
    "classify",
    "exchange_summary",
    "stage_index",
    "token_source_permissions",
]


def token_source_permissions(config) -> list[tuple[str, str]]:
    """IAM (action, resource) pairs the monitor needs for the configured token sources (for the CDK role).

    Not declared by a check: `secretsmanager:GetSecretValue` must be granted on the configured secrets only,
    never on `*`. AssumeRoleWithWebIdentity and GetCallerIdentity with temporary credentials need no permission.
    """
    out = []
    for conn in config.connectors:
        source = conn.token_source
        if conn.enabled and getattr(source, "secret_arn", None):
            out.append(("secretsmanager:GetSecretValue", source.secret_arn))
    return out
