"""Pipeline specs: YAML loading with source positions, pydantic models, cross-checks."""
