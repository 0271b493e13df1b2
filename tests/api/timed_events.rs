//! Time-based lifecycle events, seen by a subscriber: a session starting within a day is `session.upcoming`, a
//! programme ending within two weeks is `programme.ending_soon`, a pair whose mentee cancelled twice in a row is
//! `pair.at_risk` with its reasons — each exactly once, though two instances (on PostgreSQL) look every 100 ms.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use upward_tests::{Backend, Receiver, TestApp, TestDatabase, on_every_backend, test_config, with_fast_webhooks};

on_every_backend!(time_based_events_are_emitted_once_however_many_instances_look);

async fn time_based_events_are_emitted_once_however_many_instances_look(backend: Backend) {
    let database = Arc::new(TestDatabase::create(&backend).await);
    let mut config = test_config(&database.url);
    with_fast_webhooks(&mut config);
    config.timed_events_interval_ms = 100;
    let first = TestApp::spawn_on(database.clone(), config.clone()).await;
    // Several instances share a PostgreSQL database; the embedded SQLite file belongs to one instance (two
    // processes' deferred write transactions would collide), which still looks every 100 ms.
    let other = match backend {
        Backend::Postgres(_) => Some(TestApp::spawn_on(database.clone(), config).await),
        Backend::Sqlite => None,
    };
    let second = other.as_ref().unwrap_or(&first);
    let receiver = Receiver::start().await;

    let cohort = first.cohort().await;
    let admin = cohort.org.token.clone();
    first
        .ok(
            "/v1/webhook-endpoints",
            &admin,
            json!({"url": receiver.url("/timers"),
                   "event_types": ["session.upcoming", "programme.ending_soon", "pair.at_risk"]}),
            201,
        )
        .await;

    // A session in two hours; two later ones the mentee cancels.
    let soon = first.session(&cohort.pair, &cohort.mentor.token, 2).await;
    for hours in [72, 96] {
        let later = second.session(&cohort.pair, &cohort.mentor.token, hours).await;
        second
            .ok(
                &format!("/v1/sessions/{later}/cancel"),
                &cohort.mentee.token,
                json!({"reason": "board meeting"}),
                200,
            )
            .await;
    }
    // A programme ending in ten days.
    let ends_on = (chrono::Utc::now() + chrono::Duration::days(10))
        .date_naive()
        .to_string();
    let ending = first
        .enrolling_programme(
            &cohort.org,
            &cohort.manager,
            json!({"name": "Short sprint", "ends_on": ends_on}),
        )
        .await;

    let received = receiver.wait_for(3, Duration::from_secs(15)).await;
    // Several more looks by both instances change nothing.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 3, "each event once");
    let mut by_type: Vec<(String, Value)> = received
        .iter()
        .map(|r| {
            let body = r.json();
            (body["type"].as_str().unwrap().to_string(), body["data"].clone())
        })
        .collect();
    by_type.sort_by(|a, b| a.0.cmp(&b.0));
    let types: Vec<&str> = by_type.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["pair.at_risk", "programme.ending_soon", "session.upcoming"]);
    assert_eq!(by_type[0].1["id"], cohort.pair.as_str());
    assert_eq!(by_type[0].1["commitment"]["at_risk"], true);
    assert_eq!(
        by_type[0].1["commitment"]["risk_reasons"],
        json!(["mentee_cancellations"])
    );
    assert_eq!(by_type[1].1["id"], ending.as_str());
    assert_eq!(by_type[2].1["id"], soon.as_str());

    let events = first.events(&admin).await;
    for kind in ["session.upcoming", "programme.ending_soon", "pair.at_risk"] {
        assert_eq!(
            events.iter().filter(|e| e["type"] == kind).count(),
            1,
            "{kind} in the log once"
        );
    }
    first.stop().await;
    if let Some(other) = &other {
        other.stop().await;
    }
}
