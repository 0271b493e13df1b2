//! Webhooks through the API. Endpoints: an admin registers a URL and receives its signing secret once; the secret is
//! never shown again (not on reads, lists or events) until a rotation issues a new one; internal targets are refused;
//! nobody else sees or touches an endpoint. Delivery, against real receivers on loopback: every subscribed event
//! arrives signed so that the official Standard Webhooks library verifies it; failures are retried on the
//! (compressed) schedule with the same `webhook-id`, honouring `Retry-After`; redirects and timeouts are failures;
//! 410 Gone and long failure disable the endpoint; a rotation signs with both secrets; the log, re-sends, replays
//! and test events work; a restarted server delivers what was committed before it stopped.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{
    Backend, Receiver, Reply, TestApp, TestDatabase, assert_problem, on_every_backend, with_fast_webhooks,
};

on_every_backend!(
    an_admin_registers_an_endpoint_and_sees_its_secret_once,
    internal_targets_and_unknown_event_types_are_refused,
    endpoints_belong_to_admins_of_their_organisation,
    a_receiver_gets_every_subscribed_event_signed_the_standard_way,
    failures_are_retried_on_schedule_with_the_same_webhook_id,
    gone_or_failing_for_too_long_disables_the_endpoint,
    a_rotated_secret_signs_alongside_the_new_one,
    an_admin_replays_an_outage_resends_and_tests,
    events_committed_before_a_stop_are_delivered_after_the_restart,
);

/// With Redis (and PostgreSQL), instances share delivery: an API-only instance's events reach the receiver at once
/// through another instance's dispatcher (woken through Redis, not its 10-second poll), and two dispatchers on one
/// database deliver a burst from both instances once each — none lost, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_delivery_through_redis() {
    let (Some(backend), Some(redis)) = (Backend::postgres(), upward_tests::redis_url()) else {
        eprintln!("UPWARD_TEST_DATABASE_URL and UPWARD_TEST_REDIS_URL are not both set: skipped");
        return;
    };
    let database = std::sync::Arc::new(TestDatabase::create(&backend).await);
    let mut config = upward_tests::test_config(&database.url);
    with_fast_webhooks(&mut config);
    config.redis_url = Some(redis);
    config.webhook_poll_interval_ms = 10_000;
    let mut api_only = config.clone();
    api_only.webhook_dispatcher = false;
    let delivering = TestApp::spawn_on(database.clone(), config.clone()).await;
    let serving = TestApp::spawn_on(database.clone(), api_only).await;
    let receiver = Receiver::start().await;
    let acme = serving.org("Acme").await;
    endpoint(
        &serving,
        &acme.token,
        &receiver.url("/hooks"),
        json!(["participant.created"]),
    )
    .await;
    // Give the delivering instance's subscription a moment to be in place.
    tokio::time::sleep(Duration::from_millis(300)).await;

    serving.person(&acme.token, "first@acme.test", 2).await;
    let started = std::time::Instant::now();
    receiver.wait_for(1, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "woken through Redis, not by the poll"
    );

    // Both instances deliver now; a burst through both.
    let second = TestApp::spawn_on(database.clone(), config).await;
    let writes = (0..60).map(|i| {
        let app = if i % 2 == 0 { &delivering } else { &second };
        let token = acme.token.clone();
        async move { app.person(&token, &format!("p{i}@acme.test"), 2).await }
    });
    futures_util::future::join_all(writes).await;
    let received = receiver.wait_for(61, SOON).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = receiver.received();
    let mut ids: Vec<&str> = all.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 61, "every event delivered");
    assert_eq!(all.len(), 61, "and none twice ({} arrived)", received.len());
    for app in [&delivering, &serving, &second] {
        app.stop().await;
    }
}

/// A documentation address (TEST-NET-3): public as far as the guard is concerned, an IP literal so the check needs
/// no DNS, and nobody's real server.
const PUBLIC: &str = "https://93.184.216.34/upward-hooks";
const SOON: Duration = Duration::from_secs(15);

fn secret_of(body: &Value) -> &str {
    body["secret"].as_str().unwrap()
}

async fn an_admin_registers_an_endpoint_and_sees_its_secret_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.org("Acme").await.token;

    let created = app
        .ok(
            "/v1/webhook-endpoints",
            &admin,
            json!({"url": PUBLIC, "description": "HR suite", "event_types": ["pair.*", "session.cancelled", "pair.*"],
                   "rate_limit": 50, "metadata": {"team": "people"}}),
            201,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let secret = secret_of(&created).to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(
        created["event_types"],
        json!(["pair.*", "session.cancelled"]),
        "duplicates dropped"
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(created["rate_limit"], 50);
    assert_eq!(created["metadata"], json!({"team": "people"}));

    // Reads, lists and the event log never show the secret.
    let path = format!("/v1/webhook-endpoints/{id}");
    let (status, read) = app.call(Method::GET, &path, &admin, None).await;
    assert_eq!(status, 200);
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["url"], PUBLIC);
    let (_, page) = app.call(Method::GET, "/v1/webhook-endpoints", &admin, None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(!page.to_string().contains(&secret));

    // A change: disabled, fewer event types, no rate limit; stale ETags are refused.
    let etag = read_etag(&app, &path, &admin).await;
    let updated = app
        .request(Method::PATCH, &path, &admin)
        .header("if-match", &etag)
        .json(&json!({"enabled": false, "event_types": ["pair.activated"], "rate_limit": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["event_types"], json!(["pair.activated"]));
    assert_eq!(updated["rate_limit"], Value::Null);
    assert_eq!(updated["description"], "HR suite", "absent fields stay");
    let stale = app
        .request(Method::PATCH, &path, &admin)
        .header("if-match", &etag)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "precondition_failed").await;

    // Rotation: a new secret, shown once; the endpoint records when.
    let rotated = app.ok(&format!("{path}/secret/rotate"), &admin, json!(null), 200).await;
    let new_secret = secret_of(&rotated).to_string();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated["secret_rotated_at"].is_string(), "{rotated}");

    let deleted = app.delete(&path, &admin).await;
    assert_eq!(deleted.status(), 204);
    assert_problem(app.get(&path, &admin).await, 404, "not_found").await;

    let events: Vec<Value> = app
        .events(&admin)
        .await
        .into_iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("webhook_endpoint."))
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "webhook_endpoint.created",
            "webhook_endpoint.updated",
            "webhook_endpoint.secret_rotated",
            "webhook_endpoint.deleted"
        ]
    );
    let log = serde_json::to_string(&events).unwrap();
    assert!(
        !log.contains(&secret) && !log.contains(&new_secret),
        "no event carries a secret"
    );
}

async fn read_etag(app: &TestApp, path: &str, token: &str) -> String {
    let response = app.get(path, token).await;
    response.headers()["etag"].to_str().unwrap().to_string()
}

async fn internal_targets_and_unknown_event_types_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.org("Acme").await.token;
    for url in [
        "https://127.0.0.1/hooks",
        "https://10.0.0.7/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://localhost/hooks",
        "http://93.184.216.34/hooks",
        "not a url",
    ] {
        let response = app.post("/v1/webhook-endpoints", &admin, &json!({"url": url})).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
        assert_eq!(problem["errors"][0]["code"], "url_refused", "{url}: {problem}");
    }
    let response = app
        .post(
            "/v1/webhook-endpoints",
            &admin,
            &json!({"url": PUBLIC, "event_types": ["pair.activated", "pairs.*", "nothing"], "rate_limit": 0}),
        )
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["event_types[1]", "event_types[2]", "rate_limit"], "{problem}");
    // Nothing was written.
    let (_, page) = app.call(Method::GET, "/v1/webhook-endpoints", &admin, None).await;
    assert_eq!(page["data"], json!([]));

    // A server that allows private targets (tests, on-premises) takes loopback and plain http.
    let on_premises = TestApp::spawn_with(Backend::Sqlite, |c| c.webhook_allow_private_targets = true).await;
    let admin = on_premises.org("Acme").await.token;
    on_premises
        .ok(
            "/v1/webhook-endpoints",
            &admin,
            json!({"url": "http://127.0.0.1:9/hooks"}),
            201,
        )
        .await;
}

async fn endpoints_belong_to_admins_of_their_organisation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let created = app
        .ok("/v1/webhook-endpoints", &acme.token, json!({"url": PUBLIC}), 201)
        .await;
    let path = format!("/v1/webhook-endpoints/{}", created["id"].as_str().unwrap());

    // Another organisation: 404 everywhere, an empty list.
    let globex = app.org("Globex").await;
    assert_problem(app.get(&path, &globex.token).await, 404, "not_found").await;
    assert_problem(
        app.patch(&path, &globex.token, &json!({"enabled": false})).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post(&format!("{path}/secret/rotate"), &globex.token, &json!(null))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(app.delete(&path, &globex.token).await, 404, "not_found").await;
    let (_, page) = app
        .call(Method::GET, "/v1/webhook-endpoints", &globex.token, None)
        .await;
    assert_eq!(page["data"], json!([]));

    // A participant of the same organisation: 403.
    let person = app.person(&acme.token, "ana@acme.test", 2).await;
    let participant = app.participant_token(&acme.token, person["id"].as_str().unwrap()).await;
    assert_problem(app.get(&path, &participant).await, 403, "forbidden").await;
    assert_problem(
        app.post("/v1/webhook-endpoints", &participant, &json!({"url": PUBLIC}))
            .await,
        403,
        "forbidden",
    )
    .await;
}

/// An endpoint on a receiver, with its id and secret.
async fn endpoint(app: &TestApp, token: &str, url: &str, event_types: Value) -> (String, String) {
    let created = app
        .ok(
            "/v1/webhook-endpoints",
            token,
            json!({"url": url, "event_types": event_types}),
            201,
        )
        .await;
    (
        created["id"].as_str().unwrap().to_string(),
        secret_of(&created).to_string(),
    )
}

async fn a_receiver_gets_every_subscribed_event_signed_the_standard_way(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_fast_webhooks).await;
    let receiver = Receiver::start().await;
    let acme = app.org("Acme").await;
    let (id, secret) = endpoint(&app, &acme.token, &receiver.url("/hooks"), json!(["participant.*"])).await;

    for (email, level) in [("ana@acme.test", 2), ("ben@acme.test", 7), ("cy@acme.test", 4)] {
        app.person(&acme.token, email, level).await;
    }
    // Not subscribed (webhook_endpoint.created): never delivered to this endpoint.
    endpoint(&app, &acme.token, PUBLIC, json!(["pair.activated"])).await;
    let received = receiver.wait_for(3, SOON).await;

    let events: Vec<Value> = app
        .events(&acme.token)
        .await
        .into_iter()
        .filter(|e| e["type"] == "participant.created")
        .collect();
    assert_eq!(events.len(), 3);
    // Deliveries to one endpoint go several at a time: match them to events by webhook-id.
    for event in &events {
        let delivery = received
            .iter()
            .find(|d| d.header("webhook-id") == event["id"].as_str().unwrap())
            .expect("every event delivered, its id as webhook-id");
        assert!(
            delivery.verifies_with(&secret),
            "the official library verifies {delivery:?}"
        );
        assert_eq!(delivery.path, "/hooks");
        assert_eq!(delivery.header("content-type"), "application/json");
        let timestamp: i64 = delivery.header("webhook-timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
        let body = delivery.json();
        assert_eq!(body["type"], "participant.created");
        assert_eq!(body["data"], event["data"]);
        let occurred: chrono::DateTime<chrono::Utc> = event["occurred_at"].as_str().unwrap().parse().unwrap();
        let stamped: chrono::DateTime<chrono::Utc> = body["timestamp"].as_str().unwrap().parse().unwrap();
        assert_eq!(stamped, occurred);
        assert!(
            !delivery.verifies_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "another secret does not verify"
        );
    }
    // A tampered body fails verification.
    let mut tampered = received[0].clone();
    tampered.body = tampered.body.replace("participant.created", "participant.updated");
    assert!(!tampered.verifies_with(&secret));

    // The log: three succeeded deliveries, each with its one attempt.
    let log = app
        .deliveries_until(&id, &acme.token, SOON, |rows| {
            rows.len() == 3 && rows.iter().all(|d| d["status"] == "succeeded")
        })
        .await;
    for d in &log {
        assert_eq!(d["event_type"], "participant.created");
        assert_eq!(d["attempt_count"], 1);
        assert_eq!(d["attempts"][0]["response_status"], 204);
        assert_eq!(d["next_attempt_at"], Value::Null);
    }
    let (status, failed) = app
        .call(
            Method::GET,
            &format!("/v1/webhook-endpoints/{id}/deliveries?status=failed"),
            &acme.token,
            None,
        )
        .await;
    assert_eq!((status, failed["data"].clone()), (200, json!([])));
    let one = format!(
        "/v1/webhook-endpoints/{id}/deliveries/{}",
        log[0]["id"].as_str().unwrap()
    );
    assert_eq!(app.get(&one, &acme.token).await.status(), 200);

    // Another organisation: its events never reach this endpoint, and the log is not there for it.
    let globex = app.org("Globex").await;
    app.person(&globex.token, "gus@globex.test", 3).await;
    assert_problem(app.get(&one, &globex.token).await, 404, "not_found").await;
    assert_problem(
        app.get(&format!("/v1/webhook-endpoints/{id}/deliveries"), &globex.token)
            .await,
        404,
        "not_found",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3, "nothing of Globex arrived");

    // Past the retention (30 days), finished deliveries and their attempts are pruned.
    let month_later = chrono::Utc::now() + chrono::Duration::days(31);
    let pruned = app.state.db.prune_webhook_deliveries(month_later).await.unwrap();
    assert_eq!(pruned, 3);
    let (_, page) = app
        .call(
            Method::GET,
            &format!("/v1/webhook-endpoints/{id}/deliveries"),
            &acme.token,
            None,
        )
        .await;
    assert_eq!(page["data"], json!([]));
}

async fn failures_are_retried_on_schedule_with_the_same_webhook_id(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        with_fast_webhooks(c);
        // Four attempts; `Retry-After` is honoured up to the longest wait (2 s here).
        c.webhook_retry_schedule = "300ms,600ms,2s".into();
    })
    .await;
    let receiver = Receiver::start().await;
    let acme = app.org("Acme").await;
    let (id, secret) = endpoint(
        &app,
        &acme.token,
        &receiver.url("/flaky"),
        json!(["participant.created"]),
    )
    .await;

    // 500, then 503 asking for a second, then a redirect, then success.
    receiver.reply([
        Reply::status(500).body("database down"),
        Reply::status(503).header("retry-after", "1"),
        Reply::status(302).header("location", "https://elsewhere.example/"),
    ]);
    app.person(&acme.token, "ana@acme.test", 2).await;
    let received = receiver.wait_for(4, SOON).await;
    let ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one webhook-id for every attempt: {ids:?}"
    );
    assert!(received.iter().all(|r| r.verifies_with(&secret)));
    // The retry after the 503 waited for its Retry-After (1 s), not the schedule's 600 ms.
    assert!(received[2].at - received[1].at >= Duration::from_millis(950));
    assert!(
        received[1].at - received[0].at >= Duration::from_millis(200),
        "jittered 300 ms"
    );

    let log = app
        .deliveries_until(&id, &acme.token, SOON, |rows| {
            rows.first().is_some_and(|d| d["status"] == "succeeded")
        })
        .await;
    let attempts = log[0]["attempts"].as_array().unwrap();
    let statuses: Vec<&Value> = attempts.iter().map(|a| &a["response_status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(503), &json!(302), &json!(204)]);
    assert_eq!(attempts[0]["response_body"], "database down");
    assert!(
        attempts[2]["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{attempts:?}"
    );
    assert_eq!(log[0]["attempt_count"], 4);

    // A receiver that never answers in time: four attempts (the schedule's three retries), then `failed`.
    receiver.reply((0..4).map(|_| Reply::status(200).after(Duration::from_millis(1500))));
    app.person(&acme.token, "ben@acme.test", 7).await;
    let log = app
        .deliveries_until(&id, &acme.token, Duration::from_secs(30), |rows| {
            rows.first().is_some_and(|d| d["status"] == "failed")
        })
        .await;
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a["response_status"].is_null() && a["error"].as_str().unwrap().contains("timed out")),
        "{attempts:?}"
    );

    // A manual re-send: one more attempt, which succeeds.
    let retried = app
        .ok(
            &format!(
                "/v1/webhook-endpoints/{id}/deliveries/{}/retry",
                log[0]["id"].as_str().unwrap()
            ),
            &acme.token,
            json!(null),
            202,
        )
        .await;
    assert_eq!(retried["status"], "pending");
    let log = app
        .deliveries_until(&id, &acme.token, SOON, |rows| {
            rows.first().is_some_and(|d| d["status"] == "succeeded")
        })
        .await;
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 5);
}

async fn gone_or_failing_for_too_long_disables_the_endpoint(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        with_fast_webhooks(c);
        c.webhook_retry_schedule = "300ms,300ms,300ms,300ms,300ms,300ms".into();
        c.webhook_disable_after_seconds = 1;
    })
    .await;
    let gone = Receiver::start().await;
    let failing = Receiver::start().await;
    let acme = app.org("Acme").await;
    let (gone_id, _) = endpoint(&app, &acme.token, &gone.url("/old"), json!(["participant.created"])).await;
    let (failing_id, _) = endpoint(
        &app,
        &acme.token,
        &failing.url("/broken"),
        json!(["participant.created"]),
    )
    .await;
    gone.reply([Reply::status(410)]);
    failing.reply((0..20).map(|_| Reply::status(500)));

    app.person(&acme.token, "ana@acme.test", 2).await;
    gone.wait_for(1, SOON).await;
    // 410: disabled at once, the delivery failed without retries.
    let disabled = once_disabled(&app, &acme.token, &gone_id).await;
    assert!(
        disabled["disabled_reason"].as_str().unwrap().contains("410"),
        "{disabled}"
    );
    let log = app
        .deliveries_until(&gone_id, &acme.token, SOON, |rows| {
            rows.first().is_some_and(|d| d["status"] == "failed")
        })
        .await;
    assert_eq!(log[0]["attempt_count"], 1);

    // Failing without a success for longer than the limit (1 s here, 5 days by default): disabled.
    let disabled = once_disabled(&app, &acme.token, &failing_id).await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failed for too long")
    );
    let attempts = failing.received().len();
    assert!(attempts >= 3, "it failed several times first ({attempts})");

    let disabled_events: Vec<Value> = app
        .events(&acme.token)
        .await
        .into_iter()
        .filter(|e| e["type"] == "webhook_endpoint.disabled")
        .collect();
    assert_eq!(disabled_events.len(), 2);

    // A disabled endpoint gets nothing new; re-sends are refused until it is enabled again.
    app.person(&acme.token, "ben@acme.test", 7).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(gone.received().len(), 1);
    let refused = app
        .post(
            &format!(
                "/v1/webhook-endpoints/{gone_id}/deliveries/{}/retry",
                log[0]["id"].as_str().unwrap()
            ),
            &acme.token,
            &json!(null),
        )
        .await;
    assert_problem(refused, 409, "endpoint_disabled").await;
}

/// Waits until the endpoint is disabled and returns it.
async fn once_disabled(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + SOON;
    loop {
        let (_, e) = app
            .call(Method::GET, &format!("/v1/webhook-endpoints/{id}"), token, None)
            .await;
        if e["enabled"] == false {
            return e;
        }
        assert!(std::time::Instant::now() < deadline, "never disabled: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_rotated_secret_signs_alongside_the_new_one(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_fast_webhooks).await;
    let receiver = Receiver::start().await;
    let acme = app.org("Acme").await;
    let (id, old) = endpoint(&app, &acme.token, &receiver.url("/hooks"), json!(["participant.*"])).await;
    app.person(&acme.token, "ana@acme.test", 2).await;
    let first = receiver.wait_for(1, SOON).await;
    assert_eq!(first[0].header("webhook-signature").split(' ').count(), 1);

    let rotated = app
        .ok(
            &format!("/v1/webhook-endpoints/{id}/secret/rotate"),
            &acme.token,
            json!(null),
            200,
        )
        .await;
    let new = secret_of(&rotated).to_string();
    app.person(&acme.token, "ben@acme.test", 7).await;
    let after = receiver.wait_for(2, SOON).await;
    let signatures = after[1].header("webhook-signature");
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(signatures.split(' ').all(|s| s.starts_with("v1,")));
    assert!(after[1].verifies_with(&new), "receivers that switched verify");
    assert!(
        after[1].verifies_with(&old),
        "receivers that have not switched yet verify too"
    );
}

async fn an_admin_replays_an_outage_resends_and_tests(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        with_fast_webhooks(c);
        c.webhook_retry_schedule = String::new();
    })
    .await;
    let receiver = Receiver::start().await;
    let acme = app.org("Acme").await;
    let (id, secret) = endpoint(
        &app,
        &acme.token,
        &receiver.url("/hooks"),
        json!(["participant.created"]),
    )
    .await;

    // An outage: every delivery fails (no retries with this schedule).
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    receiver.reply((0..3).map(|_| Reply::status(503)));
    for (email, level) in [("ana@acme.test", 2), ("ben@acme.test", 7), ("cy@acme.test", 4)] {
        app.person(&acme.token, email, level).await;
    }
    app.deliveries_until(&id, &acme.token, SOON, |rows| {
        rows.len() == 3 && rows.iter().all(|d| d["status"] == "failed")
    })
    .await;
    let outage_ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();

    // Replay the window: each event again, with its own webhook-id.
    let bad = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/replay"),
            &acme.token,
            &json!({"since": chrono::Utc::now(), "until": since}),
        )
        .await;
    assert_problem(bad, 422, "validation_failed").await;
    let replayed = app
        .ok(
            &format!("/v1/webhook-endpoints/{id}/replay"),
            &acme.token,
            json!({"since": since}),
            202,
        )
        .await;
    assert_eq!(replayed["queued"], 3);
    let received = receiver.wait_for(6, SOON).await;
    let mut replayed_ids: Vec<String> = received[3..]
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    let mut expected = outage_ids.clone();
    replayed_ids.sort();
    expected.sort();
    assert_eq!(replayed_ids, expected);

    // A test event: to this endpoint only, even though it subscribes to participant.created alone.
    let test = app
        .ok(
            &format!("/v1/webhook-endpoints/{id}/test"),
            &acme.token,
            json!(null),
            202,
        )
        .await;
    assert_eq!(test["event_type"], "webhook.test");
    let received = receiver.wait_for(7, SOON).await;
    let body = received[6].json();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["endpoint_id"], id.as_str());
    assert!(received[6].verifies_with(&secret));
}

async fn events_committed_before_a_stop_are_delivered_after_the_restart(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::create(&backend).await);
    let mut config = upward_tests::test_config(&database.url);
    with_fast_webhooks(&mut config);
    // The first instance serves the API but delivers nothing: as if it died right after each commit.
    let mut silent = config.clone();
    silent.webhook_dispatcher = false;
    let first = TestApp::spawn_on(database.clone(), silent).await;
    let receiver = Receiver::start().await;
    let acme = first.org("Acme").await;
    endpoint(
        &first,
        &acme.token,
        &receiver.url("/hooks"),
        json!(["participant.created"]),
    )
    .await;
    for i in 0..20 {
        first.person(&acme.token, &format!("p{i}@acme.test"), 2).await;
    }
    first.stop().await;
    assert!(receiver.received().is_empty());

    let second = TestApp::spawn_on(database.clone(), config).await;
    let received = receiver.wait_for(20, SOON).await;
    let mut ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "every committed event, once");
    second.stop().await;
}
