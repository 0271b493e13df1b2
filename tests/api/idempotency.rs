//! `Idempotency-Key`: an integrator retrying a create after a timeout gets the first answer, not a duplicate.

use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(a_retried_create_returns_the_first_response_and_creates_nothing_new);

async fn a_retried_create_returns_the_first_response_and_creates_nothing_new(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let globex = app.org("Globex").await;
    let body = json!({"email": "ada@acme.test", "display_name": "Ada", "level": 2});
    let send = |token: &str, key: &str, body: &Value| {
        app.request(reqwest::Method::POST, "/v1/participants", token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };

    let first = send(&acme.token, "create-ada-1", &body).await.unwrap();
    assert_eq!(first.status(), 201);
    let first_etag = first.headers()["etag"].clone();
    let first_body: Value = first.json().await.unwrap();

    let retry = send(&acme.token, "create-ada-1", &body).await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["etag"], first_etag);
    assert_eq!(retry.json::<Value>().await.unwrap(), first_body);

    let list: Value = app.get("/v1/participants", &acme.token).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "one participant");
    assert_eq!(app.events(&acme.token).await.len(), 1, "one event");

    // The same key with another body is a client bug, reported as such.
    let other = send(
        &acme.token,
        "create-ada-1",
        &json!({"email": "bob@acme.test", "display_name": "Bob", "level": 2}),
    )
    .await
    .unwrap();
    assert_problem(other, 422, "idempotency_key_reused").await;

    // Keys belong to one organisation: Globex may use the same key for its own request.
    let globex_first = send(&globex.token, "create-ada-1", &body).await.unwrap();
    assert_eq!(globex_first.status(), 201);
    assert!(globex_first.headers().get("idempotent-replayed").is_none());

    // A failed request is not remembered: fixing the body and retrying with the same key works.
    let invalid = send(
        &acme.token,
        "create-carol",
        &json!({"email": "carol", "display_name": "Carol", "level": 2}),
    )
    .await
    .unwrap();
    assert_problem(invalid, 422, "validation_failed").await;
    let fixed = send(
        &acme.token,
        "create-carol",
        &json!({"email": "carol@acme.test", "display_name": "Carol", "level": 2}),
    )
    .await
    .unwrap();
    assert_eq!(fixed.status(), 201);
}
