"""Spec -> Airflow DAG."""

from __future__ import annotations

from pipeline_factory.factory.builder import build_dag

__all__ = ["build_dag"]
