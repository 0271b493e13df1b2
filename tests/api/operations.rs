//! Operations: health, readiness (database, and Redis when configured), request ids, the OpenAPI document and the
//! offline docs page.

use serde_json::Value;
use upward_tests::{Backend, TestApp, on_every_backend, redis_url};

on_every_backend!(health_readiness_and_request_ids);

async fn health_readiness_and_request_ids(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.redis_url = redis_url()).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"), "a request id is created");

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    let expected_redis = if redis_url().is_some() { "ok" } else { "not_configured" };
    assert_eq!(ready["redis"], expected_redis);

    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn readiness_reports_an_unreachable_redis() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Point a second state at a Redis that is not there: build with a closed port is refused at start-up.
    let mut config = app.config.clone();
    config.redis_url = Some("redis://127.0.0.1:1".into());
    let result = upward_server::Application::build(config).await;
    let message = result.err().expect("start-up fails").to_string();
    assert!(message.starts_with("redis redis://127.0.0.1:1"), "{message}");
}

#[tokio::test]
async fn the_committed_spec_equals_the_generated_spec_and_is_served() {
    let generated = upward_server::api::openapi().to_pretty_json().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    if std::env::var("UPWARD_UPDATE_OPENAPI").is_ok() {
        std::fs::write(&path, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is stale: run `UPWARD_UPDATE_OPENAPI=1 cargo test -p upward-tests --test api the_committed_spec` \
         or `cargo run -- openapi > openapi/openapi.json`"
    );

    let app = TestApp::spawn(Backend::Sqlite).await;
    let served: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, serde_json::from_str::<Value>(&generated).unwrap());
    assert_eq!(served["openapi"], "3.1.0");
    // Every route of the API is documented.
    for route in [
        "/v1/oauth/token",
        "/v1/participants",
        "/v1/participants/{id}",
        "/v1/participants/{id}/reporting-line",
        "/v1/participants/{id}/tokens",
        "/v1/identity-provider",
        "/v1/events",
        "/healthz",
        "/readyz",
        "/.well-known/jwks.json",
    ] {
        assert!(served["paths"][route].is_object(), "{route} is documented");
    }

    // The docs page works offline: everything it loads comes from this server.
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
        assert!(html.contains(asset), "{asset} is referenced");
    }
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "no asset from another host"
    );
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"));
    let bundle = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert!(redirect.status().is_redirection());
}
