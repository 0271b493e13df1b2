#!/usr/bin/env python3
"""Participant imports at scale: a 50,000-row spreadsheet (CSV, a five-level reporting line, managers listed after
some of their reports) imported into a fresh SQLite database by the release build — the dry run, the import applied,
and the same file imported again (everything unchanged) — each timed end to end from the client, over RUNS fresh
servers. Prints each run and the medians; exits 1 when a median is over the 10 s target or a count is wrong.

Usage (from the checkout, after `cargo build --release`):
    python3 bench/import.py [path/to/upward]        # ROWS=50000 RUNS=3 by default
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "/var/tmp/upward-target"), "release", "upward")
ROWS = int(os.environ.get("ROWS", "50000"))
RUNS = int(os.environ.get("RUNS", "3"))
TARGET_S = 10.0
DEPARTMENTS = ["Engineering", "Finance", "Sales", "People", "Operations", "Marketing", "Legal", "Design"]


def sheet(rows):
    """Row i reports to row i // 8 (so row 0 is the top); every 16th row lists a manager that comes later."""
    lines = ["external_id,email,name,department,title,level,manager_external_id,location,timezone,active"]
    for i in range(rows):
        manager = "" if i == 0 else f"E-{i // 8}"
        depth = 0
        j = i
        while j > 0:
            j //= 8
            depth += 1
        level = max(1, 10 - 2 * depth)
        lines.append(f"E-{i},person{i}@bench.test,Person {i},{DEPARTMENTS[i % 8]},Role {i % 37},{level},{manager},"
                     f"London,Europe/London,yes")
    # Reports before their managers: move every 16th row (not the top) to the front.
    head, body = lines[0], lines[1:]
    early = [r for k, r in enumerate(body) if k % 16 == 15]
    late = [r for k, r in enumerate(body) if k % 16 != 15]
    return "\n".join([head] + early + late) + "\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, token, body, content_type):
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", content_type)
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=300) as response:
        answer = json.loads(response.read())
    return time.monotonic() - started, answer


def run_once(body):
    with tempfile.TemporaryDirectory() as directory:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPWARD_")}
        port = free_port()
        env.update({
            "UPWARD_DATABASE_URL": f"sqlite://{directory}/upward.db?mode=rwc",
            "UPWARD_LISTEN": f"127.0.0.1:{port}",
            "UPWARD_SECRETS_KEY_FILE": f"{directory}/secrets.key",
            "UPWARD_LOG": "warn",
        })
        org = json.loads(subprocess.run([BINARY, "org", "create", "--name", "Bench"], env=env, check=True,
                                        capture_output=True, text=True).stdout)
        server = subprocess.Popen([BINARY, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/readyz", timeout=1)
                    break
                except Exception:
                    time.sleep(0.1)
            form = f"grant_type=client_credentials&client_id={org['client_id']}&client_secret={org['client_secret']}"
            with urllib.request.urlopen(urllib.request.Request(base + "/v1/oauth/token", data=form.encode())) as r:
                token = json.loads(r.read())["access_token"]
            url = base + "/v1/participant-imports"
            dry_s, dry = post(url + "?dry_run=true", token, body, "text/csv")
            apply_s, applied = post(url, token, body, "text/csv")
            again_s, again = post(url, token, body, "text/csv")
            peak_kib = 0
            with open(f"/proc/{server.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak_kib = int(line.split()[1])
            return {
                "dry_run_s": round(dry_s, 2), "apply_s": round(apply_s, 2), "again_s": round(again_s, 2),
                "dry_created": dry["counts"]["created"], "created": applied["counts"]["created"],
                "errors": applied["counts"]["errors"], "unchanged_again": again["counts"]["unchanged"],
                "peak_rss_mib": round(peak_kib / 1024),
            }
        finally:
            server.kill()
            server.wait()


def main():
    body = sheet(ROWS).encode()
    print(f"{ROWS} rows, {len(body) / 1e6:.1f} MB of CSV, {RUNS} runs", flush=True)
    runs = []
    for _ in range(RUNS):
        runs.append(run_once(body))
        print(json.dumps(runs[-1]), flush=True)
    medians = {k: statistics.median(r[k] for r in runs) for k in ("dry_run_s", "apply_s", "again_s", "peak_rss_mib")}
    print(json.dumps({"median": medians}))
    counts_ok = all(r["dry_created"] == ROWS and r["created"] == ROWS and r["errors"] == 0
                    and r["unchanged_again"] == ROWS for r in runs)
    ok = counts_ok and medians["dry_run_s"] <= TARGET_S and medians["apply_s"] <= TARGET_S
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
