#!/usr/bin/env bash
# `make run`: Airflow 3 standalone (api-server + UI, scheduler, dag-processor,
# triggerer) on the embedded defaults, in the foreground.  Ctrl-C (or SIGTERM)
# stops every process it started: standalone ignores SIGINT without a
# terminal and SIGTERM reaches only its parent, so the whole process group is
# signalled here.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/airflow-env.sh"
VENV="${VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"

mkdir -p "$AIRFLOW_HOME" "$PIPELINE_DATA_DIR"
# Keys of the recommended length, made once and kept (0600) so logins survive a
# restart.  Airflow's own fallback is 16 random bytes (a 24-byte HS512 key, which
# PyJWT warns about); HS512 wants 64 bytes.  Values already in the environment win.
source "$ROOT/scripts/local-secrets.sh" "$AIRFLOW_HOME/secrets.env"
echo "==> checking pipeline specs"
python -m pipeline_factory validate || echo "    (invalid specs are listed above; they show as import errors in the UI)"
echo "==> migrating the Airflow database in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log"; exit 1; }
python -m pipeline_factory pools >"$AIRFLOW_HOME/pools.json"
airflow pools import "$AIRFLOW_HOME/pools.json" >/dev/null

pgid=""
stop() {
    trap - INT TERM EXIT
    if [ -n "$pgid" ]; then
        echo; echo "==> stopping Airflow (process group $pgid)"
        kill -TERM -- "-$pgid" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    for hook in "${STOP_HOOKS[@]:-}"; do [ -n "$hook" ] && eval "$hook" || true; done
}
STOP_HOOKS=("${@}")
trap stop INT TERM EXIT

echo "==> starting airflow standalone (logs: $AIRFLOW_HOME/standalone.log)"
setsid airflow standalone >"$AIRFLOW_HOME/standalone.log" 2>&1 &
pgid=$!

host="${AIRFLOW__API__HOST}"; [ "$host" = "0.0.0.0" ] && host=localhost
url="http://${host}:${AIRFLOW__API__PORT}"
for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$url/api/v2/monitor/health" 2>/dev/null; then break; fi
    if ! kill -0 "$pgid" 2>/dev/null; then echo "airflow standalone exited:"; tail -40 "$AIRFLOW_HOME/standalone.log"; exit 1; fi
    sleep 2
done
user="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*}"
pwfile="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
password="$(python -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], '?'))" "$pwfile" "$user" 2>/dev/null || echo "see $pwfile")"
cat <<MSG

  Airflow UI:  $url
  Log in as:   $user / $password   (from $pwfile)
  Pipelines:   $(python -m pipeline_factory list 2>/dev/null | tail -n +2 | awk '{print $1}' | paste -sd' ')
  Trigger:     .venv/bin/airflow dags trigger example_hello --conf '{"greeting": "hi"}'
               (with AIRFLOW_HOME=$AIRFLOW_HOME)

  Ctrl-C stops everything.
MSG
wait "$pgid"
