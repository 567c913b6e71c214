"""Alembic migrations of the job ledger, shipped inside the package and run by ``ledger_db.upgrade()``."""
