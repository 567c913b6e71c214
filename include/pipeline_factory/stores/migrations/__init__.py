"""Alembic migrations of the job ledger, shipped inside the package and run by ``Ledger.upgrade()``."""
