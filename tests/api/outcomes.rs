//! Outcomes: an HR lead shows that a programme works — did its mentors stay longer than their peers who did not take
//! part, and would people recommend it after N sessions? A programme is seeded through the API on a test clock (the
//! directory in January 2025, pairs starting in February, leavers through the year) and every figure is checked
//! against a hand count; the confidence intervals against statsmodels' `confint_proportions_2indep(method="newcomb")`.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, Org, Person, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    retention_compares_participants_with_peers_who_never_took_part,
    the_would_recommend_curve_reads_answers_by_sessions_held,
    a_mentor_who_twice_reports_the_senior_doing_the_talking_puts_the_pair_at_risk,
    the_change_in_the_leaders_pairs_baseline_and_follow_up_answers,
    the_board_report_comes_as_json_csv_and_a_page_that_renders_in_a_browser
);

const JANUARY: &str = "2025-01-01T09:00:00Z";
const PAIRS_START: &str = "2025-02-01T09:00:00Z";

async fn employee(app: &TestApp, org: &Org, at: &str, email: &str, level: i32, department: &str) -> String {
    let p = app
        .ok_at(
            at,
            Method::POST,
            "/v1/participants",
            &org.token,
            json!({"email": email, "display_name": email.split('@').next().unwrap(), "level": level, "department": department}),
            201,
        )
        .await;
    p["id"].as_str().unwrap().to_string()
}

async fn with_token(app: &TestApp, org: &Org, id: String) -> Person {
    let token = app.participant_token(&org.token, &id).await;
    Person { id, token }
}

async fn leaves(app: &TestApp, org: &Org, id: &str, at: &str) {
    let p = app
        .ok_at(
            at,
            Method::PATCH,
            &format!("/v1/participants/{id}"),
            &org.token,
            json!({"active": false}),
            200,
        )
        .await;
    assert_eq!(p["left_at"].as_str().map(|s| &s[..10]), Some(&at[..10]), "{p}");
}

/// A programme in `enrolling`, and its manager (with a manager token).
async fn managed_programme(app: &TestApp, org: &Org) -> (Person, String) {
    let manager = app.person_in(org, "maya@acme.test", 6, "People").await;
    let manager = Person {
        token: app.manager_token(&org.token, &manager.id).await,
        ..manager
    };
    let programme = app.enrolling_programme(org, &manager, json!({})).await;
    (manager, programme)
}

/// `n` pairs started now (junior engineers mentoring senior people in Finance): `(pair, mentor, mentee)`.
async fn pairs_started_now(
    app: &TestApp,
    org: &Org,
    programme: &str,
    manager: &Person,
    n: usize,
) -> Vec<(String, Person, Person)> {
    let mut pairs = Vec::new();
    for i in 0..n {
        let mentor = app
            .person_in(org, &format!("mentor{i}@acme.test"), 2, "Engineering")
            .await;
        let mentee = app.person_in(org, &format!("mentee{i}@acme.test"), 9, "Finance").await;
        app.enrol(programme, &mentor, "mentor").await;
        app.enrol(programme, &mentee, "mentee").await;
        let pair = app.started_pair(programme, manager, &mentor, &mentee, None).await;
        pairs.push((pair, mentor, mentee));
    }
    pairs
}

fn close(value: &Value, expected: f64) {
    let v = value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"));
    assert!((v - expected).abs() <= 0.011, "{v} ≠ {expected}");
}

async fn retention_compares_participants_with_peers_who_never_took_part(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.test_clock = true;
        c.min_group_size = 3;
    })
    .await;
    let org = app.org("Acme").await;
    let manager = employee(&app, &org, JANUARY, "maya@acme.test", 6, "People").await;
    let manager = Person {
        token: app.manager_token(&org.token, &manager).await,
        id: manager,
    };
    // Five junior engineers mentor five senior people in Finance.
    let mut mentors = Vec::new();
    let mut mentees = Vec::new();
    for i in 1..=5 {
        let m = employee(&app, &org, JANUARY, &format!("mentor{i}@acme.test"), 2, "Engineering").await;
        mentors.push(with_token(&app, &org, m).await);
        let e = employee(&app, &org, JANUARY, &format!("mentee{i}@acme.test"), 9, "Finance").await;
        mentees.push(with_token(&app, &org, e).await);
    }
    // Their peers who never took part: six engineers at levels 1–3 (the comparison group), one at level 5 (outside
    // the band), one in Sales, one who joined after the pairs started, one who left before; two senior people in
    // Finance (too few to compare the mentees with).
    let mut peers = Vec::new();
    for (i, level) in [1, 2, 2, 3, 3, 2].into_iter().enumerate() {
        peers.push(employee(&app, &org, JANUARY, &format!("peer{i}@acme.test"), level, "Engineering").await);
    }
    employee(&app, &org, JANUARY, "senior-engineer@acme.test", 5, "Engineering").await;
    employee(&app, &org, JANUARY, "sales@acme.test", 2, "Sales").await;
    employee(
        &app,
        &org,
        "2025-03-01T09:00:00Z",
        "newcomer@acme.test",
        2,
        "Engineering",
    )
    .await;
    let early_leaver = employee(&app, &org, JANUARY, "early@acme.test", 2, "Engineering").await;
    leaves(&app, &org, &early_leaver, "2025-01-20T09:00:00Z").await;
    for i in 0..2 {
        employee(&app, &org, JANUARY, &format!("finance{i}@acme.test"), 9, "Finance").await;
    }

    let programme = app.enrolling_programme(&org, &manager, json!({})).await;
    for i in 0..5 {
        app.enrol(&programme, &mentors[i], "mentor").await;
        app.enrol(&programme, &mentees[i], "mentee").await;
    }
    for i in 0..4 {
        app.started_pair(&programme, &manager, &mentors[i], &mentees[i], Some(PAIRS_START))
            .await;
    }
    // The fifth pair starts today: no horizon of theirs has passed.
    app.started_pair(&programme, &manager, &mentors[4], &mentees[4], None)
        .await;

    // Mentor 1 leaves after two months, mentor 2 after four; a peer after one month, another after eight.
    leaves(&app, &org, &mentors[0].id, "2025-04-01T09:00:00Z").await;
    leaves(&app, &org, &mentors[1].id, "2025-06-01T09:00:00Z").await;
    leaves(&app, &org, &peers[4], "2025-03-01T09:00:00Z").await;
    leaves(&app, &org, &peers[5], "2025-10-01T09:00:00Z").await;

    let path = format!("/v1/programmes/{programme}/outcomes/retention");
    let r = app.ok_with(Method::GET, &path, &manager.token, json!(null), 200).await;
    assert_eq!(r["min_group_size"], 3);
    assert_eq!(r["level_band"], 1);
    let m = &r["mentors"];
    assert_eq!(m["people"], 5);
    // Six peers from February, and the newcomer from today's pair.
    assert_eq!(m["comparison_people"], 7, "{m}");
    let horizons = m["horizons"].as_array().unwrap();
    assert_eq!(horizons.len(), 3);
    // Mentors: 3 of 4 at three months, 2 of 4 at six and twelve. Peers: 5 of 6, 5 of 6, 4 of 6.
    // statsmodels, newcomb: (3,4,5,6) → −55.30…36.31; (2,4,5,6) → −70.90…19.58; (2,4,4,6) → −58.91…34.02.
    let expected = [
        (3, 3, 5, 75.0, 83.33, -8.33, -55.30, 36.31),
        (6, 2, 5, 50.0, 83.33, -33.33, -70.90, 19.58),
        (12, 2, 4, 50.0, 66.67, -16.67, -58.91, 34.02),
    ];
    for (h, (months, retained, peers_retained, rate, peer_rate, diff, low, high)) in horizons.iter().zip(expected) {
        assert_eq!(h["months"], months);
        assert_eq!(h["reached"], true);
        assert_eq!(h["suppressed"], false);
        assert_eq!(h["not_yet_reached"], 1, "{h}");
        assert_eq!(h["participants"]["people"], 4);
        assert_eq!(h["participants"]["still_employed"], retained);
        close(&h["participants"]["rate"], rate);
        assert_eq!(h["comparison"]["people"], 6);
        assert_eq!(h["comparison"]["still_employed"], peers_retained);
        close(&h["comparison"]["rate"], peer_rate);
        close(&h["difference"], diff);
        close(&h["confidence_interval"]["low"], low);
        close(&h["confidence_interval"]["high"], high);
    }
    // Mentees: two peers only, under k = 3 — every horizon suppressed, counts and all.
    let e = &r["mentees"];
    assert_eq!(e["people"], 5);
    assert_eq!(e["comparison_people"], 2);
    for h in e["horizons"].as_array().unwrap() {
        assert_eq!(h["suppressed"], true, "{h}");
        assert_eq!(h["participants"]["people"], Value::Null);
        assert_eq!(h["comparison"]["rate"], Value::Null);
        assert_eq!(h["difference"], Value::Null);
        assert_eq!(h["confidence_interval"], Value::Null);
    }

    // Band 0 keeps the level-2 peers only: three from February, and the newcomer.
    let narrow = app
        .ok_with(
            Method::GET,
            &format!("{path}?level_band=0"),
            &org.token,
            json!(null),
            200,
        )
        .await;
    assert_eq!(narrow["mentors"]["comparison_people"], 4, "{narrow}");
    let refused = app.get(&format!("{path}?level_band=9"), &org.token).await;
    assert_problem(refused, 422, "validation_failed").await;
    let refused = app.get(&path, &mentors[2].token).await;
    assert_problem(refused, 403, "forbidden").await;
    let other = app.org("Globex").await;
    let hidden = app.get(&path, &other.token).await;
    assert_problem(hidden, 404, "not_found").await;
}

async fn the_would_recommend_curve_reads_answers_by_sessions_held(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.test_clock = true;
        c.min_group_size = 3;
    })
    .await;
    let org = app.org("Acme").await;
    let (manager, programme) = managed_programme(&app, &org).await;
    app.ok(
        &format!("/v1/programmes/{programme}/surveys"),
        &manager.token,
        json!({"title": "After the session", "milestone": "after_each_session",
               "questions": [{"id": "recommend", "kind": "nps", "prompt": "Would you recommend the programme?"}]}),
        201,
    )
    .await;
    let pairs = pairs_started_now(&app, &org, &programme, &manager, 3).await;
    let hours_ago = |h: i64| (chrono::Utc::now() - chrono::Duration::hours(h)).to_rfc3339();
    // Round n: the pairs in it hold a session (n × 24 h ago … ) and both sides answer before the next one.
    // Round 1, all three pairs: mentors 9, 10, 6; mentees 8, 9, 3 → 3 promoters, 1 passive, 2 detractors.
    // Round 2, pairs 1 and 2: 10, 10 and 9, 7 → 3 promoters, 1 passive: NPS 75.
    // Round 3, pair 1 only: 10, 10 → two answers, under k = 3: suppressed.
    // (pair, mentor's answer, mentee's answer)
    type Answers<'a> = &'a [(usize, i64, i64)];
    let rounds: [(i64, Answers); 3] = [
        (96, &[(0, 9, 8), (1, 10, 9), (2, 6, 3)]),
        (72, &[(0, 10, 10), (1, 9, 7)]),
        (48, &[(0, 10, 10)]),
    ];
    for (held_hours_ago, answers) in rounds {
        for &(p, mentor_score, mentee_score) in answers {
            let (pair, mentor, mentee) = &pairs[p];
            let session = app.session(pair, &mentor.token, -held_hours_ago).await;
            app.ok(
                &format!("/v1/sessions/{session}/complete"),
                &mentee.token,
                json!({}),
                200,
            )
            .await;
            for (who, score) in [(mentor, mentor_score), (mentee, mentee_score)] {
                let (_, pending) = app
                    .call(Method::GET, "/v1/survey-requests?state=pending", &who.token, None)
                    .await;
                let request = pending["data"][0]["id"].as_str().unwrap().to_string();
                app.ok_at(
                    &hours_ago(held_hours_ago - 12),
                    Method::POST,
                    &format!("/v1/survey-requests/{request}/response"),
                    &who.token,
                    json!({"answers": [{"question_id": "recommend", "value": score}]}),
                    201,
                )
                .await;
            }
        }
    }

    let curve = app
        .ok_with(
            Method::GET,
            &format!("/v1/programmes/{programme}/outcomes/would-recommend"),
            &manager.token,
            json!(null),
            200,
        )
        .await;
    assert_eq!(curve["answers"], 12);
    let points = curve["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{curve}");
    let one = &points[0];
    assert_eq!(
        (one["sessions_held"].as_u64(), one["answers"].as_u64()),
        (Some(1), Some(6))
    );
    assert_eq!(
        (&one["promoters"], &one["passives"], &one["detractors"]),
        (&json!(3), &json!(1), &json!(2))
    );
    close(&one["nps"], 16.67);
    close(&one["would_recommend_share"], 50.0);
    let two = &points[1];
    assert_eq!(
        (two["sessions_held"].as_u64(), two["answers"].as_u64()),
        (Some(2), Some(4))
    );
    close(&two["nps"], 75.0);
    close(&two["would_recommend_share"], 75.0);
    let three = &points[2];
    assert_eq!(three["sessions_held"], 3);
    assert_eq!(three["suppressed"], true);
    assert_eq!(three["nps"], Value::Null);

    // Across programmes (admins): this organisation has one, so the same points.
    let across = app
        .ok_with(
            Method::GET,
            "/v1/outcomes/would-recommend",
            &org.token,
            json!(null),
            200,
        )
        .await;
    assert_eq!(across["programme_id"], Value::Null);
    assert_eq!(across["points"], curve["points"]);
    let refused = app.get("/v1/outcomes/would-recommend", &manager.token).await;
    assert_problem(refused, 403, "forbidden").await;
}

async fn a_mentor_who_twice_reports_the_senior_doing_the_talking_puts_the_pair_at_risk(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.timed_events_interval_ms = 100).await;
    let cohort = app.cohort().await;
    let path = format!("/v1/programmes/{}/pulses/role-reversion", cohort.programme);
    let pulse = app
        .ok_with(Method::PUT, &path, &cohort.manager.token, json!(null), 200)
        .await;
    assert_eq!(pulse["pulse"], "role_reversion");
    assert_eq!(pulse["audience"], "mentors");
    assert_eq!(pulse["milestone"], "after_each_session");
    let again = app
        .ok_with(Method::PUT, &path, &cohort.manager.token, json!(null), 200)
        .await;
    assert_eq!(again["id"], pulse["id"], "one pulse per programme");
    let refused = app
        .request(Method::PUT, &path, &cohort.mentor.token)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 403, "forbidden").await;
    // Its question ids are reserved.
    let clash = app
        .post(
            &format!("/v1/programmes/{}/surveys", cohort.programme),
            &cohort.manager.token,
            &json!({"title": "Mine", "milestone": "end",
                    "questions": [{"id": "role_reversion_talking", "kind": "text", "prompt": "?"}]}),
        )
        .await;
    let problem = assert_problem(clash, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "reserved");

    let pair_path = format!("/v1/pairs/{}", cohort.pair);
    let commitment = |token: String| {
        let (app, path) = (&app, pair_path.clone());
        async move { app.get(&path, &token).await.json::<Value>().await.unwrap()["commitment"].clone() }
    };
    let hold_and_answer = |hours_ago: i64, talking: &'static str| {
        let (app, cohort) = (&app, &cohort);
        async move {
            let session = app.session(&cohort.pair, &cohort.mentor.token, -hours_ago).await;
            app.ok(
                &format!("/v1/sessions/{session}/complete"),
                &cohort.mentee.token,
                json!({}),
                200,
            )
            .await;
            let (_, pending) = app
                .call(
                    Method::GET,
                    "/v1/survey-requests?state=pending",
                    &cohort.mentor.token,
                    None,
                )
                .await;
            let request = &pending["data"][0];
            assert_eq!(request["questions"][0]["id"], "role_reversion_talking", "{pending}");
            app.ok(
                &format!("/v1/survey-requests/{}/response", request["id"].as_str().unwrap()),
                &cohort.mentor.token,
                json!({"answers": [{"question_id": "role_reversion_talking", "value": talking},
                                   {"question_id": "role_reversion_on_topic", "value": "Partly"}]}),
                201,
            )
            .await;
        }
    };

    hold_and_answer(72, "My mentee").await;
    let c = commitment(cohort.manager.token.clone()).await;
    assert_eq!(c["role_reversion_in_a_row"], 1);
    assert_eq!(c["at_risk"], false, "once is not a pattern: {c}");

    hold_and_answer(48, "My mentee").await;
    let c = commitment(cohort.manager.token.clone()).await;
    assert_eq!(c["role_reversion_in_a_row"], 2);
    assert_eq!(c["at_risk"], true);
    assert_eq!(c["risk_reasons"], json!(["role_reversion"]));
    let at_risk: Value = app
        .get(
            &format!("/v1/programmes/{}/pairs?at_risk=true", cohort.programme),
            &cohort.manager.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        at_risk["data"][0]["id"],
        cohort.pair.as_str(),
        "the SQL filter agrees: {at_risk}"
    );
    // The mentee is never asked, and sees the reason, not the answers.
    let (_, asked) = app
        .call(Method::GET, "/v1/survey-requests", &cohort.mentee.token, None)
        .await;
    assert_eq!(asked["data"], json!([]));
    // `pair.at_risk` goes out, with the reason.
    let mut announced = None;
    for _ in 0..100 {
        announced = app
            .events(&cohort.org.token)
            .await
            .into_iter()
            .find(|e| e["type"] == "pair.at_risk");
        if announced.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let announced = announced.expect("a pair.at_risk event");
    assert_eq!(
        announced["data"]["commitment"]["risk_reasons"],
        json!(["role_reversion"])
    );

    // A pulse that says otherwise ends the episode.
    hold_and_answer(24, "About even").await;
    let c = commitment(cohort.mentor.token.clone()).await;
    assert_eq!(c["role_reversion_in_a_row"], 0);
    assert_eq!(c["at_risk"], false);
}

async fn the_change_in_the_leaders_pairs_baseline_and_follow_up_answers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.min_group_size = 3;
        c.survey_scoring_interval_ms = 100;
    })
    .await;
    let org = app.org("Acme").await;
    let (manager, programme) = managed_programme(&app, &org).await;
    // The programme also scores its surveys with a plugin, which is given the pairs of answers.
    let manifest = json!({"name": "weighted-survey-scorer", "version": "0.1.0", "kind": "survey_scorer"});
    crate::plugins::ready_with_manifest(&app, &org.token, &manifest, "weighted_survey_scorer").await;
    app.ok_with(
        Method::PATCH,
        &format!("/v1/programmes/{programme}"),
        &org.token,
        json!({"survey_scorer": "weighted-survey-scorer@0.1.0"}),
        200,
    )
    .await;
    let surveys = format!("/v1/programmes/{programme}/surveys");
    let likert = |id: &str| json!({"id": id, "kind": "likert", "prompt": format!("{id}?")});
    let baseline = app
        .ok(
            &surveys,
            &manager.token,
            json!({"title": "Before", "milestone": "start", "measure": "baseline",
                   "questions": [likert("confidence"), likert("before_only")]}),
            201,
        )
        .await;
    assert_eq!(baseline["measure"], "baseline");
    let follow_up = app
        .ok(
            &surveys,
            &manager.token,
            json!({"title": "After", "milestone": "end", "measure": "follow_up",
                   "questions": [likert("confidence"), likert("after_only")]}),
            201,
        )
        .await;
    let mismatch = app
        .post(
            &surveys,
            &manager.token,
            &json!({"title": "Wrong", "milestone": "end", "measure": "baseline", "questions": [likert("x")]}),
        )
        .await;
    let problem = assert_problem(mismatch, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "milestone_mismatch");

    // Three pairs; each side answers the baseline as the pair starts. Mentees 2, 2, 1 then 3, 4, 3; mentors 4, 4, 5
    // then 4, 5, 5. scipy: mentees +1.67 (0.23 to 3.10), mentors +0.33 (−1.10 to 1.77).
    let scores = [((4, 2), (4, 3)), ((4, 2), (5, 4)), ((5, 1), (5, 3))];
    let people: Vec<(Person, Person)> = pairs_started_now(&app, &org, &programme, &manager, 3)
        .await
        .into_iter()
        .map(|(_, mentor, mentee)| (mentor, mentee))
        .collect();
    let answer_pending = |who: Person, value: i64| {
        let app = &app;
        async move {
            let (_, pending) = app
                .call(Method::GET, "/v1/survey-requests?state=pending", &who.token, None)
                .await;
            let request = &pending["data"][0];
            let answers: Vec<Value> = request["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| json!({"question_id": q["id"], "value": value}))
                .collect();
            app.ok(
                &format!("/v1/survey-requests/{}/response", request["id"].as_str().unwrap()),
                &who.token,
                json!({"answers": answers}),
                201,
            )
            .await;
        }
    };
    for ((mentor, mentee), ((mentor_before, mentee_before), _)) in people.iter().zip(scores) {
        answer_pending(mentor.clone(), mentor_before).await;
        answer_pending(mentee.clone(), mentee_before).await;
    }
    for to in ["matching", "active", "completed"] {
        app.ok(
            &format!("/v1/programmes/{programme}/transitions"),
            &org.token,
            json!({"to": to}),
            200,
        )
        .await;
    }
    for ((mentor, mentee), (_, (mentor_after, mentee_after))) in people.iter().zip(scores) {
        answer_pending(mentor.clone(), mentor_after).await;
        answer_pending(mentee.clone(), mentee_after).await;
    }

    let report = app
        .ok_with(
            Method::GET,
            &format!("/v1/programmes/{programme}/outcomes/change"),
            &manager.token,
            json!(null),
            200,
        )
        .await;
    let questions = report["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 1, "only the question both ask: {report}");
    let q = &questions[0];
    assert_eq!(q["question_id"], "confidence");
    let e = &q["mentees"];
    assert_eq!(e["people"], 3);
    close(&e["baseline_mean"], 1.67);
    close(&e["follow_up_mean"], 3.33);
    close(&e["mean_change"], 1.67);
    close(&e["confidence_interval"]["low"], 0.23);
    close(&e["confidence_interval"]["high"], 3.10);
    let m = &q["mentors"];
    close(&m["mean_change"], 0.33);
    close(&m["confidence_interval"]["low"], -1.10);
    close(&m["confidence_interval"]["high"], 1.77);

    // The scorer plugin saw each follow-up answer beside the same person's baseline answer: the six changes
    // (mentees 1, 2, 2; mentors 0, 1, 0) average 1.0. Its composite stays the follow-up's own (scaled 50, 75, 50,
    // 75, 100, 100 → 75), and nothing is scored for the question only the baseline asked.
    let scores_path = format!(
        "/v1/programmes/{programme}/surveys/{}/scores",
        follow_up["id"].as_str().unwrap()
    );
    let mut plugin = Value::Null;
    for _ in 0..300 {
        let (_, scores) = app.call(Method::GET, &scores_path, &manager.token, None).await;
        plugin = scores["plugin"].clone();
        if plugin["state"] == "fresh" && plugin["responses"] == 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(plugin["state"], "fresh", "{plugin}");
    let named = |name: &str| {
        plugin["scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(named("change.confidence")["value"], 1.0, "{plugin}");
    assert_eq!(named("change.confidence")["answers"], 6);
    assert_eq!(named("composite")["value"], 75.0);
    assert_eq!(named("change.after_only"), Value::Null, "no baseline for it: {plugin}");
    assert_eq!(named("change.before_only"), Value::Null);
}

/// Renders `html` in headless Chromium (Debian's `chromium`): returns the screenshot and the console's complaints.
fn render(html: &str, name: &str) -> (Vec<u8>, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("upward-report-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join(format!("{name}.html"));
    let shot = dir.join(format!("{name}.png"));
    std::fs::write(&page, html).unwrap();
    let output = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg("--window-size=1000,2400")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs (apt-get install chromium)");
    let log = String::from_utf8_lossy(&output.stderr);
    let complaints = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Refused to") || l.contains("Content Security Policy"))
        .map(str::to_string)
        .collect();
    let png = std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot; chromium said: {log}"));
    std::fs::remove_dir_all(&dir).ok();
    (png, complaints)
}

async fn the_board_report_comes_as_json_csv_and_a_page_that_renders_in_a_browser(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.min_group_size = 2).await;
    let cohort = app.cohort().await;
    app.ok(
        &format!("/v1/programmes/{}/surveys", cohort.programme),
        &cohort.manager.token,
        json!({"title": "After the session", "milestone": "after_each_session",
               "questions": [{"id": "recommend", "kind": "nps", "prompt": "Would you recommend <the programme>?"}]}),
        201,
    )
    .await;
    // Two sessions held (both sides answer 10 and 9), one cancelled late by the mentee.
    for hours in [-72, -48] {
        let s = app.session(&cohort.pair, &cohort.mentor.token, hours).await;
        app.ok(
            &format!("/v1/sessions/{s}/complete"),
            &cohort.mentee.token,
            json!({}),
            200,
        )
        .await;
        for (who, score) in [(&cohort.mentor, 10), (&cohort.mentee, 9)] {
            let (_, pending) = app
                .call(Method::GET, "/v1/survey-requests?state=pending", &who.token, None)
                .await;
            app.ok(
                &format!(
                    "/v1/survey-requests/{}/response",
                    pending["data"][0]["id"].as_str().unwrap()
                ),
                &who.token,
                json!({"answers": [{"question_id": "recommend", "value": score}]}),
                201,
            )
            .await;
        }
    }
    let late = app.session(&cohort.pair, &cohort.mentor.token, 5).await;
    app.ok(
        &format!("/v1/sessions/{late}/cancel"),
        &cohort.mentee.token,
        json!({"reason": "Board"}),
        200,
    )
    .await;
    let path = format!("/v1/programmes/{}/report", cohort.programme);
    let get = |accept: &'static str, query: &'static str| {
        let (app, path, token) = (&app, path.clone(), cohort.manager.token.clone());
        async move {
            app.request(Method::GET, &format!("{path}{query}"), &token)
                .header("Accept", accept)
                .send()
                .await
                .unwrap()
        }
    };

    let json: Value = get("application/json", "").await.json().await.unwrap();
    assert_eq!(json["programme"]["id"], cohort.programme.as_str());
    assert_eq!(json["health"]["pairs"]["total"], 1);
    assert_eq!(json["health"]["sessions"]["held"], 2);
    assert_eq!(json["health"]["sessions"]["cancelled_late"]["by_mentee"], 1);
    let held: u64 = json["sessions_by_month"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["held"].as_u64().unwrap())
        .sum();
    assert_eq!(held, 2);
    assert_eq!(json["would_recommend"]["points"][0]["would_recommend_share"], 100.0);
    assert_eq!(json["retention"]["mentors"]["horizons"][0]["reached"], false);

    let csv = get("text/csv", "?section=cancellations").await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0], ["timing", "by_mentor", "by_mentee", "by_manager", "total"]);
    assert_eq!(rows[2], ["late", "0", "1", "0", "1"]);
    assert_problem(get("text/csv", "").await, 400, "section_required").await;
    assert_problem(get("image/png", "").await, 406, "not_acceptable").await;

    let zipped = get("application/zip", "").await;
    assert_eq!(zipped.headers()["content-type"], "application/zip");
    let bytes = zipped.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = archive.file_names().map(|name| name.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cancellations.csv",
            "change.csv",
            "retention.csv",
            "sessions_by_month.csv",
            "summary.csv",
            "would_recommend.csv"
        ]
    );
    let mut recommend = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("would_recommend.csv").unwrap(), &mut recommend).unwrap();
    // Every answer came after both sessions had been held (they were back-dated): one point, at 2.
    assert_eq!(recommend.lines().nth(1), Some("2,4,false,4,0,0,100,100"), "{recommend}");

    let page = get("text/html", "").await;
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = page.text().await.unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "four charts, and no change chart without a baseline"
    );
    assert!(html.contains("No question is asked in both a baseline and a follow-up survey yet."));
    let (png, complaints) = render(&html, "board-report");
    assert!(complaints.is_empty(), "the console complained: {complaints:?}");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot ({} bytes)",
        png.len()
    );
    // Kept for people to look at (CI keeps the target directory).
    let artefacts = std::path::Path::new(&std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "../target".into()))
        .join("test-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    std::fs::write(
        artefacts.join(format!(
            "board-report-{}.png",
            if app.database.url.starts_with("postgres") {
                "postgres"
            } else {
                "sqlite"
            }
        )),
        &png,
    )
    .unwrap();
    // The check can fail: the same page with an external image is refused by its policy, and the console says so.
    let leaky = html.replacen("<h1>", "<img src=\"https://example.invalid/logo.png\" alt=\"\"><h1>", 1);
    let (_, complaints) = render(&leaky, "leaky");
    assert!(!complaints.is_empty(), "an external asset should have been refused");
}
