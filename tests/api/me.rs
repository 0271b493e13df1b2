//! A front end's home page from a few calls: `/v1/me` and its pairs, sessions, survey requests and enrolments across
//! programmes, with a participant's token; and one person's pairs across programmes, as each role may see them.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, Person, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    a_front_end_builds_a_participants_home_page_from_the_me_endpoints,
    one_persons_pairs_across_programmes_are_seen_as_each_role_may
);

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// A second programme (managed by `manager`) in which `mentor` is paired with a new senior colleague.
async fn second_programme(
    app: &TestApp,
    org: &upward_tests::Org,
    manager: &Person,
    mentor: &Person,
) -> (String, String) {
    let mentee = app.person_in(org, "sam@acme.test", 8, "Sales").await;
    let programme = app
        .enrolling_programme(org, manager, json!({"name": "Inclusive leadership"}))
        .await;
    app.enrol(&programme, mentor, "mentor").await;
    app.enrol(&programme, &mentee, "mentee").await;
    let pair = app.started_pair(&programme, manager, mentor, &mentee, None).await;
    (programme, pair)
}

async fn a_front_end_builds_a_participants_home_page_from_the_me_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let mo = &cohort.mentor;
    let (_, second_pair) = second_programme(&app, &cohort.org, &cohort.manager, mo).await;

    // Who am I: the participant behind the token, with an ETag a front end revalidates.
    let response = app.get("/v1/me", &mo.token).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["id"], mo.id.as_str());
    assert_eq!(me["email"], "mo@acme.test");
    let again = app
        .request(Method::GET, "/v1/me", &mo.token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // An organisation's client token is nobody's "me".
    assert_problem(app.get("/v1/me", &cohort.org.token).await, 403, "forbidden").await;
    assert_problem(app.get("/v1/me/pairs", &cohort.org.token).await, 403, "forbidden").await;

    // My pairs and enrolments, in both programmes; the mentee of the first sees only theirs.
    let (status, pairs) = app.call(Method::GET, "/v1/me/pairs", &mo.token, None).await;
    assert_eq!(status, 200, "{pairs}");
    let mut mine = ids(&pairs);
    mine.sort();
    let mut expected = vec![cohort.pair.clone(), second_pair.clone()];
    expected.sort();
    assert_eq!(mine, expected);
    assert!(pairs["data"][0]["commitment"].is_object(), "{pairs}");
    let (_, erin) = app.call(Method::GET, "/v1/me/pairs", &cohort.mentee.token, None).await;
    assert_eq!(ids(&erin), vec![cohort.pair.clone()]);
    let (_, active) = app
        .call(Method::GET, "/v1/me/pairs?state=completed", &mo.token, None)
        .await;
    assert_eq!(ids(&active), Vec::<String>::new());
    let (_, enrolments) = app.call(Method::GET, "/v1/me/enrolments", &mo.token, None).await;
    assert_eq!(enrolments["data"].as_array().unwrap().len(), 2, "{enrolments}");
    assert!(
        enrolments["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["participant_id"] == mo.id.as_str())
    );

    // My sessions: by default the last 30 days and the next 180, in start order, over both pairs.
    let tomorrow = app.session(&cohort.pair, &mo.token, 24).await;
    let in_two_days = app.session(&second_pair, &mo.token, 48).await;
    let held = app.session(&cohort.pair, &mo.token, -2).await;
    let long_ago = app.session(&cohort.pair, &mo.token, -24 * 40).await;
    let (status, window) = app.call(Method::GET, "/v1/me/sessions", &mo.token, None).await;
    assert_eq!(status, 200, "{window}");
    assert_eq!(ids(&window), vec![held.clone(), tomorrow.clone(), in_two_days.clone()]);
    assert_eq!(window["truncated"], false);
    let from = (chrono::Utc::now() - chrono::Duration::days(45)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (chrono::Utc::now() + chrono::Duration::hours(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, wider) = app
        .call(
            Method::GET,
            &format!("/v1/me/sessions?from={from}&to={to}"),
            &mo.token,
            None,
        )
        .await;
    assert_eq!(ids(&wider), vec![long_ago, held.clone(), tomorrow]);
    // The mentee of the second pair is not in the first: none of its sessions.
    let (_, erin_sessions) = app
        .call(Method::GET, "/v1/me/sessions", &cohort.mentee.token, None)
        .await;
    assert!(!ids(&erin_sessions).contains(&in_two_days));
    // A window that ends before it starts, or spans more than 400 days, is refused.
    let backwards = app
        .get(&format!("/v1/me/sessions?from={to}&to={from}"), &mo.token)
        .await;
    let problem = assert_problem(backwards, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "to");
    let far = app
        .get(
            "/v1/me/sessions?from=2026-01-01T00:00:00Z&to=2027-06-01T00:00:00Z",
            &mo.token,
        )
        .await;
    assert_problem(far, 422, "validation_failed").await;
    assert_eq!(app.get("/v1/me/sessions?from=yesterday", &mo.token).await.status(), 400);

    // My pending survey requests: a held session asks both sides; answering moves it to `answered`.
    app.ok(
        &format!("/v1/programmes/{}/surveys", cohort.programme),
        &cohort.manager.token,
        json!({"title": "After the session", "milestone": "after_each_session",
               "questions": [{"id": "useful", "kind": "likert", "prompt": "How useful was it?"}]}),
        201,
    )
    .await;
    app.ok(
        &format!("/v1/sessions/{held}/complete"),
        &mo.token,
        json!({"actual_duration_minutes": 45, "topics_discussed": ["AI tools"]}),
        200,
    )
    .await;
    let (_, pending) = app
        .call(Method::GET, "/v1/me/survey-requests?state=pending", &mo.token, None)
        .await;
    let requests = ids(&pending);
    assert_eq!(requests.len(), 1, "{pending}");
    app.ok(
        &format!("/v1/survey-requests/{}/response", requests[0]),
        &mo.token,
        json!({"answers": [{"question_id": "useful", "value": 5}]}),
        201,
    )
    .await;
    let (_, pending) = app
        .call(Method::GET, "/v1/me/survey-requests?state=pending", &mo.token, None)
        .await;
    assert_eq!(ids(&pending), Vec::<String>::new());
    let (_, answered) = app
        .call(Method::GET, "/v1/me/survey-requests?state=answered", &mo.token, None)
        .await;
    assert_eq!(ids(&answered), requests);
}

async fn one_persons_pairs_across_programmes_are_seen_as_each_role_may(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let org = &cohort.org;
    // The second programme has its own manager, who does not manage the first.
    let other = app.person_in(org, "omar@acme.test", 7, "People").await;
    let other_manager = Person {
        token: app.manager_token(&org.token, &other.id).await,
        ..other
    };
    let (_, second_pair) = second_programme(&app, org, &other_manager, &cohort.mentor).await;
    let path = format!("/v1/pairs?participant_id={}", cohort.mentor.id);

    // The admin sees the mentor's pairs in both programmes, page by page.
    let (status, first) = app
        .call(Method::GET, &format!("{path}&limit=1"), &org.token, None)
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .call(
            Method::GET,
            &format!("{path}&limit=1&cursor={cursor}"),
            &org.token,
            None,
        )
        .await;
    let mut all = [ids(&first), ids(&second)].concat();
    all.sort();
    let mut expected = vec![cohort.pair.clone(), second_pair.clone()];
    expected.sort();
    assert_eq!(all, expected);
    let (_, active) = app
        .call(Method::GET, &format!("{path}&state=active"), &org.token, None)
        .await;
    assert_eq!(ids(&active).len(), 2);

    // Each manager sees the mentor's pair in the programme they manage, not the other.
    let (_, mine) = app.call(Method::GET, &path, &cohort.manager.token, None).await;
    assert_eq!(ids(&mine), vec![cohort.pair.clone()]);
    let (_, theirs) = app.call(Method::GET, &path, &other_manager.token, None).await;
    assert_eq!(ids(&theirs), vec![second_pair.clone()]);

    // A participant sees only their own pairs: asking for someone else's finds none, even a shared pair.
    let (_, own) = app.call(Method::GET, "/v1/pairs", &cohort.mentee.token, None).await;
    assert_eq!(ids(&own), vec![cohort.pair.clone()]);
    let (_, someone_elses) = app.call(Method::GET, &path, &cohort.mentee.token, None).await;
    assert_eq!(ids(&someone_elses), Vec::<String>::new());

    // Another organisation's admin finds nothing at all.
    let globex = app.org("Globex").await;
    let (status, none) = app.call(Method::GET, &path, &globex.token, None).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&none), Vec::<String>::new());
}
