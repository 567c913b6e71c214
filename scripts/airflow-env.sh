# Sourced by the Makefile's recipes and scripts: the Airflow settings of the
# embedded deployment (`make run`), all inside the checkout.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export PIPELINE_DATA_DIR="${PIPELINE_DATA_DIR:-$ROOT/.data}"
export PIPELINE_FACTORY_CONFIG="${PIPELINE_FACTORY_CONFIG:-$ROOT/config}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# A broken spec's import error starts with the YAML files it names, not a Python traceback.
export AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS="${AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS:-False}"
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
# A local deployment runs what it is given: `airflow dags trigger` works at once,
# and scheduled pipelines start on their schedules (their latest slot first).
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
# Sized for a small machine: standalone would start 32 workers.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-4}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-10}"
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="${AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL:-10}"
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
# Loopback unless asked otherwise (make run AIRFLOW__API__HOST=0.0.0.0): a laptop's
# Airflow, with the simple auth manager, is not for the whole network.
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
