"""Every STS answer in FACTS.md classifies exactly; unknown answers are never guessed at."""

from __future__ import annotations

import pytest

from connector_health.exchange.classify import PROBE_CHECK, REAL_CHECK, Outcome, classify

ISSUER = "https://sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
DOUBLE_SPACE = ("Couldn't retrieve verification key from your identity provider,  please reference "
                "AssumeRoleWithWebIdentity documentation for requirements")

FACTS = [
    ("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {ISSUER}", Outcome.PROVIDER_NOT_FOUND,
     "EXCHANGE_PROVIDER_NOT_FOUND", "EXCHANGE_PROVIDER_NOT_FOUND"),
    ("InvalidIdentityToken", "Incorrect token audience", Outcome.AUDIENCE_REJECTED,
     "EXCHANGE_AUDIENCE_REJECTED", "EXCHANGE_AUDIENCE_REJECTED"),
    ("InvalidIdentityToken", "Missing a required claim: aud", Outcome.INCONCLUSIVE,
     "EXCHANGE_INCONCLUSIVE", "EXCHANGE_INCONCLUSIVE"),
    ("InvalidIdentityToken", "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
     Outcome.THUMBPRINT_REJECTED, "EXCHANGE_THUMBPRINT_REJECTED", "EXCHANGE_THUMBPRINT_REJECTED"),
    ("InvalidIdentityToken", DOUBLE_SPACE, Outcome.IDP_UNREACHABLE, "EXCHANGE_IDP_UNREACHABLE", "EXCHANGE_IDP_UNREACHABLE"),
    ("IDPCommunicationError", "The request could not be fulfilled because the identity provider (IDP) that was asked "
     "to verify the incoming identity token could not be reached.", Outcome.IDP_UNREACHABLE,
     "EXCHANGE_IDP_UNREACHABLE", "EXCHANGE_IDP_UNREACHABLE"),
    ("IDPRejectedClaim", "The identity provider rejected the claim", Outcome.INCONCLUSIVE,
     "EXCHANGE_INCONCLUSIVE", "EXCHANGE_INCONCLUSIVE"),
    ("ExpiredTokenException", "Token expired: current date/time 1624482533 must be before the expiration "
     "date/time1624482335", Outcome.INCONCLUSIVE, "EXCHANGE_INCONCLUSIVE", "EXCHANGE_INCONCLUSIVE"),
    ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", Outcome.ACCESS_DENIED,
     "EXCHANGE_INCONCLUSIVE", "EXCHANGE_ACCESS_DENIED"),
    ("RegionDisabledException", "STS is not activated in this region for account:123456789012. Your account "
     "administrator can activate STS in this region using the IAM Console.", Outcome.REGION_DISABLED,
     "EXCHANGE_REGION_DISABLED", "EXCHANGE_REGION_DISABLED"),
    ("PackedPolicyTooLarge", "Packed policy consumes 140% of allotted space", Outcome.INCONCLUSIVE,
     "EXCHANGE_INCONCLUSIVE", "EXCHANGE_INCONCLUSIVE"),
    ("MalformedPolicyDocument", "The policy is not in the valid JSON format.", Outcome.INCONCLUSIVE,
     "EXCHANGE_INCONCLUSIVE", "EXCHANGE_INCONCLUSIVE"),
]


@pytest.mark.parametrize("code, message, outcome, probe_check, real_check", FACTS, ids=[f[0] + ":" + f[1][:30] for f in FACTS])
def test_facts_messages(code, message, outcome, probe_check, real_check):
    assert classify(code, message) is outcome
    assert PROBE_CHECK[outcome] == probe_check
    assert REAL_CHECK[outcome] == real_check


def test_double_space_variant_and_single_space_spelling_classify_alike():
    assert "  please" in DOUBLE_SPACE
    assert classify("InvalidIdentityToken", DOUBLE_SPACE) is Outcome.IDP_UNREACHABLE
    assert classify("InvalidIdentityToken", DOUBLE_SPACE.replace("  ", " ")) is Outcome.IDP_UNREACHABLE


def test_known_messages_with_detail_appended_still_classify():
    assert classify("InvalidIdentityToken", "Incorrect token audience.") is Outcome.AUDIENCE_REJECTED
    assert classify("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity (request id x)") \
        is Outcome.ACCESS_DENIED


def test_the_expected_probe_rejection_is_an_unknown_invalid_identity_token_message():
    for message in ("The web identity token that was passed could not be validated by Amazon Web Services.",
                    "Signature verification failed", ""):
        outcome = classify("InvalidIdentityToken", message)
        assert outcome is Outcome.SIGNATURE_REJECTED
        assert PROBE_CHECK[outcome] is None  # no finding, metrics only
        assert REAL_CHECK[outcome] == "EXCHANGE_INCONCLUSIVE"  # a real token that passed pre-flight: unexplained


@pytest.mark.parametrize("code, message", [
    ("Throttling", "Rate exceeded"),
    ("InternalFailure", "We encountered an internal error"),
    ("ValidationError", "1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint"),
    ("SomethingNew", "Incorrect token audience"),  # a known message under an unknown code
    ("InvalidIdentityToken", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),  # known text, other code
    ("InvalidIdentityToken", "Token expired: current date/time 1 must be before the expiration date/time0"),
    ("AccessDenied", "User is not authorized to perform sts:AssumeRole"),
])
def test_unknown_answers_are_inconclusive(code, message):
    outcome = classify(code, message)
    assert outcome is Outcome.INCONCLUSIVE
    assert PROBE_CHECK[outcome] == REAL_CHECK[outcome] == "EXCHANGE_INCONCLUSIVE"


def test_a_known_phrase_inside_another_message_is_not_matched():
    assert classify("InvalidIdentityToken", "Error: Incorrect token audience") is Outcome.SIGNATURE_REJECTED
    assert classify("AccessDenied", "Error: Not authorized to perform sts:AssumeRoleWithWebIdentity") \
        is Outcome.INCONCLUSIVE


def test_credentials_for_the_forged_probe_are_the_worst_case():
    assert classify(None, None) is Outcome.CREDENTIALS_ISSUED
    assert PROBE_CHECK[Outcome.CREDENTIALS_ISSUED] == "EXCHANGE_FORGED_TOKEN_ACCEPTED"
    assert REAL_CHECK[Outcome.CREDENTIALS_ISSUED] is None
