//! Calendars: a participant subscribes to their sessions from Outlook or Google Calendar at a secret address, sees
//! a reschedule and a cancellation arrive as the same event revised, downloads one session as an `.ics`, and
//! revokes the address. Every document is read by the `icalendar` Python library (tests/tools/ical_events.py), not
//! by our own code.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(a_participant_subscribes_to_their_sessions_in_a_calendar_app);

/// The iCalendar document as the `icalendar` library reads it.
fn parsed(ics: &str) -> Value {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/ical_events.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the README's test command installs the icalendar library)");
    child.stdin.take().unwrap().write_all(ics.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "icalendar could not read the document: {}\n{ics}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A feed read the way a calendar app reads it: no bearer token, the secret in the address.
async fn read(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

fn event<'a>(calendar: &'a Value, session: &str) -> &'a Value {
    calendar["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["uid"] == format!("{session}@upward"))
        .unwrap_or_else(|| panic!("no event for {session}: {calendar}"))
}

fn utc(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

async fn a_participant_subscribes_to_their_sessions_in_a_calendar_app(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let (mo, erin) = (&cohort.mentor, &cohort.mentee);

    // Two sessions planned (one at a +02:00 offset), and a private note that must never reach a calendar.
    let first_at = "2027-01-12T09:30:00+02:00";
    let first = app
        .ok(
            &format!("/v1/pairs/{}/sessions", cohort.pair),
            &mo.token,
            json!({"starts_at": first_at, "duration_minutes": 45, "mode": "video",
                   "agenda": ["AI tools", "hybrid work"]}),
            201,
        )
        .await;
    let first = first["id"].as_str().unwrap().to_string();
    let second = app.session(&cohort.pair, &mo.token, 24 * 9).await;
    app.ok(
        &format!("/v1/pairs/{}/notes", cohort.pair),
        &mo.token,
        json!({"body": "Erin admitted the reorganisation worries her"}),
        201,
    )
    .await;

    // Mo subscribes: the address is shown once and needs no token.
    let issued = app.ok("/v1/me/calendar-feed", &mo.token, json!(null), 201).await;
    let url = issued["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.url("/v1/calendar-feeds/upc_")), "{url}");
    assert_eq!(issued["participant_id"], mo.id.as_str());
    let (status, content_type, ics) = read(&url).await;
    assert_eq!(status, 200, "{ics}");
    assert!(content_type.starts_with("text/calendar"), "{content_type}");
    let calendar = parsed(&ics);
    assert_eq!(calendar["version"], "2.0");
    assert_eq!(calendar["events"].as_array().unwrap().len(), 2, "{calendar}");
    let planned = event(&calendar, &first);
    assert_eq!(planned["sequence"], 0);
    assert_eq!(planned["status"], "CONFIRMED");
    assert_eq!(planned["start"], utc(first_at));
    assert_eq!(planned["start"], "2027-01-12T07:30:00+00:00");
    assert_eq!(planned["end"], "2027-01-12T08:15:00+00:00");
    assert_eq!(planned["start_has_zone"], true);
    // The other side is the attendee; the agenda is in the description; the note is nowhere.
    assert_eq!(
        planned["attendees"],
        json!([{"address": "mailto:erin@acme.test", "cn": "erin"}])
    );
    assert!(
        planned["description"]
            .as_str()
            .unwrap()
            .contains("AI tools; hybrid work")
    );
    assert_eq!(planned["class"], "PRIVATE");
    assert!(!ics.contains("reorganisation"), "a note reached the calendar");

    // Calendar apps poll: an unchanged feed is a 304.
    let etag = reqwest::get(&url).await.unwrap().headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let unchanged = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);

    // A reschedule revises the same event; a cancellation keeps it, cancelled, so calendars remove it.
    let moved_to = "2027-01-14T16:00:00+00:00";
    app.ok_with(
        Method::PATCH,
        &format!("/v1/sessions/{first}"),
        &erin.token,
        json!({"starts_at": moved_to}),
        200,
    )
    .await;
    app.ok(
        &format!("/v1/sessions/{second}/cancel"),
        &erin.token,
        json!({"reason": "Board meeting"}),
        200,
    )
    .await;
    let (_, _, ics) = read(&url).await;
    let calendar = parsed(&ics);
    let moved = event(&calendar, &first);
    assert_eq!(moved["sequence"], 1);
    assert_eq!(moved["start"], utc(moved_to));
    assert_eq!(moved["status"], "CONFIRMED");
    let cancelled = event(&calendar, &second);
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["sequence"], 1);
    let changed = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200, "the ETag follows the content");

    // One session as an .ics: the same event (same UID and SEQUENCE), Mo as Erin's attendee; the admin sees both.
    let response = app.get(&format!("/v1/sessions/{first}/event.ics"), &erin.token).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("session-{first}.ics"))
    );
    let single = parsed(&response.text().await.unwrap());
    let one = event(&single, &first);
    assert_eq!(one["sequence"], 1);
    assert_eq!(
        one["attendees"],
        json!([{"address": "mailto:mo@acme.test", "cn": "mo"}])
    );
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/sessions/{first}/event.ics"),
            &cohort.org.token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let admin_view = app
        .get(&format!("/v1/sessions/{first}/event.ics"), &cohort.org.token)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        event(&parsed(&admin_view), &first)["attendees"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let globex = app.org("Globex").await;
    assert_problem(
        app.get(&format!("/v1/sessions/{first}/event.ics"), &globex.token).await,
        404,
        "not_found",
    )
    .await;

    // Issuing again revokes the old address; revoking ends the new one.
    let reissued = app.ok("/v1/me/calendar-feed", &mo.token, json!(null), 201).await;
    let new_url = reissued["url"].as_str().unwrap().to_string();
    assert_ne!(new_url, url);
    assert_eq!(read(&url).await.0, 404);
    assert_eq!(read(&new_url).await.0, 200);
    let revoked = app
        .request(Method::DELETE, "/v1/me/calendar-feed", &mo.token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let (status, content_type, _) = read(&new_url).await;
    assert_eq!((status, content_type.as_str()), (404, "application/problem+json"));
    assert_eq!(read(&app.url("/v1/calendar-feeds/not-a-secret")).await.0, 404);

    // A front end provisions Erin's feed with the organisation's token; nobody else may, and an organisation's
    // client is nobody's "me".
    let erins = app
        .ok(
            &format!("/v1/participants/{}/calendar-feed", erin.id),
            &cohort.org.token,
            json!(null),
            201,
        )
        .await;
    let erins_url = erins["url"].as_str().unwrap().to_string();
    let erins_calendar = parsed(&read(&erins_url).await.2);
    assert_eq!(
        event(&erins_calendar, &first)["attendees"],
        json!([{"address": "mailto:mo@acme.test", "cn": "mo"}])
    );
    assert_problem(
        app.post(
            &format!("/v1/participants/{}/calendar-feed", erin.id),
            &mo.token,
            &json!(null),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/participants/{}/calendar-feed", erin.id),
            &globex.token,
            &json!(null),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post("/v1/me/calendar-feed", &cohort.org.token, &json!(null)).await,
        403,
        "forbidden",
    )
    .await;

    // Erin leaves: her calendar is no longer published.
    app.ok_with(
        Method::PATCH,
        &format!("/v1/participants/{}", erin.id),
        &cohort.org.token,
        json!({"active": false}),
        200,
    )
    .await;
    assert_eq!(read(&erins_url).await.0, 404);
}
