"""Classifying STS answers to `AssumeRoleWithWebIdentity` exactly as CHECKS.md and FACTS.md say.

STS reports which validation stage refused a token only through its error code and message. The known
(code, message) pairs come from FACTS.md ("as seen in the wild"); anything else is never guessed at: it is
`Outcome.INCONCLUSIVE`, except the one documented rule for the forged probe — `InvalidIdentityToken` with a
message that matches none of the known ones is the expected signature (or unknown `kid`) rejection.

Messages are compared by prefix after collapsing runs of white space, so the double-space variant
"... identity provider,  please reference ..." and a future single-space spelling classify alike, and a message
AWS extends with detail (the issuer URL, a trailing period) still classifies; a message that merely mentions a
known phrase in the middle does not.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Outcome(str, enum.Enum):
    """What an STS answer means, independent of who presented the token."""

    REGION_DISABLED = "region-disabled"
    PROVIDER_NOT_FOUND = "provider-not-found"
    AUDIENCE_REJECTED = "audience-rejected"
    THUMBPRINT_REJECTED = "thumbprint-rejected"
    IDP_UNREACHABLE = "idp-unreachable"
    # InvalidIdentityToken with a message that is none of the known ones: no public message is known for a bad
    # signature or an unknown `kid`, so this is what a forged token should get (FACTS.md).
    SIGNATURE_REJECTED = "signature-rejected"
    ACCESS_DENIED = "access-denied"
    CREDENTIALS_ISSUED = "credentials-issued"
    INCONCLUSIVE = "inconclusive"


# The stage a probe reached, in the order STS validates a token (the metric the dashboard will chart).
STAGES = ("region", "provider", "audience", "keys", "signature", "trust", "credentials")
STAGE_OF = {
    Outcome.REGION_DISABLED: "region",
    Outcome.PROVIDER_NOT_FOUND: "provider",
    Outcome.AUDIENCE_REJECTED: "audience",
    Outcome.THUMBPRINT_REJECTED: "keys",
    Outcome.IDP_UNREACHABLE: "keys",
    Outcome.SIGNATURE_REJECTED: "signature",
    Outcome.ACCESS_DENIED: "trust",
    Outcome.CREDENTIALS_ISSUED: "credentials",
    Outcome.INCONCLUSIVE: "unknown",
}


def stage_index(stage: str) -> int:
    """Position of a stage in STS's order (higher = further); -1 for 'unknown' and 'no-answer'."""
    return STAGES.index(stage) if stage in STAGES else -1


@dataclass(frozen=True)
class KnownMessage:
    code: str
    prefix: str
    outcome: Outcome


# FACTS.md, "Errors (code: message as seen in the wild)". Known messages that no EXCHANGE_* row names
# (missing aud, expired token) are known, so they are NOT the expected rejection: they classify as INCONCLUSIVE.
KNOWN_MESSAGES: tuple[KnownMessage, ...] = (
    KnownMessage("InvalidIdentityToken", "No OpenIDConnect provider found in your account for", Outcome.PROVIDER_NOT_FOUND),
    KnownMessage("InvalidIdentityToken", "Incorrect token audience", Outcome.AUDIENCE_REJECTED),
    KnownMessage("InvalidIdentityToken", "Missing a required claim: aud", Outcome.INCONCLUSIVE),
    KnownMessage("InvalidIdentityToken", "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
                 Outcome.THUMBPRINT_REJECTED),
    KnownMessage("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider, please reference "
                 "AssumeRoleWithWebIdentity documentation for requirements", Outcome.IDP_UNREACHABLE),
    KnownMessage("ExpiredTokenException", "Token expired: current date/time", Outcome.INCONCLUSIVE),
    KnownMessage("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", Outcome.ACCESS_DENIED),
)

# Codes whose meaning does not depend on the message.
CODE_ONLY = {
    "IDPCommunicationError": Outcome.IDP_UNREACHABLE,
    "RegionDisabledException": Outcome.REGION_DISABLED,
}

_SPACES = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text or "").strip()


def classify(code: str | None, message: str | None) -> Outcome:
    """Classify one STS answer. `code` None means STS returned credentials."""
    if code is None:
        return Outcome.CREDENTIALS_ISSUED
    if code in CODE_ONLY:
        return CODE_ONLY[code]
    text = _norm(message or "")
    for known in KNOWN_MESSAGES:
        if code == known.code and text.startswith(_norm(known.prefix)):
            return known.outcome
    if code == "InvalidIdentityToken":
        if any(text.startswith(_norm(k.prefix)) for k in KNOWN_MESSAGES):
            return Outcome.INCONCLUSIVE  # a known message under another code than usual: do not guess
        return Outcome.SIGNATURE_REJECTED
    return Outcome.INCONCLUSIVE


# What each outcome means for the forged probe and for a real token (CHECKS.md, EXCHANGE_*). None: no finding.
PROBE_CHECK = {
    Outcome.REGION_DISABLED: "EXCHANGE_REGION_DISABLED",
    Outcome.PROVIDER_NOT_FOUND: "EXCHANGE_PROVIDER_NOT_FOUND",
    Outcome.AUDIENCE_REJECTED: "EXCHANGE_AUDIENCE_REJECTED",
    Outcome.THUMBPRINT_REJECTED: "EXCHANGE_THUMBPRINT_REJECTED",
    Outcome.IDP_UNREACHABLE: "EXCHANGE_IDP_UNREACHABLE",
    Outcome.SIGNATURE_REJECTED: None,  # the expected answer: metrics only
    Outcome.ACCESS_DENIED: "EXCHANGE_INCONCLUSIVE",  # a forged token should never reach the trust policy
    Outcome.CREDENTIALS_ISSUED: "EXCHANGE_FORGED_TOKEN_ACCEPTED",
    Outcome.INCONCLUSIVE: "EXCHANGE_INCONCLUSIVE",
}

REAL_CHECK = {
    Outcome.REGION_DISABLED: "EXCHANGE_REGION_DISABLED",
    Outcome.PROVIDER_NOT_FOUND: "EXCHANGE_PROVIDER_NOT_FOUND",
    Outcome.AUDIENCE_REJECTED: "EXCHANGE_AUDIENCE_REJECTED",
    Outcome.THUMBPRINT_REJECTED: "EXCHANGE_THUMBPRINT_REJECTED",
    Outcome.IDP_UNREACHABLE: "EXCHANGE_IDP_UNREACHABLE",
    Outcome.SIGNATURE_REJECTED: "EXCHANGE_INCONCLUSIVE",  # a real token that passed pre-flight: unexplained
    Outcome.ACCESS_DENIED: "EXCHANGE_ACCESS_DENIED",
    Outcome.CREDENTIALS_ISSUED: None,  # then sts:GetCallerIdentity decides (EXCHANGE_CREDENTIALS_UNUSABLE)
    Outcome.INCONCLUSIVE: "EXCHANGE_INCONCLUSIVE",
}

# Outcomes that do not depend on the audience (or that say the issuer's keys cannot be had): once a provider
# gets one, probing its other audiences would only hit the same wall (and the same IdP) again.
PROVIDER_WIDE = frozenset({Outcome.REGION_DISABLED, Outcome.PROVIDER_NOT_FOUND, Outcome.THUMBPRINT_REJECTED,
                           Outcome.IDP_UNREACHABLE})
