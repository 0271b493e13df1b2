#!/usr/bin/env bash
# Where the hot read's time goes: serves Upward on a fresh SQLite database, loads the authenticated
# GET /v1/participants/{id} with wrk (-t2 -c32, as compare-get.sh does) and samples the server with `perf record`;
# prints the top entries by self time. With `list` as the third argument it loads the list read instead
# (`GET /v1/participants?limit=50`, a page of 50 of 60 participants, as compare-list.sh). Usage (after
# `cargo build --release`):
#   bench/profile-get.sh [UPWARD_BINARY] [SECONDS] [single|list]
set -euo pipefail
UPWARD=${1:-${CARGO_TARGET_DIR:-target}/release/upward}; SECS=${2:-10}; WHAT=${3:-single}
command -v wrk >/dev/null && command -v perf >/dev/null || { echo "wrk and perf are needed (apt-get install wrk linux-perf)"; exit 2; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$dir" && exec env UPWARD_DATABASE_URL="sqlite://$dir/upward.db?mode=rwc" UPWARD_LISTEN=127.0.0.1:$port UPWARD_LOG=warn \
  UPWARD_PLUGIN_CACHE_DIR="$dir/cache" "$UPWARD" serve >"$dir/server.log" 2>&1) & pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
creds=$(cd "$dir" && UPWARD_DATABASE_URL="sqlite://$dir/upward.db?mode=rwc" "$UPWARD" org create --name Bench)
cid=$(echo "$creds" | jq -r .client_id); csec=$(echo "$creds" | jq -r .client_secret)
T=$(curl -fsS -X POST "http://127.0.0.1:$port/v1/oauth/token" -d grant_type=client_credentials -d "client_id=$cid" \
  --data-urlencode "client_secret=$csec" | jq -r .access_token)
ID=$(curl -fsS -X POST "http://127.0.0.1:$port/v1/participants" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' \
  -d '{"email":"ada@acme.example","display_name":"Ada","department":"Engineering","level":3}' | jq -r .id)
TARGET="http://127.0.0.1:$port/v1/participants/$ID"
if [ "$WHAT" = list ]; then
  for i in $(seq 2 60); do
    curl -fsS -X POST "http://127.0.0.1:$port/v1/participants" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' \
      -d "{\"email\":\"p$i@acme.example\",\"display_name\":\"Person $i\",\"department\":\"Engineering\",\"level\":$((i % 9 + 1)),\"job_title\":\"Engineer\",\"location\":\"London\",\"timezone\":\"Europe/London\",\"languages\":[\"en\"]}" >/dev/null
  done
  TARGET="http://127.0.0.1:$port/v1/participants?limit=50"
fi
wrk -t2 -c32 -d"$((SECS + 2))s" -H "Authorization: Bearer $T" "$TARGET" >"$dir/wrk.txt" &
sleep 1
perf record -q -F 499 -g -p "$pid" -o "$dir/perf.data" -- sleep "$SECS" 2>/dev/null
wait %2 2>/dev/null || true
grep -E "Requests/sec" "$dir/wrk.txt"
echo "top entries by self time (% of the server's samples):"
perf report -i "$dir/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/[[:space:]]+/ /g; s/ - - ?$//' | cut -c1-160 | head -40
echo "by library:"
perf report -i "$dir/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/[[:space:]]+/ /g' | head -12
