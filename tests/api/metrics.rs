//! An operator scrapes Upward with Prometheus: the text parses with an independent Prometheus parser, the scrape is
//! refused without the metrics token (and served without one on the separate metrics address), and the counters move
//! as the API is used — requests by route template, webhook attempts and their lag, matching runs, the pools, the
//! process.

use std::collections::HashMap;
use std::time::Duration;

use openmetrics_parser::PrometheusValue;
use serde_json::{Value, json};
use upward_tests::{Backend, Receiver, TestApp, on_every_backend, with_fast_webhooks};

on_every_backend!(an_operator_sees_the_api_move_in_prometheus);
on_every_backend!(a_participant_read_straight_from_the_file_is_the_one_the_pool_reads);

const TOKEN: &str = "metrics-token-for-the-scraper-0123";

/// One series of a scrape: a counter or gauge's value, or a histogram's count and bucket count.
#[derive(Debug)]
struct Series {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
    buckets: usize,
}

/// Parses the text format with an independent parser (a grammar of the format, which takes `{id}` inside a label
/// value as it should).
fn parse(text: &str) -> Vec<Series> {
    let exposition =
        openmetrics_parser::prometheus::parse_prometheus(text).expect("the scrape parses as Prometheus text");
    let mut out = Vec::new();
    for (name, family) in exposition.families {
        for sample in family.iter_samples() {
            let labels = sample
                .get_labelset()
                .map(|set| set.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let (value, buckets) = match &sample.value {
                PrometheusValue::Counter(c) => (c.value.as_f64(), 0),
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => (n.as_f64(), 0),
                PrometheusValue::Histogram(h) => (h.count.unwrap_or(0) as f64, h.buckets.len()),
                PrometheusValue::Summary(_) => (0.0, 0),
            };
            out.push(Series {
                name: name.clone(),
                labels,
                value,
                buckets,
            });
        }
    }
    out
}

async fn text(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

async fn scrape(app: &TestApp) -> Vec<Series> {
    parse(&text(app.client.get(app.url("/metrics")).bearer_auth(TOKEN)).await)
}

fn matching<'a>(scrape: &'a [Series], name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Series> {
    scrape.iter().filter(move |s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

/// The sum over the series of `name` whose labels include `labels`.
fn total(scrape: &[Series], name: &str, labels: &[(&str, &str)]) -> f64 {
    matching(scrape, name, labels).map(|s| s.value).sum()
}

async fn an_operator_sees_the_api_move_in_prometheus(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        with_fast_webhooks(c);
        c.metrics_token = Some(TOKEN.into());
        c.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    // No token, or the wrong one: refused with a problem document.
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("not-the-metrics-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.headers()["content-type"], "application/problem+json");

    let cohort = app.cohort().await;
    let receiver = Receiver::start().await;
    app.ok(
        "/v1/webhook-endpoints",
        &cohort.org.token,
        json!({"url": receiver.url("/hooks"), "event_types": ["participant.updated"]}),
        201,
    )
    .await;

    let route = [("route", "/v1/participants/{id}"), ("method", "GET"), ("status", "2xx")];
    let before = scrape(&app).await;
    let path = format!("/v1/participants/{}", cohort.mentor.id);
    for _ in 0..7 {
        assert_eq!(app.get(&path, &cohort.org.token).await.status(), 200);
    }
    let missing = format!("/v1/participants/{}", uuid::Uuid::now_v7());
    assert_eq!(app.get(&missing, &cohort.org.token).await.status(), 404);
    // A webhook delivered, and a matching run.
    app.ok_with(
        reqwest::Method::PATCH,
        &path,
        &cohort.org.token,
        json!({"location": "Leeds"}),
        200,
    )
    .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let runs = format!("/v1/programmes/{}/matching-runs", cohort.programme);
    let queued = app.ok(&runs, &cohort.manager.token, json!({}), 202).await;
    let run = app
        .wait_for_run(
            &format!("{runs}/{}", queued["id"].as_str().unwrap()),
            &cohort.manager.token,
        )
        .await;
    assert_eq!(run["state"], "succeeded");
    // The attempt is counted once its answer is in; give the dispatcher a moment to record it.
    let mut after = scrape(&app).await;
    for _ in 0..50 {
        if total(&after, "upward_webhook_attempts_total", &[("outcome", "succeeded")])
            > total(&before, "upward_webhook_attempts_total", &[("outcome", "succeeded")])
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = scrape(&app).await;
    }

    let grew = |name: &str, labels: &[(&str, &str)]| total(&after, name, labels) - total(&before, name, labels);
    assert!(
        grew("upward_http_requests_total", &route) >= 7.0,
        "requests by route template"
    );
    assert!(
        grew(
            "upward_http_requests_total",
            &[("route", "/v1/participants/{id}"), ("status", "4xx")]
        ) >= 1.0
    );
    assert!(
        grew("upward_http_request_duration_seconds", &route) >= 7.0,
        "the latency histogram counts each"
    );
    let buckets = matching(&after, "upward_http_request_duration_seconds", &route)
        .map(|s| s.buckets)
        .max()
        .unwrap_or(0);
    assert!(buckets >= 10, "a histogram with buckets, not a summary");
    assert!(grew("upward_webhook_attempts_total", &[("outcome", "succeeded")]) >= 1.0);
    assert!(grew("upward_webhook_delivery_lag_seconds", &[]) >= 1.0);
    assert!(grew("upward_matching_runs_total", &[("outcome", "succeeded")]) >= 1.0);
    assert!(grew("upward_matching_run_duration_seconds", &[]) >= 1.0);

    // Sampled at the scrape: the pools, the backlog, the process.
    let pools: HashMap<&str, f64> = matching(&after, "upward_db_pool_max_connections", &[])
        .map(|s| (s.labels["pool"].as_str(), s.value))
        .collect();
    assert!(
        !pools.is_empty() && pools.values().all(|max| *max >= 1.0),
        "pool gauges: {pools:?}"
    );
    assert!(matching(&after, "upward_webhook_deliveries_due", &[]).count() == 1);
    assert!(matching(&after, "upward_webhook_oldest_due_age_seconds", &[]).count() == 1);
    assert!(total(&after, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(total(&after, "process_open_fds", &[]) > 3.0);

    // The separate metrics address serves the same text, without a token.
    let separate = app.metrics_base.clone().expect("a metrics listener");
    let parsed = parse(&text(app.client.get(format!("{separate}/metrics"))).await);
    assert!(total(&parsed, "upward_http_requests_total", &route) >= 7.0);
}

/// On SQLite the hottest read (`GET /v1/participants/{id}`, and a participant token's check that its person is still
/// active) is done on the request's own thread rather than through the connection pool. An integrator must not be
/// able to tell: every field equals what the pool reads for the list, and a row holding a value in a form the point
/// reader does not decode is handed to the pool (and counted as skipped), never answered wrongly.
async fn a_participant_read_straight_from_the_file_is_the_one_the_pool_reads(backend: Backend) {
    let sqlite = matches!(backend, Backend::Sqlite);
    let app = TestApp::spawn_with(backend, |c| c.metrics_token = Some(TOKEN.into())).await;
    let org = app.org("Acme").await;
    let manager = app.person(&org.token, "maya@acme.test", 8).await;
    let created = app
        .participant(
            &org.token,
            json!({
                "external_id": "E-1", "email": "ada@acme.test", "display_name": "Ada", "department": "Engineering",
                "job_title": "Graduate Engineer", "level": 2, "manager_id": manager["id"], "location": "Leeds",
                "timezone": "Europe/London", "languages": ["en", "fr"], "attributes": {"cohort": 2026, "remote": true}
            }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/v1/participants/{id}");
    let listed = |page: Value| {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id.as_str())
            .cloned()
            .expect("listed")
    };

    // A text search scans, so it is always read through the pool: the reference.
    let search = "/v1/participants?q=ada";
    let before = scrape(&app).await;
    let read: Value = app.get(&path, &org.token).await.json().await.unwrap();
    assert_eq!(read, created, "the read equals what the write answered");
    let pooled = listed(app.get(search, &org.token).await.json().await.unwrap());
    assert_eq!(read, pooled, "and what the pool reads");
    let body = |path: String| {
        let request = app.request(reqwest::Method::GET, &path, &org.token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let page = body("/v1/participants?limit=50".into()).await;
    assert_eq!(listed(page), pooled, "a page read on the request's thread, too");
    let filtered = format!(
        "/v1/participants?department=Engineering&active=true&level_min=2&level_max=2&manager_id={}",
        manager["id"].as_str().unwrap()
    );
    let page: Value = app.get(&filtered, &org.token).await.json().await.unwrap();
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        1,
        "filters bind as the pool binds them: {page}"
    );
    assert_eq!(listed(page), pooled);
    // The person's own token checks, on each request, that they are still active: the same read.
    let own = app.participant_token(&org.token, &id).await;
    assert_eq!(app.get(&path, &own).await.status(), 200);
    let after = scrape(&app).await;
    let reads = |s: &[Series], outcome: &str| total(s, "upward_db_point_reads_total", &[("outcome", outcome)]);
    if sqlite {
        assert!(
            reads(&after, "read") >= reads(&before, "read") + 4.0,
            "read on the request's thread"
        );
    }

    // A participant in another organisation is missing here as everywhere.
    let other = app.org("Globex").await;
    assert_eq!(app.get(&path, &other.token).await.status(), 404);

    // A time written in a form SQLite accepts but the point reader does not decode (minutes only): the read goes to
    // the pool, which does, and the answer is the pool's.
    if sqlite {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(app.database.url.as_str()).await.unwrap();
        db.execute_unprepared(&format!(
            "UPDATE participants SET updated_at = '2026-12-05 09:30' WHERE id = x'{}'",
            id.replace('-', "")
        ))
        .await
        .unwrap();
        db.close().await.unwrap();
        let before = scrape(&app).await;
        let read: Value = app.get(&path, &org.token).await.json().await.unwrap();
        assert_eq!(read["updated_at"], "2026-12-05T09:30:00Z");
        assert_eq!(read, listed(app.get(search, &org.token).await.json().await.unwrap()));
        let page = body("/v1/participants?limit=50".into()).await;
        assert_eq!(read, listed(page), "the page, too, is handed to the pool");
        let after = scrape(&app).await;
        assert!(
            reads(&after, "skipped") > reads(&before, "skipped"),
            "counted as skipped"
        );
    }
}
