//! Bad input of every kind gets a 4xx problem document — never a 500, never a panic.

use serde_json::json;
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(malformed_requests_get_problem_documents);

async fn malformed_requests_get_problem_documents(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_body_bytes = 4096).await;
    let acme = app.org("Acme").await;
    let post = |body: &'static str, content_type: &'static str| {
        app.request(reqwest::Method::POST, "/v1/participants", &acme.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    assert_problem(
        post("{\"email\": ", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        post("{} trailing", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        post("email=a", "application/x-www-form-urlencoded").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    assert_problem(post("{}", "text/plain").await.unwrap(), 415, "unsupported_media_type").await;

    let unknown = app
        .post(
            "/v1/participants",
            &acme.token,
            &json!({"email": "a@b.test", "display_name": "A", "level": 1, "salary": 1}),
        )
        .await;
    let problem = assert_problem(unknown, 422, "invalid_body").await;
    assert_eq!(problem["errors"][0]["field"], "salary");
    assert_eq!(problem["errors"][0]["code"], "unknown_field");

    let wrong_type = app
        .post(
            "/v1/participants",
            &acme.token,
            &json!({"email": "a@b.test", "display_name": "A", "level": "senior"}),
        )
        .await;
    let problem = assert_problem(wrong_type, 422, "invalid_body").await;
    assert_eq!(problem["errors"][0]["field"], "level");

    let missing = app
        .post(
            "/v1/participants",
            &acme.token,
            &json!({"display_name": "A", "level": 1}),
        )
        .await;
    let problem = assert_problem(missing, 422, "invalid_body").await;
    assert_eq!(problem["errors"][0]["field"], "email");

    let not_an_object = app.post("/v1/participants", &acme.token, &json!([1, 2])).await;
    assert_problem(not_an_object, 422, "invalid_body").await;

    let huge =
        json!({"email": "a@b.test", "display_name": "A", "level": 1, "attributes": {"blob": "x".repeat(10_000)}});
    assert_problem(
        app.post("/v1/participants", &acme.token, &huge).await,
        413,
        "payload_too_large",
    )
    .await;

    assert_problem(
        app.get("/v1/participants/not-a-uuid", &acme.token).await,
        400,
        "invalid_path_parameter",
    )
    .await;
    assert_problem(app.get("/v1/no-such-thing", &acme.token).await, 404, "not_found").await;
    assert_problem(
        app.client.get(app.url("/nowhere")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let bad_key = app
        .request(reqwest::Method::POST, "/v1/participants", &acme.token)
        .header("Idempotency-Key", "x".repeat(300))
        .json(&json!({"email": "a@b.test", "display_name": "A", "level": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(bad_key, 400, "invalid_header").await;

    // None of it wrote anything.
    assert!(app.events(&acme.token).await.is_empty());
    let list: serde_json::Value = app.get("/v1/participants", &acme.token).await.json().await.unwrap();
    assert!(list["data"].as_array().unwrap().is_empty());
}
