//! Who may do what (the matrix in the README), table-driven over the programme routes; the confidentiality of notes;
//! and what concurrent requests may not break.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, Person, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    every_role_sees_and_does_only_what_the_matrix_allows,
    notes_are_private_to_the_pair,
    two_agreements_at_once_activate_the_pair_once,
    racing_transitions_one_wins_the_other_gets_409,
    capacity_holds_under_concurrent_pairing,
);

/// A route (method, path, body, If-Match) and the status each actor must get.
type Row<'a> = (Method, String, Option<Value>, Option<&'a str>, [u16; 7]);

async fn every_role_sees_and_does_only_what_the_matrix_allows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.cohort().await;
    // Another pair in the same programme, another manager, another organisation.
    let mentor2 = app.person_in(&c.org, "m2@acme.test", 1, "Ops").await;
    let mentee2 = app.person_in(&c.org, "e2@acme.test", 8, "Legal").await;
    app.enrol(&c.programme, &mentor2, "mentor").await;
    app.enrol(&c.programme, &mentee2, "mentee").await;
    app.ok(
        &format!("/v1/programmes/{}/pairs", c.programme),
        &c.org.token,
        json!({"mentor_id": mentor2.id, "mentee_id": mentee2.id}),
        201,
    )
    .await;
    let other = app.person_in(&c.org, "other.manager@acme.test", 7, "People").await;
    let other_manager = app.manager_token(&c.org.token, &other.id).await;
    let globex = app.org("Globex").await;
    let session = app.session(&c.pair, &c.mentor.token, 48).await;
    let note = app
        .ok(
            &format!("/v1/pairs/{}/notes", c.pair),
            &c.mentor.token,
            json!({"body": "private"}),
            201,
        )
        .await;
    let note = note["id"].as_str().unwrap().to_string();
    let survey = app
        .ok(
            &format!("/v1/programmes/{}/surveys", c.programme),
            &c.manager.token,
            json!({"title": "Pulse", "milestone": "after_each_session",
                   "questions": [{"id": "useful", "kind": "likert", "prompt": "Useful?"}]}),
            201,
        )
        .await;
    let survey = survey["id"].as_str().unwrap().to_string();
    let held = app.session(&c.pair, &c.mentor.token, -2).await;
    app.ok(
        &format!("/v1/sessions/{held}/complete"),
        &c.mentee.token,
        json!({}),
        200,
    )
    .await;
    let (_, requests) = app
        .call(Method::GET, "/v1/survey-requests", &c.mentor.token, None)
        .await;
    let request = requests["data"][0]["id"].as_str().unwrap().to_string();
    let learning = app
        .ok(
            &format!("/v1/pairs/{}/learnings", c.pair),
            &c.mentee.token,
            json!({"text": "Weekly feedback"}),
            201,
        )
        .await;
    let learning = learning["id"].as_str().unwrap().to_string();
    let (_, mine) = app
        .call(
            Method::GET,
            &format!("/v1/programmes/{}/enrolments", c.programme),
            &c.mentor.token,
            None,
        )
        .await;
    let enrolment = mine["data"][0]["id"].as_str().unwrap().to_string();
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339();

    let actors: [(&str, &str); 7] = [
        ("admin", &c.org.token),
        ("manager", &c.manager.token),
        ("other manager", &other_manager),
        ("mentor", &c.mentor.token),
        ("mentee", &c.mentee.token),
        ("other pair's mentor", &mentor2.token),
        ("other organisation", &globex.token),
    ];
    let (p, pair) = (&c.programme, &c.pair);
    let stale = Some("\"stale\"");
    #[rustfmt::skip]
    let matrix: Vec<Row> = vec![
        //                                                                   admin mgr other mentor mentee pair2 org2
        (Method::GET, format!("/v1/programmes/{p}"), None, None,              [200, 200, 404, 200, 200, 200, 404]),
        (Method::PATCH, format!("/v1/programmes/{p}"), Some(json!({"description": "x"})), None,
                                                                              [200, 200, 404, 403, 403, 403, 404]),
        (Method::POST, format!("/v1/programmes/{p}/transitions"), Some(json!({"to": "matching"})), stale,
                                                                              [412, 412, 404, 403, 403, 403, 404]),
        (Method::GET, format!("/v1/programmes/{p}/metrics"), None, None,      [200, 200, 404, 403, 403, 403, 404]),
        (Method::GET, format!("/v1/programmes/{p}/stories"), None, None,      [200, 200, 404, 200, 200, 200, 404]),
        (Method::GET, format!("/v1/programmes/{p}/enrolments"), None, None,   [200, 200, 404, 200, 200, 200, 404]),
        (Method::GET, format!("/v1/programmes/{p}/pairs"), None, None,        [200, 200, 404, 200, 200, 200, 404]),
        (Method::POST, format!("/v1/programmes/{p}/pairs"),
            Some(json!({"mentor_id": c.mentor.id, "mentee_id": c.mentor.id})), None,
                                                                              [422, 422, 404, 403, 403, 403, 404]),
        (Method::GET, format!("/v1/programmes/{p}/surveys"), None, None,      [200, 200, 404, 403, 403, 403, 404]),
        (Method::GET, format!("/v1/pairs/{pair}"), None, None,                [200, 200, 404, 200, 200, 404, 404]),
        (Method::POST, format!("/v1/pairs/{pair}/transitions"), Some(json!({"to": "paused"})), stale,
                                                                              [412, 412, 404, 403, 403, 404, 404]),
        (Method::GET, format!("/v1/pairs/{pair}/sessions"), None, None,       [200, 200, 404, 200, 200, 404, 404]),
        (Method::GET, format!("/v1/sessions/{session}"), None, None,          [200, 200, 404, 200, 200, 404, 404]),
        (Method::PATCH, format!("/v1/sessions/{session}"), Some(json!({"mode": "phone"})), stale,
                                                                              [412, 412, 404, 412, 412, 404, 404]),
        (Method::GET, format!("/v1/pairs/{pair}/notes"), None, None,          [200, 200, 404, 200, 200, 404, 404]),
        (Method::GET, format!("/v1/notes/{note}"), None, None,                [200, 200, 404, 200, 404, 404, 404]),
        (Method::PATCH, format!("/v1/notes/{note}"), Some(json!({"shared": false})), stale,
                                                                              [403, 403, 404, 412, 404, 404, 404]),
        (Method::POST, format!("/v1/pairs/{pair}/notes"), Some(json!({"body": " "})), None,
                                                                              [403, 403, 404, 422, 422, 404, 404]),
        (Method::GET, format!("/v1/pairs/{pair}/learnings"), None, None,      [200, 200, 404, 200, 200, 404, 404]),
        (Method::POST, format!("/v1/pairs/{pair}/learnings"), Some(json!({"text": " "})), None,
                                                                              [403, 403, 404, 422, 422, 404, 404]),
        (Method::GET, "/v1/programmes".to_string(), None, None,              [200, 200, 200, 200, 200, 200, 200]),
        (Method::POST, "/v1/programmes".to_string(), Some(json!({"name": " ", "starts_on": "2027-01-01", "ends_on": "2027-02-01"})), None,
                                                                              [422, 403, 403, 403, 403, 403, 422]),
        (Method::POST, format!("/v1/programmes/{p}/enrolments"),
            Some(json!({"participant_id": c.mentor.id, "role": "mentor", "topics": ["not offered"]})), None,
                                                                              [422, 422, 404, 422, 403, 403, 404]),
        (Method::GET, format!("/v1/enrolments/{enrolment}"), None, None,      [200, 200, 404, 200, 404, 404, 404]),
        (Method::PATCH, format!("/v1/enrolments/{enrolment}"), Some(json!({"goals": "x"})), stale,
                                                                              [412, 412, 404, 412, 404, 404, 404]),
        (Method::POST, format!("/v1/enrolments/{enrolment}/withdraw"), Some(json!({"reason": " "})), None,
                                                                              [422, 422, 404, 422, 404, 404, 404]),
        (Method::POST, format!("/v1/pairs/{pair}/agreement"), Some(json!({"side": "mentor", "ground_rules_version": 99})), None,
                                                                              [409, 403, 404, 409, 403, 404, 404]),
        (Method::POST, format!("/v1/pairs/{pair}/sessions"),
            Some(json!({"starts_at": starts_at, "mode": "video", "agenda": ["Salaries"]})), None,
                                                                              [422, 422, 404, 422, 422, 404, 404]),
        (Method::POST, format!("/v1/sessions/{session}/complete"), Some(json!({})), None,
                                                                              [422, 422, 404, 422, 422, 404, 404]),
        (Method::POST, format!("/v1/sessions/{session}/cancel"), Some(json!({"reason": " "})), None,
                                                                              [422, 422, 404, 422, 422, 404, 404]),
        (Method::POST, format!("/v1/sessions/{session}/no-show"), Some(json!({"who": "mentee"})), None,
                                                                              [422, 422, 404, 422, 422, 404, 404]),
        (Method::GET, format!("/v1/learnings/{learning}"), None, None,        [200, 200, 404, 200, 200, 404, 404]),
        (Method::PATCH, format!("/v1/learnings/{learning}"), Some(json!({"text": "x"})), stale,
                                                                              [403, 403, 404, 403, 412, 404, 404]),
        (Method::POST, format!("/v1/learnings/{learning}/consent"), None, None,
                                                                              [403, 403, 404, 409, 403, 404, 404]),
        (Method::POST, format!("/v1/learnings/{learning}/publish"), Some(json!({"title": " "})), None,
                                                                              [403, 403, 404, 403, 422, 404, 404]),
        (Method::POST, format!("/v1/programmes/{p}/surveys"), Some(json!({"title": " ", "milestone": "end", "questions": []})), None,
                                                                              [422, 422, 404, 403, 403, 403, 404]),
        (Method::GET, format!("/v1/programmes/{p}/surveys/{survey}"), None, None,
                                                                              [200, 200, 404, 403, 403, 403, 404]),
        (Method::PATCH, format!("/v1/programmes/{p}/surveys/{survey}"), Some(json!({"active": true})), stale,
                                                                              [412, 412, 404, 403, 403, 403, 404]),
        (Method::GET, format!("/v1/programmes/{p}/surveys/{survey}/scores"), None, None,
                                                                              [200, 200, 404, 403, 403, 403, 404]),
        (Method::GET, format!("/v1/survey-requests?programme_id={p}"), None, None,
                                                                              [200, 200, 404, 200, 200, 200, 200]),
        (Method::GET, format!("/v1/survey-requests/{request}"), None, None,   [200, 200, 404, 200, 404, 404, 404]),
        (Method::POST, format!("/v1/survey-requests/{request}/response"), Some(json!({"answers": []})), None,
                                                                              [403, 403, 404, 422, 404, 404, 404]),
        (Method::DELETE, format!("/v1/notes/{note}"), None, None,             [403, 403, 404, 204, 404, 404, 404]),
    ];
    for (method, path, body, if_match, expected) in &matrix {
        for ((who, token), want) in actors.iter().zip(expected) {
            let mut request = app.request(method.clone(), path, token);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(tag) = if_match {
                request = request.header("If-Match", *tag);
            }
            let response = request.send().await.unwrap();
            let got = response.status().as_u16();
            let kind = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let text = response.text().await.unwrap_or_default();
            assert_eq!(got, *want, "{who}: {method} {path} → {text}");
            if got >= 400 {
                assert_eq!(kind, "application/problem+json", "{who}: {method} {path}");
            }
        }
    }
    // Lists are narrowed, not just allowed: a participant sees only their own enrolments and pairs.
    for (who, token, pairs) in [("mentor", &c.mentor.token, 1), ("manager", &c.manager.token, 2)] {
        let (_, list) = app
            .call(Method::GET, &format!("/v1/programmes/{p}/pairs"), token, None)
            .await;
        assert_eq!(list["data"].as_array().unwrap().len(), pairs, "{who}");
    }
    // A manager's programme list holds their programmes only; a participant's the ones they are in.
    let (_, list) = app.call(Method::GET, "/v1/programmes", &other_manager, None).await;
    assert_eq!(list["data"], json!([]));
    let (_, list) = app.call(Method::GET, "/v1/programmes", &globex.token, None).await;
    assert_eq!(list["data"], json!([]));
}

async fn notes_are_private_to_the_pair(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.cohort().await;
    let secret = "I worry my director dismisses the graduates";
    let note = app
        .ok(
            &format!("/v1/pairs/{}/notes", c.pair),
            &c.mentee.token,
            json!({"body": secret}),
            201,
        )
        .await;
    assert_eq!(note["body"], secret);
    let id = note["id"].as_str().unwrap().to_string();
    let notes = format!("/v1/pairs/{}/notes", c.pair);

    // The other side does not even learn it exists.
    let (_, list) = app.call(Method::GET, &notes, &c.mentor.token, None).await;
    assert_eq!(list["data"], json!([]));
    assert_problem(
        app.get(&format!("/v1/notes/{id}"), &c.mentor.token).await,
        404,
        "not_found",
    )
    .await;
    // Admins and managers see that it exists, never what it says.
    for token in [&c.org.token, &c.manager.token] {
        let (_, list) = app.call(Method::GET, &notes, token, None).await;
        assert_eq!(list["data"][0]["id"], id.as_str());
        assert!(list["data"][0].get("body").is_none(), "{list}");
        let (_, one) = app.call(Method::GET, &format!("/v1/notes/{id}"), token, None).await;
        assert!(one.get("body").is_none());
    }
    // Shared, the other side reads it; only the author may change it.
    let (status, shared) = app
        .call(
            Method::PATCH,
            &format!("/v1/notes/{id}"),
            &c.mentee.token,
            Some(&json!({"shared": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(shared["body"], secret);
    let (_, read) = app
        .call(Method::GET, &format!("/v1/notes/{id}"), &c.mentor.token, None)
        .await;
    assert_eq!(read["body"], secret);
    let edit = app
        .request(Method::PATCH, &format!("/v1/notes/{id}"), &c.mentor.token)
        .json(&json!({"body": "rewritten"}))
        .send()
        .await
        .unwrap();
    assert_problem(edit, 403, "forbidden").await;
    let (_, list) = app.call(Method::GET, &notes, &c.manager.token, None).await;
    assert!(list["data"][0].get("body").is_none());
    // No event, and no other response, ever carries the text.
    for event in app.events(&c.org.token).await {
        assert!(!event.to_string().contains(secret), "{event}");
    }
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/notes/{id}"), &c.mentor.token, None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/notes/{id}"), &c.mentee.token, None)
        .await;
    assert_eq!(status, 204);
    assert_problem(
        app.get(&format!("/v1/notes/{id}"), &c.mentee.token).await,
        404,
        "not_found",
    )
    .await;
}

/// A programme with a proposed pair whose sides have not agreed yet.
async fn proposed_pair(app: &TestApp) -> (upward_tests::Org, String, Person, Person, String) {
    let org = app.org("Acme").await;
    let maya = app.person_in(&org, "maya@acme.test", 6, "People").await;
    let programme = app.enrolling_programme(&org, &maya, json!({})).await;
    let mentor = app.person_in(&org, "mo@acme.test", 2, "Engineering").await;
    let mentee = app.person_in(&org, "erin@acme.test", 9, "Finance").await;
    app.enrol(&programme, &mentor, "mentor").await;
    app.enrol(&programme, &mentee, "mentee").await;
    let pair = app
        .ok(
            &format!("/v1/programmes/{programme}/pairs"),
            &org.token,
            json!({"mentor_id": mentor.id, "mentee_id": mentee.id}),
            201,
        )
        .await;
    let pair = pair["id"].as_str().unwrap().to_string();
    (org, programme, mentor, mentee, pair)
}

async fn two_agreements_at_once_activate_the_pair_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (org, _, mentor, mentee, pair) = proposed_pair(&app).await;
    let path = format!("/v1/pairs/{pair}/agreement");
    let empty = json!({});
    let (a, b) = tokio::join!(
        app.call(Method::POST, &path, &mentor.token, Some(&empty)),
        app.call(Method::POST, &path, &mentee.token, Some(&empty)),
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    let (_, pair) = app
        .call(Method::GET, &format!("/v1/pairs/{pair}"), &org.token, None)
        .await;
    assert_eq!(pair["state"], "active");
    assert_eq!(pair["agreements"].as_array().unwrap().len(), 2);
    let events = app.events(&org.token).await;
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("pair.activated"), 1);
    assert_eq!(count("pair.agreement_recorded"), 2);
}

async fn racing_transitions_one_wins_the_other_gets_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.cohort().await;
    let path = format!("/v1/pairs/{}/transitions", c.pair);
    let body = json!({"to": "paused"});
    let (a, b) = tokio::join!(
        app.call(Method::POST, &path, &c.manager.token, Some(&body)),
        app.call(Method::POST, &path, &c.org.token, Some(&body)),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} {}", a.1, b.1);
    let events = app.events(&c.org.token).await;
    assert_eq!(events.iter().filter(|e| e["type"] == "pair.paused").count(), 1);
}

async fn capacity_holds_under_concurrent_pairing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.org("Acme").await;
    let maya = app.person_in(&org, "maya@acme.test", 6, "People").await;
    let programme = app.enrolling_programme(&org, &maya, json!({})).await;
    for round in 0..3 {
        let mentor = app.person_in(&org, &format!("mentor{round}@acme.test"), 1, "Ops").await;
        app.enrol(&programme, &mentor, "mentor").await;
        let mut mentees = Vec::new();
        for i in 0..3 {
            let mentee = app
                .person_in(&org, &format!("mentee{round}-{i}@acme.test"), 9, "Legal")
                .await;
            app.enrol(&programme, &mentee, "mentee").await;
            mentees.push(mentee);
        }
        let path = format!("/v1/programmes/{programme}/pairs");
        let bodies: Vec<Value> = mentees
            .iter()
            .map(|m| json!({"mentor_id": mentor.id, "mentee_id": m.id}))
            .collect();
        let results = futures_join(&app, &path, &org.token, &bodies).await;
        let created = results.iter().filter(|(s, _)| *s == 201).count();
        let refused: Vec<&Value> = results.iter().filter(|(s, _)| *s == 422).map(|(_, b)| b).collect();
        assert_eq!(created, 1, "{results:?}");
        assert_eq!(refused.len(), 2, "{results:?}");
        for body in refused {
            assert_eq!(body["errors"][0]["code"], "mentor_at_capacity");
        }
    }
}

async fn futures_join(app: &TestApp, path: &str, token: &str, bodies: &[Value]) -> Vec<(u16, Value)> {
    let calls = bodies.iter().map(|b| app.call(Method::POST, path, token, Some(b)));
    let mut out = Vec::new();
    let handles: Vec<_> = calls.collect();
    for result in join_all(handles).await {
        out.push(result);
    }
    out
}

/// Polls every future together (a tiny `join_all`, to avoid a dependency for one test).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}
