//! A partial update never loosens a rule it did not mention: every PATCH route merges nested objects as a JSON Merge
//! Patch (RFC 7396) — fields not named stay as they were, `null` returns one to its default — and takes
//! `application/merge-patch+json` as well as `application/json`.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, on_every_backend};

on_every_backend!(
    patching_one_nested_field_leaves_every_other_field_as_it_was,
    attributes_and_metadata_merge_key_by_key,
);

/// `document` without what every change moves (version, timestamps).
fn settled(mut document: Value) -> Value {
    if let Some(object) = document.as_object_mut() {
        for key in ["updated_at", "version", "ground_rules_version"] {
            object.remove(key);
        }
    }
    document
}

async fn patching_one_nested_field_leaves_every_other_field_as_it_was(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let programme = app
        .ok(
            "/v1/programmes",
            &acme.token,
            json!({
                "name": "Digital fluency", "topics": ["AI tools"],
                "ground_rules": {"off_limit_topics": ["salaries"], "target_sessions": 8, "meeting_cadence_days": 21},
                "matching": {"min_level_gap": 2, "cross_department": "required",
                             "weights": {"shared_topics": 3.0, "proximity": 0.0}},
                "risk": {"inactivity_days": 40, "mentee_cancellations_in_a_row": 3},
                "starts_on": "2027-01-11", "ends_on": "2027-06-30"
            }),
            201,
        )
        .await;
    let path = format!("/v1/programmes/{}", programme["id"].as_str().unwrap());
    // Each patch names one nested field; the document after it must equal the one before with only that field set.
    for (patch, pointer, expected) in [
        (
            json!({"matching": {"policy": "builtin"}}),
            "/matching/policy",
            json!("builtin"),
        ),
        (
            json!({"matching": {"min_level_gap": 3}}),
            "/matching/min_level_gap",
            json!(3),
        ),
        (
            json!({"matching": {"weights": {"level_gap": 2.0}}}),
            "/matching/weights/level_gap",
            json!(2.0),
        ),
        (
            json!({"ground_rules": {"target_sessions": 6}}),
            "/ground_rules/target_sessions",
            json!(6),
        ),
        (
            json!({"risk": {"late_cancellations": 5}}),
            "/risk/late_cancellations",
            json!(5),
        ),
        // `null` returns a field to its default.
        (
            json!({"risk": {"inactivity_days": null}}),
            "/risk/inactivity_days",
            Value::Null,
        ),
        (
            json!({"matching": {"weights": {"proximity": null}}}),
            "/matching/weights/proximity",
            json!(0.25),
        ),
    ] {
        let (_, before) = app.call(Method::GET, &path, &acme.token, None).await;
        let response = app
            .request(Method::PATCH, &path, &acme.token)
            .header("content-type", "application/merge-patch+json")
            .body(patch.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{patch}");
        let after: Value = response.json().await.unwrap();
        let mut expected_document = settled(before);
        *expected_document.pointer_mut(pointer).unwrap() = expected;
        assert_eq!(settled(after), expected_document, "{patch}");
    }
    // A patch that breaks a rule is refused whole, naming the field.
    let (status, problem) = app
        .call(
            Method::PATCH,
            &path,
            &acme.token,
            Some(&json!({"matching": {"min_level_gap": "two"}})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "matching.min_level_gap");
    let (status, problem) = app
        .call(
            Method::PATCH,
            &path,
            &acme.token,
            Some(&json!({"ground_rules": {"no_such_rule": 1}})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["code"], "unknown_field");
}

async fn attributes_and_metadata_merge_key_by_key(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.webhook_allow_private_targets = true).await;
    let acme = app.org("Acme").await;
    let ada = app
        .participant(
            &acme.token,
            json!({"email": "ada@acme.test", "display_name": "Ada", "level": 2,
                   "attributes": {"cost_centre": "CC-12", "site": "Leeds", "badge": 7}}),
        )
        .await;
    let path = format!("/v1/participants/{}", ada["id"].as_str().unwrap());
    let updated = app
        .ok_with(
            Method::PATCH,
            &path,
            &acme.token,
            json!({"attributes": {"site": "York", "badge": null, "team": "Data"}}),
            200,
        )
        .await;
    assert_eq!(
        updated["attributes"],
        json!({"cost_centre": "CC-12", "site": "York", "team": "Data"})
    );
    assert_eq!(updated["display_name"], "Ada");

    let endpoint = app
        .ok(
            "/v1/webhook-endpoints",
            &acme.token,
            json!({"url": "http://127.0.0.1:9/hook", "metadata": {"team": "hr", "env": "prod"}}),
            201,
        )
        .await;
    let path = format!("/v1/webhook-endpoints/{}", endpoint["id"].as_str().unwrap());
    let updated = app
        .ok_with(
            Method::PATCH,
            &path,
            &acme.token,
            json!({"metadata": {"env": null, "owner": "ops"}}),
            200,
        )
        .await;
    assert_eq!(updated["metadata"], json!({"team": "hr", "owner": "ops"}));
    assert_eq!(updated["url"], "http://127.0.0.1:9/hook");
}
