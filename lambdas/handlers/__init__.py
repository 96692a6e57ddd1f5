"""Thin Lambda entry points; the logic lives in connector_health."""
