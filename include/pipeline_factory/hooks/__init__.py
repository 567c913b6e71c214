"""Airflow hooks: how the Airflow-facing classes read their connections (one hook per external system)."""
