"""Collectors: the account snapshot (IAM) and the live issuer inspection (HTTPS, TLS)."""
