#!/usr/bin/env bash
# Load test of the participant API with wrk: authenticated GET /v1/participants/{id} and POST /v1/participants at 32
# connections, on SQLite and on PostgreSQL. Prints requests/s, p50, p99 and the server's peak RSS (VmHWM), and
# appends them to bench/results/participants.md.
#
#   bench/participants.sh                 # both backends, 20 s per run
#   BACKENDS=sqlite DURATION=10s bench/participants.sh
#
# Needs wrk (apt-get install wrk), jq, and for PostgreSQL a server at $PG_ADMIN_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/upward-target}"
BACKENDS="${BACKENDS:-sqlite postgres}"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PORT="${PORT:-18123}"
command -v wrk >/dev/null || { echo "bench: wrk is required (apt-get install wrk)" >&2; exit 1; }

cargo build --release -p upward-server --bin upward >/dev/null
BIN="$CARGO_TARGET_DIR/release/upward"
WORK="$(mktemp -d)"
# Never `kill 0`: with no server running that would signal this whole process group.
trap 'if [ -n "${SERVER_PID:-}" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
mkdir -p bench/results

cat > "$WORK/post.lua" <<'LUA'
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"bench-%d-%d@acme.test","display_name":"Bench %d","department":"Engineering","level":3,"timezone":"Europe/London"}',
    tid, counter, counter)
  return wrk.format("POST", "/v1/participants", nil, body)
end
LUA

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
      DB_NAME="upward_bench_$$"
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
  ID=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/participants" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"email":"target@acme.test","display_name":"Target","level":5}' | jq -r .id)
  AUTH="Authorization: Bearer $TOKEN"

  # Warm up, then measure.
  wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -H "$AUTH" "http://127.0.0.1:$PORT/v1/participants/$ID" >/dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$AUTH" "http://127.0.0.1:$PORT/v1/participants/$ID" >"$WORK/get.txt"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$AUTH" -H 'Content-Type: application/json' \
    -s "$WORK/post.lua" "http://127.0.0.1:$PORT" >"$WORK/post.txt"
  RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

  read -r get_rps get_p50 get_p99 get_err <<<"$(summarise "$WORK/get.txt")"
  read -r post_rps post_p50 post_p99 post_err <<<"$(summarise "$WORK/post.txt")"
  line="| $(date -u +%Y-%m-%d) | $backend | GET /v1/participants/{id} | $get_rps | $get_p50 | $get_p99 | $get_err | POST /v1/participants | $post_rps | $post_p50 | $post_p99 | $post_err | $((RSS_KB / 1024)) MiB |"
  echo "$line"
  echo "$line" >>bench/results/participants.md
  if [ "$backend" = postgres ]; then psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null; fi
done
