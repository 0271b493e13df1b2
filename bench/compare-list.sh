#!/usr/bin/env bash
# The list read beside the single read, on one server, alternating: wrk -t2 -c32 against Upward's authenticated
# `GET /v1/participants?limit=50` (a page of 50 of 60 participants) and `GET /v1/participants/{id}`, SQLite, release
# build. Prints each round (req/s, p99, and the list's rows/s), the list-to-single ratio and the server's peak RSS.
#
#   bench/compare-list.sh [UPWARD_BINARY] [ROUNDS] [DURATION]
#
# Needs wrk (apt-get install wrk), curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/upward-target}"
UPWARD=${1:-$CARGO_TARGET_DIR/release/upward}
ROUNDS=${2:-3}; DUR=${3:-10s}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 2; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$dir" && exec env UPWARD_DATABASE_URL="sqlite://$dir/upward.db?mode=rwc" UPWARD_LISTEN=127.0.0.1:$port \
  UPWARD_LOG=warn UPWARD_PLUGIN_CACHE_DIR="$dir/cache" "$UPWARD" serve >"$dir/server.log" 2>&1) & pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
creds=$(cd "$dir" && UPWARD_DATABASE_URL="sqlite://$dir/upward.db?mode=rwc" "$UPWARD" org create --name Bench)
json() { python3 -c "import json,sys;print(json.load(sys.stdin)[\"$1\"])"; }
cid=$(echo "$creds" | json client_id); csec=$(echo "$creds" | json client_secret)
T=$(curl -fsS -X POST "http://127.0.0.1:$port/v1/oauth/token" -d grant_type=client_credentials -d "client_id=$cid" \
  --data-urlencode "client_secret=$csec" | json access_token)
for i in $(seq 1 60); do
  ID=$(curl -fsS -X POST "http://127.0.0.1:$port/v1/participants" -H "Authorization: Bearer $T" \
    -H 'Content-Type: application/json' \
    -d "{\"email\":\"p$i@acme.example\",\"display_name\":\"Person $i\",\"department\":\"Engineering\",\"level\":$((i % 9 + 1)),\"job_title\":\"Engineer\",\"location\":\"London\",\"timezone\":\"Europe/London\",\"languages\":[\"en\"]}" \
    | json id)
done
bytes=$(curl -fsS "http://127.0.0.1:$port/v1/participants?limit=50" -H "Authorization: Bearer $T" | wc -c)
rate() { wrk -t2 -c32 -d"$DUR" --latency -H "Authorization: Bearer $T" "$@" | awk '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{print r, p}'; }
ratios=()
for i in $(seq 1 "$ROUNDS"); do
  read -r sr sp < <(rate "http://127.0.0.1:$port/v1/participants/$ID")
  read -r lr lp < <(rate "http://127.0.0.1:$port/v1/participants?limit=50")
  ratio=$(python3 -c "print(f'{$lr/$sr:.3f}')")
  ratios+=("$ratio")
  echo "round $i: single $sr req/s (p99 $sp), list of 50 $lr req/s (p99 $lp, $(python3 -c "print(int($lr*50))") rows/s, $bytes bytes), list/single $ratio"
done
echo "upward peak RSS: $(awk '/VmHWM/{print $2, $3}' /proc/$pid/status)"
echo "median list/single ratio: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
