"""Resilience policies: named in config/policies.yaml, referenced by stages."""
