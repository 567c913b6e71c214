#!/usr/bin/env bash
# Cold `make run`: seconds from a fresh clone (no venv, empty pip/uv and Maven
# caches) until the Airflow UI answers.  Heavy (downloads every wheel and jar):
# run it sparingly.
#
#   bench/cold_start.sh [REV] [SCRATCH_DIR]
#
# Ports are moved off the defaults so a running `make run` is not disturbed.
# Everything `make run` started is stopped (Ctrl-C path) when the UI answers.
set -euo pipefail
REV="${1:-HEAD}"
SCRATCH="${2:-$(mktemp -d /tmp/cold-start.XXXXXX)}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
API_PORT="${API_PORT:-18080}"

rm -rf "$SCRATCH/repo"
mkdir -p "$SCRATCH"
git clone -q "$SRC" "$SCRATCH/repo"
git -C "$SCRATCH/repo" checkout -q "$REV"
export PIP_CACHE_DIR="$SCRATCH/pip-cache" UV_CACHE_DIR="$SCRATCH/uv-cache"
cd "$SCRATCH/repo"
started=$(date +%s.%N)
setsid make run AIRFLOW__API__PORT="$API_PORT" NEO4J_PORT=17687 EUTILS_PORT=18765 MLFLOW_PORT=15000 \
    MAIL_PORT=12525 >"$SCRATCH/make-run.log" 2>&1 &
pgid=$!
answered=""
while kill -0 "$pgid" 2>/dev/null; do
    if curl -fsS -o /dev/null "http://127.0.0.1:$API_PORT/api/v2/monitor/health" 2>/dev/null; then
        answered=$(date +%s.%N); break
    fi
    sleep 1
done
kill -TERM -- "-$pgid" 2>/dev/null || true
for _ in $(seq 1 240); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 1; done
kill -KILL -- "-$pgid" 2>/dev/null || true
# The services run in their own sessions: stop them the Makefile's way whatever happened above.
make --no-print-directory services-stop NEO4J_PORT=17687 EUTILS_PORT=18765 MLFLOW_PORT=15000 MAIL_PORT=12525 \
    >>"$SCRATCH/make-run.log" 2>&1 || true
if [ -z "$answered" ]; then echo "make run exited before the UI answered; see $SCRATCH/make-run.log"; exit 1; fi
printf 'rev %s: UI answered %.0f s after a cold `make run` (log: %s)\n' \
    "$(git rev-parse --short HEAD)" "$(echo "$answered - $started" | bc)" "$SCRATCH/make-run.log"
