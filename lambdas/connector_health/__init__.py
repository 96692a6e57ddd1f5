"""connector-health: health and drift monitor for OIDC web-identity connectors into AWS."""

__version__ = "0.1.0"
