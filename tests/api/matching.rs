//! The matching engine through the API: a run proposes the optimal pairs the hard rules allow, explains everyone
//! left out, and accepting it proposes the pairs through the pair service.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    a_matching_run_proposes_the_optimal_pairs_and_accepting_creates_them,
    a_run_left_behind_by_a_stopped_instance_is_failed,
);

async fn a_matching_run_proposes_the_optimal_pairs_and_accepting_creates_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    let maya = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    let manager = app.manager_token(&admin, &maya.id).await;
    let e3 = app.person_in(&acme, "e3@acme.test", 8, "Engineering").await;
    // m1 reports to e3: never paired with them.
    let m1 = app
        .participant(&admin, json!({"email": "m1@acme.test", "display_name": "M1", "level": 2, "department": "Engineering", "manager_id": e3.id}))
        .await;
    let m1_id = m1["id"].as_str().unwrap().to_string();
    let m2 = app.person_in(&acme, "m2@acme.test", 2, "Finance").await;
    let e1 = app.person_in(&acme, "e1@acme.test", 9, "Finance").await;
    let e2 = app.person_in(&acme, "e2@acme.test", 9, "Legal").await;
    let e4 = app.person_in(&acme, "e4@acme.test", 2, "Ops").await;
    let programme = app
        .enrolling_programme(
            &acme,
            &maya,
            json!({"matching": {"min_level_gap": 1, "cross_department": "required"}}),
        )
        .await;
    let enrol = |participant: &str, role: &str, capacity: i32| json!({"participant_id": participant, "role": role, "topics": ["AI tools"], "capacity": capacity});
    let enrolments = format!("/v1/programmes/{programme}/enrolments");
    app.ok(&enrolments, &admin, enrol(&m1_id, "mentor", 1), 201).await;
    app.ok(&enrolments, &admin, enrol(&m2.id, "mentor", 2), 201).await;
    for mentee in [&e1, &e2, &e3, &e4] {
        app.ok(&enrolments, &admin, enrol(&mentee.id, "mentee", 1), 201).await;
    }

    // Participants cannot run matching; another organisation cannot see the programme.
    let runs = format!("/v1/programmes/{programme}/matching-runs");
    assert_problem(app.post(&runs, &m2.token, &json!({})).await, 403, "forbidden").await;
    let globex = app.org("Globex").await;
    assert_problem(app.post(&runs, &globex.token, &json!({})).await, 404, "not_found").await;

    let response = app.request(Method::POST, &runs, &manager).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["state"], "queued");
    let run = app.wait_for_run(&location, &manager).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["stats"]["candidates"], 4, "{}", run["stats"]);

    // m1 can take e1 or e2; m2 (two places) e2 or e3 (not e1: same department). The optimum pairs three.
    let proposals: Vec<(String, String)> = run["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["mentor_id"].as_str().unwrap().to_string(),
                p["mentee_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(proposals.len(), 3, "{proposals:?}");
    assert!(proposals.contains(&(m1_id.clone(), e1.id.clone())));
    assert!(proposals.contains(&(m2.id.clone(), e2.id.clone())));
    assert!(proposals.contains(&(m2.id.clone(), e3.id.clone())));
    let factors = &run["proposals"][0]["factors"];
    assert_eq!(factors.as_array().unwrap().len(), 5, "per-factor explanations");
    let unmatched = run["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0]["participant_id"], e4.id.as_str());
    assert!(
        unmatched[0]["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient_level_gap ×2"),
        "{}",
        unmatched[0]
    );

    // Accepting proposes the pairs through the pair service, once.
    let accepted = app.ok(&format!("{location}/accept"), &manager, json!({}), 200).await;
    let created = accepted["accepted"].as_array().unwrap();
    assert_eq!(created.len(), 3);
    assert!(created.iter().all(|a| a["pair_id"].is_string()), "{accepted}");
    assert_problem(
        app.post(&format!("{location}/accept"), &manager, &json!({})).await,
        409,
        "already_accepted",
    )
    .await;
    let (_, pairs) = app
        .call(
            Method::GET,
            &format!("/v1/programmes/{programme}/pairs?state=proposed"),
            &admin,
            None,
        )
        .await;
    assert_eq!(pairs["data"].as_array().unwrap().len(), 3);
    let events = app.events(&admin).await;
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("pair.proposed"), 3);
    assert_eq!(count("matching_run.succeeded"), 1);
    assert_eq!(count("matching_run.accepted"), 1);

    // A second run finds nobody left to pair: every mentor is at capacity.
    let response = app.request(Method::POST, &runs, &manager).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let run = app.wait_for_run(&location, &manager).await;
    assert_eq!(run["proposals"], json!([]));
    assert_eq!(run["stats"]["candidates"], 0);
}

async fn a_run_left_behind_by_a_stopped_instance_is_failed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let maya = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    let programme: uuid::Uuid = app.enrolling_programme(&acme, &maya, json!({})).await.parse().unwrap();
    // Queue a run the way the API does, but never start it: as if its instance had stopped.
    let principal = upward_server::auth::Principal {
        organisation_id: acme.id,
        role: upward_server::auth::Role::OrgAdmin,
        participant_id: None,
        subject: "test".into(),
    };
    let txn = app.state.db.begin().await.unwrap();
    let run = upward_server::domain::matching_runs::queue(
        &principal.scope(&txn),
        upward_server::domain::Actor::Admin,
        programme,
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let path = format!("/v1/programmes/{programme}/matching-runs/{}", run.id);
    let (_, before) = app.call(Method::GET, &path, &acme.token, None).await;
    assert_eq!(before["state"], "queued");
    // Housekeeping leaves recent runs alone, and fails those untouched for too long.
    let db = &app.state.db;
    let recent = upward_server::domain::matching_runs::fail_abandoned(db, chrono::Duration::minutes(15))
        .await
        .unwrap();
    assert_eq!(recent, 0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let failed = upward_server::domain::matching_runs::fail_abandoned(db, chrono::Duration::milliseconds(10))
        .await
        .unwrap();
    assert_eq!(failed, 1);
    let (_, after) = app.call(Method::GET, &path, &acme.token, None).await;
    assert_eq!(after["state"], "failed");
    assert!(after["error"].as_str().unwrap().contains("interrupted"));
    let events = app.events(&acme.token).await;
    assert_eq!(events.iter().filter(|e| e["type"] == "matching_run.failed").count(), 1);
}
