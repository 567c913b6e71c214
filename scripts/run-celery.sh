#!/usr/bin/env bash
# `make run EXECUTOR=celery`: the distributed engine on one machine, in the
# foreground.  Starts a private PostgreSQL (Airflow metadata and Celery
# results; the CeleryExecutor refuses SQLite), Redis (the Celery broker, and
# the rate limiter and circuit breakers every worker shares), then Airflow's
# scheduler, dag-processor, triggerer, api-server and CELERY_WORKERS workers
# (default 2), each its own process with its own queue and host name.
# Ctrl-C (or SIGTERM) stops every process it started.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
source "$ROOT/scripts/airflow-env.sh"
VENV="${VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_PORT="${PG_PORT:-5433}"
REDIS_PORT="${REDIS_PORT:-6389}"
CELERY_WORKERS="${CELERY_WORKERS:-2}"
WORKER_LOG_PORT="${WORKER_LOG_PORT:-8793}"  # worker N serves its task logs on WORKER_LOG_PORT + N - 1
# initdb refuses root: as root the cluster lives where the postgres user owns it.
if [ "$(id -u)" = 0 ]; then
    PGDATA="${PGDATA:-/var/lib/postgresql/pipeline-factory}"; AS_PG=(runuser -u postgres --)
else
    PGDATA="${PGDATA:-$AIRFLOW_HOME/postgres}"; AS_PG=()
fi
LOGS="$AIRFLOW_HOME/celery-logs"
mkdir -p "$AIRFLOW_HOME" "$PIPELINE_DATA_DIR/redis" "$LOGS"

export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://postgres@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql://postgres@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
export AIRFLOW__CELERY__WORKER_CONCURRENCY="${AIRFLOW__CELERY__WORKER_CONCURRENCY:-2}"
export AIRFLOW__CORE__HOSTNAME_CALLABLE=pipeline_factory.hostname.worker_hostname
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:${AIRFLOW__API__PORT}/execution/"
export PIPELINE_REDIS_URL="${PIPELINE_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/1}"

pids=()
stop() {
    trap - INT TERM EXIT
    echo; echo "==> stopping Airflow, the workers and Redis"
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 1 30); do
        alive=""
        for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break; sleep 1
    done
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true; done
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
    for hook in "${STOP_HOOKS[@]:-}"; do [ -n "$hook" ] && eval "$hook" || true; done
}
STOP_HOOKS=("${@}")
trap stop EXIT
trap 'exit 130' INT TERM

start() {  # start NAME COMMAND...: its own process group, logs in $LOGS/NAME.log
    local name="$1"; shift
    setsid "$@" >"$LOGS/$name.log" 2>&1 &
    pids+=("$!")
}

echo "==> PostgreSQL on 127.0.0.1:$PG_PORT ($PGDATA)"
if [ ! -f "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"; [ ${#AS_PG[@]} -gt 0 ] && chown postgres "$PGDATA"
    "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGDATA" -A trust -U postgres >"$LOGS/initdb.log"
fi
if ! "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w start \
        -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
fi
"${AS_PG[@]}" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'airflow'" | grep -q 1 \
    || "${AS_PG[@]}" createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres airflow

echo "==> Redis on 127.0.0.1:$REDIS_PORT"
start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PIPELINE_DATA_DIR/redis"

echo "==> checking pipeline specs"
python -m pipeline_factory validate || echo "    (invalid specs are listed above; they show as import errors in the UI)"
echo "==> migrating the Airflow database"
airflow db migrate >"$LOGS/migrate.log" 2>&1 || { tail -20 "$LOGS/migrate.log"; exit 1; }
python -m pipeline_factory pools >"$AIRFLOW_HOME/pools.json"
airflow pools import "$AIRFLOW_HOME/pools.json" >/dev/null

echo "==> starting Airflow (logs: $LOGS/)"
for component in api-server scheduler dag-processor triggerer; do start "$component" airflow "$component"; done
workers=""
for i in $(seq 1 "$CELERY_WORKERS"); do
    name="worker-$i"; queue="worker_$i"
    start "$name" env PIPELINE_WORKER_NAME="$name" AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$((WORKER_LOG_PORT + i - 1)) \
        airflow celery worker --queues "default,$queue" --celery-hostname "$name@%h" --pid "$AIRFLOW_HOME/$name.pid"
    workers="$workers $name (queues default,$queue)"
done

url="http://localhost:${AIRFLOW__API__PORT}"
for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$url/api/v2/monitor/health" 2>/dev/null; then break; fi
    sleep 2
done
user="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*}"
pwfile="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
password="$(python -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], '?'))" "$pwfile" "$user" 2>/dev/null || echo "see $pwfile")"
cat <<MSG

  Airflow UI:  $url   (CeleryExecutor)
  Log in as:   $user / $password   (from $pwfile)
  Workers:    $workers
  Trigger:     .venv/bin/airflow dags trigger example_hello --conf '{"greeting": "hi"}'
               (with AIRFLOW_HOME=$AIRFLOW_HOME AIRFLOW__CORE__EXECUTOR=CeleryExecutor
                AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)

  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
echo "a process exited; logs in $LOGS/"
