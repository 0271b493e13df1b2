#!/usr/bin/env python3
"""Seeds a running Upward with one organisation's worth of real objects, through the public API, so that the fuzzing
gate's paths reach real rows (a participant, a programme, a pair, a session, a survey, a webhook endpoint) instead of
only 404s. Prints shell assignments: ADMIN_TOKEN, PARTICIPANT_TOKEN and the ids.

Usage: fuzz_seed.py BASE_URL CLIENT_ID CLIENT_SECRET
"""
import json
import sys
import urllib.parse
import urllib.request

base, client_id, client_secret = sys.argv[1:4]


def call(method, path, token=None, body=None, form=None, expect=(200, 201, 202)):
    headers = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in expect:
        sys.exit(f"seed: {method} {path}: {status} {text}")
    return json.loads(text) if text else None


admin = call("POST", "/v1/oauth/token", form={
    "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret})["access_token"]


def person(email, level, department):
    return call("POST", "/v1/participants", admin, {
        "email": email, "display_name": email.split("@")[0], "level": level, "department": department,
        "timezone": "Europe/London", "languages": ["en"]})["id"]


manager = person("maya@acme.test", 6, "People")
mentor = person("mo@acme.test", 2, "Engineering")
mentee = person("erin@acme.test", 9, "Finance")
programme = call("POST", "/v1/programmes", admin, {
    "name": "Digital fluency", "topics": ["AI tools", "hybrid work"], "managers": [manager],
    "ground_rules": {"off_limit_topics": ["salaries"], "target_sessions": 6},
    "starts_on": "2026-11-01", "ends_on": "2027-06-30"})["id"]
call("POST", f"/v1/programmes/{programme}/transitions", admin, {"to": "enrolling"})
for who, role in [(mentor, "mentor"), (mentee, "mentee")]:
    call("POST", f"/v1/programmes/{programme}/enrolments", admin,
         {"participant_id": who, "role": role, "topics": ["AI tools"]})
pair = call("POST", f"/v1/programmes/{programme}/pairs", admin, {"mentor_id": mentor, "mentee_id": mentee})["id"]
for side in ["mentor", "mentee"]:
    call("POST", f"/v1/pairs/{pair}/agreement", admin, {"side": side})
session = call("POST", f"/v1/pairs/{pair}/sessions", admin, {
    "starts_at": "2027-01-18T09:00:00+00:00", "mode": "video", "agenda": ["AI tools"]})["id"]
endpoint = call("POST", "/v1/webhook-endpoints", admin, {"url": "http://127.0.0.1:9/hook"})["id"]
participant = call("POST", f"/v1/participants/{mentor}/tokens", admin)["access_token"]
for name, value in [("ADMIN_TOKEN", admin), ("PARTICIPANT_TOKEN", participant), ("PARTICIPANT_ID", mentor),
                    ("PROGRAMME_ID", programme), ("PAIR_ID", pair), ("SESSION_ID", session),
                    ("ENDPOINT_ID", endpoint)]:
    print(f"{name}={value}")
