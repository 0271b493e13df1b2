//! Tenancy: one organisation never sees, changes or learns of another's participants — every route answers as if the
//! resource did not exist.

use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(another_organisations_participants_are_indistinguishable_from_missing_ones);

async fn another_organisations_participants_are_indistinguishable_from_missing_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let globex = app.org("Globex").await;
    let ada = app.person(&acme.token, "ada@acme.test", 2).await;
    let id = ada["id"].as_str().unwrap();
    let missing = uuid::Uuid::now_v7().to_string();

    for target in [id, missing.as_str()] {
        let path = format!("/v1/participants/{target}");
        let answers = vec![
            app.get(&path, &globex.token).await,
            app.patch(&path, &globex.token, &json!({"level": 5})).await,
            app.delete(&path, &globex.token).await,
            app.get(&format!("{path}/reporting-line"), &globex.token).await,
            app.post(&format!("{path}/tokens"), &globex.token, &json!({})).await,
        ];
        for response in answers {
            let problem = assert_problem(response, 404, "not_found").await;
            assert_eq!(
                problem["detail"], "no such participant",
                "the same words for foreign and missing"
            );
        }
    }

    // Not in lists, not usable as a manager, not in the event log.
    let list: Value = app.get("/v1/participants", &globex.token).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let response = app
        .post(
            "/v1/participants",
            &globex.token,
            &json!({"email": "g@globex.test", "display_name": "G", "level": 9, "manager_id": id}),
        )
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "manager_id");
    assert_eq!(problem["errors"][0]["code"], "not_found");
    assert!(app.events(&globex.token).await.is_empty());

    // Acme's participant is untouched by all of this.
    let still: Value = app
        .get(&format!("/v1/participants/{id}"), &acme.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still, ada);
    // Even a participant token of Acme cannot be used on Globex's side of things.
    let ada_token = app.participant_token(&acme.token, id).await;
    let g = app.person(&globex.token, "g2@globex.test", 4).await;
    assert_problem(
        app.get(&format!("/v1/participants/{}", g["id"].as_str().unwrap()), &ada_token)
            .await,
        403,
        "forbidden",
    )
    .await;
}
