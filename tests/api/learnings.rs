//! A two-way street: the mentor records learnings too, and a story — what the pair discussed in confidence — is
//! published only when the other side consents.

use serde_json::json;
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(learning_goes_both_ways_and_a_story_needs_both_sides_consent);

async fn learning_goes_both_ways_and_a_story_needs_both_sides_consent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let (mo, erin) = (&cohort.mentor, &cohort.mentee);
    let stories = format!("/v1/programmes/{}/stories", cohort.programme);

    // Mo, the junior mentor, learnt something too.
    let learning = app
        .ok(
            &format!("/v1/pairs/{}/learnings", cohort.pair),
            &mo.token,
            json!({"text": "How a budget round really works", "actions": [{"description": "Ask to sit in on one"}]}),
            201,
        )
        .await;
    assert_eq!(learning["author_side"], "mentor");
    assert_eq!(learning["author_id"], mo.id.as_str());
    let id = learning["id"].as_str().unwrap().to_string();

    // He asks to publish it: nothing is public until Erin agrees.
    let asked = app
        .ok(
            &format!("/v1/learnings/{id}/publish"),
            &mo.token,
            json!({"title": "Inside the budget"}),
            200,
        )
        .await;
    assert_eq!(asked["published"], false);
    assert_eq!(asked["story_title"], "Inside the budget");
    assert_eq!(asked["publication_consents"], json!(["mentor"]));
    let (_, list) = app.call(reqwest::Method::GET, &stories, &erin.token, None).await;
    assert_eq!(list["data"], json!([]));
    let again = app
        .post(
            &format!("/v1/learnings/{id}/publish"),
            &mo.token,
            &json!({"title": "Again"}),
        )
        .await;
    assert_problem(again, 409, "consent_awaited").await;
    // The author cannot consent for the other side, nor can the programme's manager.
    for token in [&mo.token, &cohort.manager.token] {
        let own = app
            .post(&format!("/v1/learnings/{id}/consent"), token, &json!(null))
            .await;
        assert_problem(own, 403, "forbidden").await;
    }

    // Erin declines: it stays the pair's, and Mo may ask again.
    let declined = app
        .ok(&format!("/v1/learnings/{id}/decline"), &erin.token, json!(null), 200)
        .await;
    assert_eq!(declined["story_title"], serde_json::Value::Null);
    assert_eq!(declined["publication_consents"], json!([]));
    let nothing_asked = app
        .post(&format!("/v1/learnings/{id}/consent"), &erin.token, &json!(null))
        .await;
    assert_problem(nothing_asked, 409, "publication_not_requested").await;

    // Asked again with a gentler title, Erin consents: the story is the programme's, told by the mentor.
    app.ok(
        &format!("/v1/learnings/{id}/publish"),
        &mo.token,
        json!({"title": "What I learnt about budgets"}),
        200,
    )
    .await;
    let published = app
        .ok(&format!("/v1/learnings/{id}/consent"), &erin.token, json!(null), 200)
        .await;
    assert_eq!(published["published"], true);
    assert_eq!(published["publication_consents"], json!(["mentor", "mentee"]));
    assert!(published["published_at"].is_string());
    let (_, list) = app
        .call(reqwest::Method::GET, &stories, &cohort.manager.token, None)
        .await;
    assert_eq!(list["data"][0]["title"], "What I learnt about budgets");
    assert_eq!(list["data"][0]["author_side"], "mentor");
    let twice = app
        .post(&format!("/v1/learnings/{id}/consent"), &erin.token, &json!(null))
        .await;
    assert_problem(twice, 409, "already_published").await;

    // Each step is an event a front end can notify on.
    let types: Vec<String> = app
        .events(&cohort.org.token)
        .await
        .iter()
        .filter(|e| e["data"]["id"] == id.as_str())
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "learning.created",
            "learning.publication_requested",
            "learning.publication_declined",
            "learning.publication_requested",
            "learning.published"
        ]
    );
}
