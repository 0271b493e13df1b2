#!/usr/bin/env python3
"""Seeds one programme through the public API: PAIRS active pairs (mentor and mentee enrolled, both agreements
recorded) with SESSIONS_PER_PAIR sessions each (6 held, 1 cancelled by the mentee, 1 by the mentor — some late —,
the rest scheduled; every tenth pair idle for two months, so it is at risk), and an after-each-session survey.
Prints the programme id. Standard library only; requests run on a pool of keep-alive connections.

    seed_programme.py BASE_URL TOKEN [PAIRS] [SESSIONS_PER_PAIR]
"""
import concurrent.futures
import datetime
import http.client
import json
import sys
import threading
import urllib.parse

BASE, TOKEN = sys.argv[1], sys.argv[2]
PAIRS = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
SESSIONS = int(sys.argv[4]) if len(sys.argv) > 4 else 10
WORKERS = 8
url = urllib.parse.urlparse(BASE)
local = threading.local()


def call(method, path, body=None, expect=(200, 201)):
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    data = json.dumps(body) if body is not None else None
    for attempt in range(3):
        try:
            local.conn.request(method, path, body=data, headers=headers)
            response = local.conn.getresponse()
            payload = response.read()
            break
        except (http.client.HTTPException, ConnectionError):
            local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            if attempt == 2:
                raise
    if response.status not in expect:
        raise RuntimeError(f"{method} {path} -> {response.status}: {payload[:300]!r}")
    return json.loads(payload) if payload else None


def at(days):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)).isoformat()


def seed_pair(programme, i):
    mentor = call("POST", "/v1/participants", {"email": f"mentor{i}@bench.test", "display_name": f"Mentor {i}",
                                                "level": 2, "department": f"D{i % 7}"})["id"]
    mentee = call("POST", "/v1/participants", {"email": f"mentee{i}@bench.test", "display_name": f"Mentee {i}",
                                                "level": 9, "department": f"D{(i + 1) % 7}"})["id"]
    for who, role in ((mentor, "mentor"), (mentee, "mentee")):
        call("POST", f"/v1/programmes/{programme}/enrolments", {"participant_id": who, "role": role,
                                                                "topics": ["AI tools"]})
    pair = call("POST", f"/v1/programmes/{programme}/pairs", {"mentor_id": mentor, "mentee_id": mentee})["id"]
    for side in ("mentor", "mentee"):
        call("POST", f"/v1/pairs/{pair}/agreement", {"side": side})
    idle = i % 10 == 0
    for k in range(SESSIONS):
        # Held sessions in the past (two months ago for idle pairs), then cancellations, then upcoming ones.
        if k < 6:
            days = (-60 if idle else -30) + 4 * k
        elif k < 8:
            days = 0.5 if (k == 6 and i % 3 == 0) else 5 + k
        else:
            days = 14 * (k - 7) + (120 if idle else 2)
        session = call("POST", f"/v1/pairs/{pair}/sessions", {"starts_at": at(days), "mode": "video",
                                                               "agenda": ["AI tools"]})["id"]
        if k < 6:
            call("POST", f"/v1/sessions/{session}/complete", {"topics_discussed": ["AI tools"]})
        elif k < 8:
            call("POST", f"/v1/sessions/{session}/cancel", {"reason": "busy",
                                                             "cancelled_by": "mentee" if k == 6 else "mentor"})
    return pair


def main():
    programme = call("POST", "/v1/programmes", {
        "name": "Bench programme", "topics": ["AI tools", "hybrid work"], "starts_on": "2026-01-01",
        "ends_on": "2027-12-31", "ground_rules": {"target_sessions": 6, "meeting_cadence_days": 14}})["id"]
    call("POST", f"/v1/programmes/{programme}/transitions", {"to": "enrolling"})
    call("POST", f"/v1/programmes/{programme}/surveys", {
        "title": "Pulse", "milestone": "after_each_session",
        "questions": [{"id": "useful", "kind": "likert", "prompt": "Useful?"}]})
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        for n, _ in enumerate(pool.map(lambda i: seed_pair(programme, i), range(PAIRS)), 1):
            if n % 250 == 0:
                print(f"seeded {n} pairs", file=sys.stderr, flush=True)
    print(programme)


main()
