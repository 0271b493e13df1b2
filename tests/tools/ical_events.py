#!/usr/bin/env python3
"""Reads an iCalendar document (RFC 5545) on stdin with the `icalendar` library (collective/icalendar, the
well-known Python implementation) and prints what the tests check, as JSON: the calendar's properties and each
event's UID, SEQUENCE, STATUS, start and end as UTC instants, attendees, summary, description and location.
Exits non-zero when the document does not parse."""

import json
import sys
from datetime import timezone

import icalendar

calendar = icalendar.Calendar.from_ical(sys.stdin.read())
events = []
for event in calendar.walk("VEVENT"):
    attendees = event.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    events.append({
        "uid": str(event["UID"]),
        "sequence": int(event.get("SEQUENCE", 0)),
        "status": str(event.get("STATUS", "")),
        "start": start.astimezone(timezone.utc).isoformat(),
        "end": end.astimezone(timezone.utc).isoformat(),
        "start_has_zone": start.tzinfo is not None,
        "attendees": [{"address": str(a), "cn": str(a.params.get("CN", ""))} for a in attendees],
        "summary": str(event.get("SUMMARY", "")),
        "description": str(event.get("DESCRIPTION", "")),
        "location": str(event.get("LOCATION", "")),
        "class": str(event.get("CLASS", "")),
    })
print(json.dumps({
    "version": str(calendar.get("VERSION", "")),
    "prodid": str(calendar.get("PRODID", "")),
    "name": str(calendar.get("X-WR-CALNAME", "")),
    "events": events,
}))
