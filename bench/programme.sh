#!/usr/bin/env bash
# Programme health at scale: seeds a programme with 2,000 active pairs and 20,000 sessions through the API
# (bench/seed_programme.py), then measures with wrk
#   - GET /v1/programmes/{id}/metrics (every figure a SQL aggregate),
#   - GET /v1/programmes/{id}/pairs?state=active&at_risk=true&limit=50 (filtered, paginated pair list),
# one request at a time (latency) and at 4 connections (throughput), on SQLite and on PostgreSQL. Appends the figures
# to bench/results/programme.md. On PostgreSQL the load is followed by VACUUM ANALYZE (what autovacuum does next).
#
#   bench/programme.sh
#   BACKENDS=sqlite PAIRS=500 bench/programme.sh
#
# Needs wrk, jq, python3, and for PostgreSQL a server at $PG_ADMIN_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/upward-target}"
BACKENDS="${BACKENDS:-sqlite postgres}"
DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-4}"
PAIRS="${PAIRS:-2000}"
SESSIONS_PER_PAIR="${SESSIONS_PER_PAIR:-10}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PORT="${PORT:-18124}"
command -v wrk >/dev/null || { echo "bench: wrk is required (apt-get install wrk)" >&2; exit 1; }

cargo build --release -p upward-server --bin upward >/dev/null
BIN="$CARGO_TARGET_DIR/release/upward"
WORK="$(mktemp -d)"
# Never `kill 0`: with no server running that would signal this whole process group.
trap 'if [ -n "${SERVER_PID:-}" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
mkdir -p bench/results

summarise() { # wrk output → "rps p50 p99 non2xx"
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$1")
  p50=$(awk '$1=="50%" {print $2}' "$1")
  p99=$(awk '$1=="99%" {print $2}' "$1")
  errors=$(awk '/Non-2xx/ {print $5}' "$1")
  echo "$rps ${p50} ${p99} ${errors:-0}"
}

for backend in $BACKENDS; do
  case "$backend" in
    sqlite) DB_URL="sqlite://$WORK/bench.db?mode=rwc" ;;
    postgres)
      DB_NAME="upward_bench_programme_$$"
      psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null
      psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null
      DB_URL="${PG_ADMIN_URL%/*}/$DB_NAME" ;;
    *) echo "unknown backend $backend" >&2; exit 1 ;;
  esac
  export UPWARD_DATABASE_URL="$DB_URL" UPWARD_LISTEN="127.0.0.1:$PORT" UPWARD_LOG=warn
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; then
    echo "bench: port $PORT is already in use (a leftover server?); set PORT" >&2; exit 1
  fi
  ORG=$("$BIN" org create --name "Bench")
  "$BIN" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/oauth/token" -d grant_type=client_credentials \
    -d client_id="$(jq -r .client_id <<<"$ORG")" -d client_secret="$(jq -r .client_secret <<<"$ORG")" | jq -r .access_token)
  AUTH="Authorization: Bearer $TOKEN"
  started=$(date +%s)
  PROGRAMME=$(python3 bench/seed_programme.py "http://127.0.0.1:$PORT" "$TOKEN" "$PAIRS" "$SESSIONS_PER_PAIR")
  seeded=$(( $(date +%s) - started ))
  # A bulk load leaves PostgreSQL without statistics or a visibility map until autovacuum passes, which it would
  # within a minute in production: do its work now (PG_VACUUM=0 measures the freshly loaded state instead).
  if [ "$backend" = postgres ] && [ "${PG_VACUUM:-1}" = 1 ]; then psql "$DB_URL" -qc "VACUUM ANALYZE"; fi
  METRICS="http://127.0.0.1:$PORT/v1/programmes/$PROGRAMME/metrics"
  LIST="http://127.0.0.1:$PORT/v1/programmes/$PROGRAMME/pairs?state=active&at_risk=true&limit=50"
  curl -sf -H "$AUTH" "$METRICS" | jq -c '{pairs: .pairs, sessions: .sessions, requests: .surveys.requests}'

  wrk -t1 -c1 -d3s -H "$AUTH" "$METRICS" >/dev/null
  wrk -t1 -c1 -d"$DURATION" --latency -H "$AUTH" "$METRICS" >"$WORK/metrics1.txt"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "$AUTH" "$METRICS" >"$WORK/metrics.txt"
  wrk -t1 -c1 -d"$DURATION" --latency -H "$AUTH" "$LIST" >"$WORK/list1.txt"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "$AUTH" "$LIST" >"$WORK/list.txt"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

  read -r _ m1_p50 m1_p99 m1_err <<<"$(summarise "$WORK/metrics1.txt")"
  read -r m_rps m_p50 _ m_err <<<"$(summarise "$WORK/metrics.txt")"
  read -r _ l1_p50 l1_p99 l1_err <<<"$(summarise "$WORK/list1.txt")"
  read -r l_rps l_p50 _ l_err <<<"$(summarise "$WORK/list.txt")"
  errors=$((m1_err + m_err + l1_err + l_err))
  line="| $(date -u +%Y-%m-%d) | $backend | $PAIRS × $SESSIONS_PER_PAIR (seeded in ${seeded}s$( [ "$backend" = postgres ] && [ "${PG_VACUUM:-1}" = 1 ] && echo ", vacuumed")) | $m1_p50 | $m1_p99 | $m_rps | $m_p50 | $l1_p50 | $l1_p99 | $l_rps | $l_p50 | $errors |"
  echo "$line"
  echo "$line" >>bench/results/programme.md
  if [ "$backend" = postgres ]; then psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null; fi
done
