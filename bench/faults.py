#!/usr/bin/env python3
"""Faults survived under load: two Upward instances on PostgreSQL + Redis, steady writes and reads through both, a
webhook receiver, and in turn: PostgreSQL restarted, Redis stopped for 30 s, one instance killed with SIGKILL, the
other stopped with SIGTERM under load. Afterwards every acknowledged write must be present, every acknowledged
participant's `participant.created` must have reached the receiver (counted once per `webhook-id`; duplicates are
counted, not failures), the instances must have recovered without a restart (except the two that were stopped), and
`/readyz` must have reported each outage while it lasted. Prints each phase's errors and time to recover, and a JSON
summary; exits 1 when a check fails.

Usage (from the checkout, after `cargo build --release`; restarts the machine's PostgreSQL and Redis, so not in CI):
    python3 bench/faults.py [path/to/upward]
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "/var/tmp/upward-target"), "release", "upward")
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "upward_faults"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379"
PG_CLUSTER = os.listdir("/etc/postgresql")[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now():
    return time.monotonic()


class Receiver(BaseHTTPRequestHandler):
    # Keep-alive, as real receivers do; and (below) a listen backlog for 40 concurrent senders: Python's default of 5
    # drops the other connection attempts, which the sender's TCP retries after a second — a receiver that takes a
    # second per delivery, which is what the third run measured.
    protocol_version = "HTTP/1.1"
    deliveries = {}  # webhook-id -> count
    participants = set()
    first_arrival = {}  # participant id -> when its event first arrived
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        event = json.loads(body)
        with Receiver.lock:
            wid = self.headers.get("webhook-id")
            Receiver.deliveries[wid] = Receiver.deliveries.get(wid, 0) + 1
            Receiver.participants.add(event["data"]["id"])
            Receiver.first_arrival.setdefault(event["data"]["id"], now())
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Instance:
    def __init__(self, name):
        self.name, self.port, self.process = name, free_port(), None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPWARD_")}
        env.update({
            "UPWARD_DATABASE_URL": PG_URL, "UPWARD_REDIS_URL": REDIS_URL, "UPWARD_LISTEN": f"127.0.0.1:{self.port}",
            "UPWARD_SECRETS_KEY_FILE": "/tmp/upward-faults.key", "UPWARD_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "UPWARD_WEBHOOK_RETRY_SCHEDULE": "1s,2s,4s,8s,16s,30s,30s,30s", "UPWARD_LOG": "warn",
            "UPWARD_PLUGIN_CACHE_DIR": "/tmp/upward-faults-cache",
        })
        self.log = open(f"/tmp/upward-faults-{self.name}.log", "a")
        self.process = subprocess.Popen([BINARY, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = now() + 60
        while now() < deadline:
            if ready(self) == 200:
                return
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not become ready")


def request(method, url, token=None, body=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except Exception as e:  # refused, reset, timed out
        return type(e).__name__, None


def ready(instance):
    return request("GET", instance.base + "/readyz", timeout=2)[0]


class Phase:
    def __init__(self):
        self.name, self.started, self.errors, self.first_ok_after = "warm-up", now(), {}, None

    def begin(self, name):
        self.name, self.started, self.first_ok_after = name, now(), None
        self.errors[name] = {}


def main():
    subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"], check=True)
    subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {DATABASE}"], check=True)
    ThreadingHTTPServer.request_queue_size = 1024
    hooks = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPWARD_")}
    env.update({"UPWARD_DATABASE_URL": PG_URL, "UPWARD_SECRETS_KEY_FILE": "/tmp/upward-faults.key"})
    org = json.loads(subprocess.run([BINARY, "org", "create", "--name", "Faults"], env=env, check=True,
                                    capture_output=True, text=True).stdout)
    a, b = Instance("a"), Instance("b")
    a.start()
    b.start()
    data = f"grant_type=client_credentials&client_id={org['client_id']}&client_secret={org['client_secret']}"
    with urllib.request.urlopen(urllib.request.Request(a.base + "/v1/oauth/token", data=data.encode())) as r:
        token = json.loads(r.read())["access_token"]
    status, _ = request("POST", a.base + "/v1/webhook-endpoints", token,
                        {"url": f"http://127.0.0.1:{hooks.server_port}/hooks", "event_types": ["participant.created"]})
    assert status == 201, status

    acknowledged, lock, stop, phase = [], threading.Lock(), threading.Event(), Phase()
    acknowledged_at = {}  # participant id -> when the write was acknowledged
    load_started = now()
    phase.errors["warm-up"] = {}
    readiness = []  # (phase, instance, status)

    def note(kind):
        with lock:
            counts = phase.errors.setdefault(phase.name, {})
            counts[kind] = counts.get(kind, 0) + 1

    def writer(n):
        i = 0
        while not stop.is_set():
            i += 1
            target = (a, b)[i % 2]
            status, body = request("POST", target.base + "/v1/participants", token,
                                   {"email": f"w{n}-{i}@faults.test", "display_name": f"W {n} {i}", "level": 3})
            if status == 201:
                with lock:
                    acknowledged.append(body["id"])
                    acknowledged_at[body["id"]] = now()
                    if phase.first_ok_after is None:
                        phase.first_ok_after = now() - phase.started
            else:
                note(f"write {status}")
                time.sleep(0.05)

    def reader():
        while not stop.is_set():
            with lock:
                ids = acknowledged[-200:]
            if not ids:
                time.sleep(0.05)
                continue
            target = random.choice((a, b))
            status, _ = request("GET", f"{target.base}/v1/participants/{random.choice(ids)}", token)
            if status != 200:
                note(f"read {status}")
                time.sleep(0.05)

    # One watcher per instance, every 50 ms: a PostgreSQL restart on this machine leaves the database down for well
    # under a second, and a 200 ms round over both instances missed it in one run of four.
    def watch(instance):
        while not stop.is_set():
            readiness.append((phase.name, instance.name, ready(instance)))
            time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    threads += [threading.Thread(target=watch, args=(i,)) for i in (a, b)]
    for t in threads:
        t.start()
    time.sleep(10)

    phases = []

    def fault(name, action, settle=15):
        phase.begin(name)
        started = now()
        action()
        time.sleep(settle)
        phases.append({"phase": name, "seconds": round(now() - started, 1), "errors": phase.errors.get(name, {}),
                       "first_write_acknowledged_after_s": round(phase.first_ok_after or -1, 2)})
        print(json.dumps(phases[-1]), flush=True)

    fault("postgresql restart", lambda: subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", PG_CLUSTER, "main", "restart"], check=True))

    def redis_outage():
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], capture_output=True)
        time.sleep(30)
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "",
                        "--appendonly", "no"], check=True, capture_output=True)
    fault("redis stopped 30 s", redis_outage)

    def kill_a():
        a.process.send_signal(signal.SIGKILL)
        a.process.wait()
        a.start()
    fault("instance a kill -9 (restarted)", kill_a)

    sigterm = {}

    def term_b():
        started = now()
        b.process.send_signal(signal.SIGTERM)
        try:
            b.process.wait(timeout=60)
            sigterm["exited_after_s"] = round(now() - started, 2)
        except subprocess.TimeoutExpired:
            sigterm["hung"] = True  # reported, then killed so the run can finish
            b.process.kill()
            b.process.wait()
        b.start()
    fault("instance b SIGTERM under load (restarted)", term_b)

    stop.set()
    for t in threads:
        t.join()
    load_stopped = now()
    # Everything acknowledged is there, and its event reaches the receiver.
    missing = [i for i in acknowledged if request("GET", f"{a.base}/v1/participants/{i}", token)[0] != 200]
    # Late is not lost: wait until the receiver has them all, or nothing has arrived for a minute (the retry
    # schedule's longest wait is 30 s), then ask the database where the rest are.
    settled, last_count, last_change = now(), -1, now()
    while True:
        with Receiver.lock:
            undelivered = [i for i in acknowledged if i not in Receiver.participants]
        if not undelivered or now() - last_change > 60:
            break
        if len(undelivered) != last_count:
            last_count, last_change = len(undelivered), now()
        time.sleep(1)
    delivered_within_s = round(now() - settled, 1)
    deliveries_by_status = subprocess.run(
        ["psql", PG_URL, "-Atc", "SELECT status || ': ' || count(*) || ' (attempts ' || min(attempt_count) || '-' "
         "|| max(attempt_count) || ')' FROM webhook_deliveries GROUP BY status ORDER BY status"],
        capture_output=True, text=True).stdout.split("\n")
    # When the events arrived: the lag from acknowledgement to first arrival, and arrivals per 30 s from the load's
    # start (a slow drain and a few stragglers look alike in one "last delivery" figure).
    with Receiver.lock:
        arrivals = dict(Receiver.first_arrival)
    lags = sorted(arrivals[i] - acknowledged_at[i] for i in acknowledged if i in arrivals)

    def pct(q):
        return round(lags[min(len(lags) - 1, int(q * len(lags)))], 2) if lags else None
    timeline = {}
    for at in arrivals.values():
        bucket = int((at - load_started) // 30) * 30
        timeline[bucket] = timeline.get(bucket, 0) + 1
    slowest = sorted(((arrivals[i] - acknowledged_at[i], i) for i in acknowledged if i in arrivals), reverse=True)[:5]
    slowest_rows = subprocess.run(
        ["psql", PG_URL, "-Atc", "SELECT d.status, d.attempt_count, d.created_at, d.updated_at FROM webhook_deliveries d "
         "JOIN events e ON e.id = d.event_id WHERE e.data->>'id' IN ("
         + ",".join(f"'{i}'" for _, i in slowest) + ")"],
        capture_output=True, text=True) if slowest else None
    outages = {}
    for name, instance, status in readiness:
        if status != 200:
            outages.setdefault(name, set()).add(f"{instance}:{status}")
    summary = {
        "acknowledged_writes": len(acknowledged),
        "missing_writes": len(missing),
        "undelivered_events": len(undelivered),
        "all_delivered_within_s_of_the_load_stopping": delivered_within_s if not undelivered else None,
        "deliveries_by_status": [line for line in deliveries_by_status if line],
        "deliveries": sum(Receiver.deliveries.values()),
        "duplicate_deliveries": sum(c - 1 for c in Receiver.deliveries.values()),
        "delivery_lag_s": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
        "load_s": round(load_stopped - load_started, 1),
        "arrivals_per_30_s_from_load_start": timeline,
        "slowest_deliveries_rows": (slowest_rows.stdout + slowest_rows.stderr).strip().split("\n") if slowest else [],
        "readyz_not_ok_during": {k: sorted(v) for k, v in outages.items()},
        "recovered": {i.name: ready(i) == 200 for i in (a, b)},
        "sigterm": sigterm,
        "phases": phases,
    }
    print(json.dumps(summary, indent=2))
    for instance in (a, b):
        instance.process.kill()
        instance.process.wait()
    ok = (not missing and not undelivered and all(summary["recovered"].values()) and not sigterm.get("hung")
          and "postgresql restart" in outages and "redis stopped 30 s" in outages)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
