#!/usr/bin/env bash
# Runs once, on the first start of the postgres container (an empty volume):
# one server, three databases: Airflow's metadata (created by the image),
# the job ledger and MLflow's tracking store, each with its own owner.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pipelines_pw="$PIPELINE_DB_PASSWORD" -v mlflow_pw="$MLFLOW_DB_PASSWORD" <<-'SQL'
	CREATE ROLE pipelines LOGIN PASSWORD :'pipelines_pw';
	CREATE DATABASE pipelines OWNER pipelines;
	CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_pw';
	CREATE DATABASE mlflow OWNER mlflow;
SQL
