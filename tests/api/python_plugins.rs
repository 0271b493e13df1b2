//! A matcher written in Python (plugins/python-matcher, built with componentize-py against the same WIT) is a plugin
//! like any other: uploaded, compiled, dry-run, and used by a matching run whose proposals carry its explanations.

use reqwest::Method;
use serde_json::json;
use upward_tests::{Backend, TestApp, built_plugin, on_every_backend};

on_every_backend!(a_python_matcher_scores_explains_and_matches);

async fn a_python_matcher_scores_explains_and_matches(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    let plugin = app
        .ready_plugin(
            &admin,
            &built_plugin("python_matcher"),
            "name=python-matcher&version=1.0.0&kind=matcher",
        )
        .await;
    assert!(
        plugin["size_bytes"].as_u64().unwrap() > 10 << 20,
        "an interpreter inside: {}",
        plugin["size_bytes"]
    );
    let id = plugin["id"].as_str().unwrap();

    // A dry run, as an author tries it: shared topic 1 + gap 7/6 capped at 1 × 0.5 + departments 0.5 + site 0.5.
    let input = json!({
        "programme": {"id": "p1", "topics": ["ai"], "weights": {"shared_topics": 1.0, "level_gap": 0.5, "cross_department": 0.5}},
        "mentors": [{"id": "ana", "level": 2, "department": "Eng", "topics": ["ai"], "location": "Leeds"}],
        "mentees": [{"id": "sam", "level": 9, "department": "Fin", "topics": ["ai"], "location": "Leeds"},
                    {"id": "lee", "level": 1, "department": "Fin", "topics": ["ai"]}],
        "candidates": [[0, 0], [0, 1]]
    });
    let run = app
        .ok(
            &format!("/v1/plugins/{id}/dry-run"),
            &admin,
            json!({"input": input, "config": {"same_site_bonus": 0.5}}),
            200,
        )
        .await;
    assert_eq!(run["output"]["verdicts"][0]["score"], 2.5, "{run}");
    assert!(run["output"]["verdicts"][1]["veto"].is_string(), "{run}");

    // A programme matches with it; the proposals carry the Python plugin's factors.
    let maya = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    let programme = app
        .enrolling_programme(&acme, &maya, json!({"matching": {"policy": "python-matcher@1.0.0"}}))
        .await;
    let enrolments = format!("/v1/programmes/{programme}/enrolments");
    for (email, level, department, role) in [
        ("m1@acme.test", 2, "Engineering", "mentor"),
        ("m2@acme.test", 3, "Legal", "mentor"),
        ("e1@acme.test", 9, "Finance", "mentee"),
        ("e2@acme.test", 8, "Operations", "mentee"),
    ] {
        let person = app.person_in(&acme, email, level, department).await;
        app.ok(
            &enrolments,
            &admin,
            json!({"participant_id": person.id, "role": role, "topics": ["AI tools"]}),
            201,
        )
        .await;
    }
    let runs = format!("/v1/programmes/{programme}/matching-runs");
    let queued = app.ok(&runs, &admin, json!({}), 202).await;
    let result = app
        .wait_for_run(&format!("{runs}/{}", queued["id"].as_str().unwrap()), &admin)
        .await;
    assert_eq!(result["state"], "succeeded", "{result}");
    assert_eq!(result["policy"], "python-matcher@1.0.0");
    let proposals = result["proposals"].as_array().unwrap();
    assert_eq!(proposals.len(), 2, "{result}");
    assert!(
        proposals.iter().all(|p| p["factors"].as_array().unwrap().len() == 4),
        "the plugin's own factors: {result}"
    );
    assert_eq!(result["warnings"], json!([]));
    let (_, invocations) = app
        .call(Method::GET, &format!("/v1/plugins/{id}/invocations"), &admin, None)
        .await;
    assert!(
        invocations["data"].as_array().unwrap().len() >= 3,
        "dry run, scoring, explanations"
    );
}
