//! The event log: every change appends its event in the same transaction — no change without its event, no event
//! without its change.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    every_change_is_logged_in_order_with_the_resource_after_it,
    a_change_whose_event_cannot_be_written_does_not_happen
);

async fn every_change_is_logged_in_order_with_the_resource_after_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let ada = app.person(&acme.token, "ada@acme.test", 2).await;
    let id = ada["id"].as_str().unwrap();
    let updated: Value = app
        .patch(&format!("/v1/participants/{id}"), &acme.token, &json!({"level": 3}))
        .await
        .json()
        .await
        .unwrap();
    let deactivated: Value = app
        .delete(&format!("/v1/participants/{id}"), &acme.token)
        .await
        .json()
        .await
        .unwrap();

    let events = app.events(&acme.token).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["participant.created", "participant.updated", "participant.deactivated"]
    );
    assert_eq!(events[0]["data"], ada);
    assert_eq!(events[1]["data"], updated);
    assert_eq!(events[2]["data"], deactivated);
    for e in &events {
        assert_eq!(e["organisation_id"], acme.id.to_string());
        assert!(e["occurred_at"].is_string() && e["id"].is_string());
    }

    let only: Value = app
        .get("/v1/events?type=participant.updated", &acme.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only["data"].as_array().unwrap().len(), 1);
    let since = events[1]["occurred_at"].as_str().unwrap();
    let later: Value = app
        .client
        .get(app.url("/v1/events"))
        .query(&[("since", since)])
        .bearer_auth(&acme.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(later["data"].as_array().unwrap().len(), 2);
    let paged: Value = app.get("/v1/events?limit=2", &acme.token).await.json().await.unwrap();
    assert_eq!(paged["has_more"], true);
    assert_problem(
        app.get("/v1/events?since=yesterday", &acme.token).await,
        400,
        "invalid_query_parameter",
    )
    .await;
}

async fn a_change_whose_event_cannot_be_written_does_not_happen(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let ada = app.person(&acme.token, "ada@acme.test", 2).await;

    // Make every event append fail: the outbox is gone.
    let conn = &app.state.db;
    let txn = conn.begin().await.unwrap();
    txn.execute_unprepared("ALTER TABLE events RENAME TO events_unavailable")
        .await
        .unwrap();
    txn.commit().await.unwrap();

    let create = app
        .post(
            "/v1/participants",
            &acme.token,
            &json!({"email": "bob@acme.test", "display_name": "Bob", "level": 2}),
        )
        .await;
    assert_problem(create, 500, "internal_error").await;
    let update = app
        .patch(
            &format!("/v1/participants/{}", ada["id"].as_str().unwrap()),
            &acme.token,
            &json!({"level": 7}),
        )
        .await;
    assert_problem(update, 500, "internal_error").await;

    // Neither change happened.
    let list: Value = app.get("/v1/participants", &acme.token).await.json().await.unwrap();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "Bob was not created");
    assert_eq!(data[0]["level"], 2, "Ada was not updated");

    let txn = conn.begin().await.unwrap();
    txn.execute_unprepared("ALTER TABLE events_unavailable RENAME TO events")
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(app.events(&acme.token).await.len(), 1, "only Ada's creation is logged");
}
