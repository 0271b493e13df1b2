//! HRIS connections through the API: an admin connects an `hris_connector` release with its configuration and
//! secrets; the secrets are sealed at rest and never come back — not on reads, lists, updates or events — while
//! their names do; a wrong kind, an unknown release, a configuration its schema refuses, a bad schedule are 422s; a
//! release in use cannot be deleted; another organisation sees nothing.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

use crate::plugins::ready_with_manifest;

on_every_backend!(an_admin_connects_the_hris_and_its_secrets_never_come_back);

const TOKEN: &str = "bamboo-api-token-5f1e9c";
const ROTATED: &str = "rotated-token-77aa01";

async fn an_admin_connects_the_hris_and_its_secrets_never_come_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    let manifest = json!({
        "name": "http-json-hris", "version": "0.1.0", "kind": "hris_connector", "allowed_hosts": ["hr.example.com"],
        "config_schema": {"type": "object", "required": ["base_url"],
                          "properties": {"base_url": {"type": "string"}, "page_size": {"type": "integer", "minimum": 1}}},
        "config": {"base_url": "https://hr.example.com/api"},
    });
    let connector = ready_with_manifest(&app, &admin, &manifest, "http_json_hris").await;

    let created = app
        .ok(
            "/v1/hris-connections",
            &admin,
            json!({"name": "BambooHR", "connector": "http-json-hris@0.1.0",
                   "config": {"base_url": "https://hr.example.com/api", "page_size": 500},
                   "secrets": {"token": TOKEN}, "schedule": {"daily_at": "02:00", "timezone": "Europe/London"}}),
            201,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["secret_names"], json!(["token"]));
    assert_eq!(created["connector"], "http-json-hris@0.1.0");
    assert_eq!(created["schedule"]["daily_at"], "02:00");
    assert!(!created.to_string().contains(TOKEN));

    // Sealed at rest: the row holds no plaintext.
    let raw = stored_secrets(&app).await;
    assert!(raw.starts_with("v1:") && !raw.contains(TOKEN), "{raw}");

    // Reads and lists show names only.
    let path = format!("/v1/hris-connections/{id}");
    let (status, read) = app.call(Method::GET, &path, &admin, None).await;
    assert_eq!(status, 200);
    assert!(!read.to_string().contains(TOKEN));
    assert!(read.get("secrets").is_none());
    let (_, page) = app.call(Method::GET, "/v1/hris-connections", &admin, None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    // Secrets merge: one set, one removed; the schedule removed.
    let (status, updated) = app
        .call(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"secrets": {"token": ROTATED, "webhook_key": "k-1"}, "schedule": null})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["secret_names"], json!(["token", "webhook_key"]));
    assert_eq!(updated["schedule"], Value::Null);
    let (_, updated) = app
        .call(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"secrets": {"webhook_key": null}})),
        )
        .await;
    assert_eq!(updated["secret_names"], json!(["token"]));
    let raw = stored_secrets(&app).await;
    assert!(!raw.contains(ROTATED) && !raw.contains(TOKEN));

    // Refusals, each naming its field; nothing written.
    for (body, field, code) in [
        (
            json!({"name": "x", "connector": "nope@1.0.0"}),
            "connector",
            "unknown_plugin",
        ),
        (
            json!({"name": "x", "connector": "http-json-hris"}),
            "connector",
            "invalid_format",
        ),
        (
            json!({"name": "x", "connector": "http-json-hris@0.1.0", "config": {"page_size": 0}}),
            "config",
            "",
        ),
        (
            json!({"name": "x", "connector": "http-json-hris@0.1.0", "schedule": {"daily_at": "25:00", "timezone": "Mars/Base"}}),
            "schedule.daily_at",
            "invalid_format",
        ),
        (
            json!({"name": "x", "connector": "http-json-hris@0.1.0", "secrets": {"bad name": "v"}}),
            "secrets.bad name",
            "invalid_name",
        ),
    ] {
        let response = app.post("/v1/hris-connections", &admin, &body).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"].as_str().unwrap().starts_with(field) && (code.is_empty() || e["code"] == code)),
            "{body}: {problem}"
        );
    }
    // A matcher is not a connector.
    let matcher = ready_with_manifest(
        &app,
        &admin,
        &json!({"name": "default-matcher", "version": "0.1.0", "kind": "matcher"}),
        "default_matcher",
    )
    .await;
    assert_eq!(matcher["kind"], "matcher");
    let response = app
        .post(
            "/v1/hris-connections",
            &admin,
            &json!({"name": "x", "connector": "default-matcher@0.1.0"}),
        )
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "wrong_kind");
    let (_, page) = app.call(Method::GET, "/v1/hris-connections", &admin, None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    // The release cannot be deleted while the connection names it.
    let release = format!("/v1/plugins/{}", connector["id"].as_str().unwrap());
    assert_problem(app.delete(&release, &admin).await, 409, "plugin_in_use").await;

    // Another organisation: 404 everywhere, an empty list; a participant: 403.
    let globex = app.org("Globex").await;
    assert_problem(app.get(&path, &globex.token).await, 404, "not_found").await;
    assert_problem(
        app.patch(&path, &globex.token, &json!({"enabled": false})).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(app.delete(&path, &globex.token).await, 404, "not_found").await;
    let (_, page) = app.call(Method::GET, "/v1/hris-connections", &globex.token, None).await;
    assert_eq!(page["data"], json!([]));
    let person = app.person(&admin, "ana@acme.test", 2).await;
    let participant = app.participant_token(&admin, person["id"].as_str().unwrap()).await;
    assert_problem(app.get(&path, &participant).await, 403, "forbidden").await;

    // Deleted; the events told the story without a single secret value.
    assert_eq!(app.delete(&path, &admin).await.status(), 204);
    let events: Vec<Value> = app
        .events(&admin)
        .await
        .into_iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("hris_connection."))
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "hris_connection.created",
            "hris_connection.updated",
            "hris_connection.updated",
            "hris_connection.deleted"
        ]
    );
    let log = serde_json::to_string(&events).unwrap();
    assert!(!log.contains(TOKEN) && !log.contains(ROTATED) && !log.contains("k-1"));
    assert!(no_connection_rows(&app).await, "the sealed secrets went with it");
}

/// The secrets column of the test database's only connection, as stored.
async fn stored_secrets(app: &TestApp) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.state.db.reader();
    let backend = db.get_database_backend();
    let rows = db
        .query_all(Statement::from_string(backend, "SELECT secrets FROM hris_connections"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one connection in this test's database");
    rows[0]
        .try_get::<Option<String>>("", "secrets")
        .unwrap()
        .unwrap_or_default()
}

async fn no_connection_rows(app: &TestApp) -> bool {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.state.db.reader();
    let backend = db.get_database_backend();
    db.query_all(Statement::from_string(backend, "SELECT secrets FROM hris_connections"))
        .await
        .unwrap()
        .is_empty()
}
