"""Trust-policy analysis shared by the TRUST_* checks and `lint-trust`."""
