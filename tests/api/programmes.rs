//! A programme's life through the API: from draft to completed, with its guards, its pairing rules, its sessions,
//! surveys, learnings and health.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    a_programme_walks_from_draft_to_completed,
    each_pairing_rule_is_refused_by_name,
    illegal_transitions_are_refused_with_the_allowed_states,
    changed_ground_rules_must_be_agreed_again,
    cancellations_by_the_mentee_put_a_pair_at_risk,
    survey_answers_are_validated_and_given_once,
    withdrawing_dissolves_the_open_pairs,
    a_leavers_pairs_pause_and_wait_for_their_return,
    the_remaining_pairing_rules_are_refused_by_name,
    a_retried_creation_with_the_same_idempotency_key_creates_once,
);

async fn a_programme_walks_from_draft_to_completed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let maya = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    let manager = app.manager_token(&acme.token, &maya.id).await;
    let mo = app.person_in(&acme, "mo@acme.test", 2, "Engineering").await;
    let erin = app.person_in(&acme, "erin@acme.test", 9, "Finance").await;

    // The admin sets the programme up; it starts as a draft with default ground rules filled in.
    let programme = app
        .ok(
            "/v1/programmes",
            &acme.token,
            json!({
                "name": "Digital fluency 2027",
                "goals": ["digital fluency", "inclusive leadership"],
                "topics": ["AI tools", "social media"],
                "ground_rules": {"off_limit_topics": ["salaries"], "target_sessions": 2},
                "starts_on": "2026-11-01",
                "ends_on": "2027-06-30",
                "managers": [maya.id],
                "matching": {"min_level_gap": 3, "cross_department": "required"}
            }),
            201,
        )
        .await;
    assert_eq!(programme["state"], "draft");
    assert_eq!(programme["allowed_transitions"], json!(["enrolling", "archived"]));
    assert_eq!(programme["ground_rules"]["meeting_cadence_days"], 14);
    assert_eq!(programme["ground_rules_version"], 1);
    let id = programme["id"].as_str().unwrap().to_string();

    // The manager opens enrolment; the junior and the senior enrol themselves.
    let opened = app
        .ok(
            &format!("/v1/programmes/{id}/transitions"),
            &manager,
            json!({"to": "enrolling"}),
            200,
        )
        .await;
    assert_eq!(opened["state"], "enrolling");
    let enrolment = app
        .ok(
            &format!("/v1/programmes/{id}/enrolments"),
            &mo.token,
            json!({"role": "mentor", "topics": ["ai TOOLS"], "goals": "Share how I work with AI"}),
            201,
        )
        .await;
    assert_eq!(
        enrolment["topics"],
        json!(["AI tools"]),
        "topics take the catalogue's spelling"
    );
    assert_eq!(enrolment["participant_id"], mo.id.as_str());
    app.enrol(&id, &erin, "mentee").await;
    app.ok(
        &format!("/v1/programmes/{id}/transitions"),
        &manager,
        json!({"to": "matching"}),
        200,
    )
    .await;

    // The manager pairs them; both agree to the ground rules; the pair becomes active.
    let pair = app
        .ok(
            &format!("/v1/programmes/{id}/pairs"),
            &manager,
            json!({"mentor_id": mo.id, "mentee_id": erin.id}),
            201,
        )
        .await;
    assert_eq!(pair["state"], "proposed");
    assert_eq!(pair["awaiting_agreement_from"], json!(["mentor", "mentee"]));
    let pair_id = pair["id"].as_str().unwrap().to_string();
    let half = app
        .ok(
            &format!("/v1/pairs/{pair_id}/agreement"),
            &mo.token,
            json!({"ground_rules_version": 1}),
            200,
        )
        .await;
    assert_eq!(half["state"], "proposed");
    assert_eq!(half["awaiting_agreement_from"], json!(["mentee"]));
    let active = app
        .ok(&format!("/v1/pairs/{pair_id}/agreement"), &erin.token, json!({}), 200)
        .await;
    assert_eq!(active["state"], "active");
    assert!(active["activated_at"].is_string());
    assert_eq!(active["agreements"].as_array().unwrap().len(), 2);
    app.ok(
        &format!("/v1/programmes/{id}/transitions"),
        &manager,
        json!({"to": "active"}),
        200,
    )
    .await;

    // Surveys: one after each session, one at the end.
    app.ok(
        &format!("/v1/programmes/{id}/surveys"),
        &manager,
        json!({"title": "After the session", "milestone": "after_each_session", "audience": "mentees",
               "questions": [{"id": "useful", "kind": "likert", "prompt": "The session was useful."}]}),
        201,
    )
    .await;
    let end_survey = app
        .ok(
            &format!("/v1/programmes/{id}/surveys"),
            &manager,
            json!({"title": "End of programme", "milestone": "end",
                   "questions": [{"id": "recommend", "kind": "nps", "prompt": "Would you recommend the programme?"},
                                 {"id": "story", "kind": "text", "prompt": "What will you remember?", "required": false}]}),
            201,
        )
        .await;

    // Two sessions held; one cancelled late by the mentee. The agenda refuses off-limit topics.
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let refused = app
        .post(
            &format!("/v1/pairs/{pair_id}/sessions"),
            &mo.token,
            &json!({"starts_at": starts_at, "mode": "video", "agenda": ["AI tools", "Salaries"]}),
        )
        .await;
    let problem = assert_problem(refused, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "agenda[1]");
    assert_eq!(problem["errors"][0]["code"], "off_limit_topic");

    for hours in [-48, -2] {
        let session = app.session(&pair_id, &mo.token, hours).await;
        let done = app
            .ok(
                &format!("/v1/sessions/{session}/complete"),
                &erin.token,
                json!({"actual_duration_minutes": 50, "topics_discussed": ["AI tools"]}),
                200,
            )
            .await;
        assert_eq!(done["state"], "completed");
    }
    let late = app.session(&pair_id, &mo.token, 5).await;
    let cancelled = app
        .ok(
            &format!("/v1/sessions/{late}/cancel"),
            &erin.token,
            json!({"reason": "Board meeting"}),
            200,
        )
        .await;
    assert_eq!(cancelled["cancellation"]["cancelled_by"], "mentee");
    assert_eq!(cancelled["cancellation"]["late"], true);

    let pair = app
        .get(&format!("/v1/pairs/{pair_id}"), &manager)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let c = &pair["commitment"];
    assert_eq!(c["sessions_held"], 2);
    assert_eq!(c["target_reached"], true);
    assert_eq!(c["cancellations"]["by_mentee"], 1);
    assert_eq!(c["cancellations"]["late"], 1);
    assert_eq!(c["mentee_cancellations_in_a_row"], 1);
    assert_eq!(c["at_risk"], false, "{c}");

    // The mentee answers their after-session surveys (mentees only), records a learning and publishes it.
    let (_, requests) = app.call(Method::GET, "/v1/survey-requests", &erin.token, None).await;
    let requests = requests["data"].as_array().unwrap().clone();
    assert_eq!(requests.len(), 2, "one per held session");
    for (i, r) in requests.iter().enumerate() {
        app.ok(
            &format!("/v1/survey-requests/{}/response", r["id"].as_str().unwrap()),
            &erin.token,
            json!({"answers": [{"question_id": "useful", "value": 4 + i}]}),
            201,
        )
        .await;
    }
    let (_, mentor_requests) = app.call(Method::GET, "/v1/survey-requests", &mo.token, None).await;
    assert_eq!(mentor_requests["data"], json!([]), "the audience was mentees only");
    let learning = app
        .ok(
            &format!("/v1/pairs/{pair_id}/learnings"),
            &erin.token,
            json!({"text": "Graduates expect weekly feedback.", "actions": [{"description": "Fortnightly 1:1s"}]}),
            201,
        )
        .await;
    assert_eq!(learning["actions"][0]["status"], "planned");
    let learning_id = learning["id"].as_str().unwrap();
    app.ok(
        &format!("/v1/learnings/{learning_id}/publish"),
        &erin.token,
        json!({"title": "Feedback, weekly"}),
        200,
    )
    .await;
    app.ok(
        &format!("/v1/learnings/{learning_id}/consent"),
        &mo.token,
        json!(null),
        200,
    )
    .await;
    let (_, stories) = app
        .call(Method::GET, &format!("/v1/programmes/{id}/stories"), &mo.token, None)
        .await;
    assert_eq!(stories["data"][0]["title"], "Feedback, weekly");

    // The programme completes: the pair completes with it and the end survey goes to both sides.
    let completed = app
        .ok(
            &format!("/v1/programmes/{id}/transitions"),
            &acme.token,
            json!({"to": "completed"}),
            200,
        )
        .await;
    assert_eq!(completed["state"], "completed");
    let pair = app
        .get(&format!("/v1/pairs/{pair_id}"), &manager)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(pair["state"], "completed");
    let end_id = end_survey["id"].as_str().unwrap();
    for (who, score) in [(&erin, 10), (&mo, 9)] {
        let (_, pending) = app
            .call(Method::GET, "/v1/survey-requests?state=pending", &who.token, None)
            .await;
        let request = pending["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["survey_id"] == end_id)
            .expect("an end-of-programme request")
            .clone();
        app.ok(
            &format!("/v1/survey-requests/{}/response", request["id"].as_str().unwrap()),
            &who.token,
            json!({"answers": [{"question_id": "recommend", "value": score}]}),
            201,
        )
        .await;
    }

    // The health of the programme, from aggregates.
    let (status, metrics) = app
        .call(Method::GET, &format!("/v1/programmes/{id}/metrics"), &manager, None)
        .await;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(metrics["pairs"]["total"], 1);
    assert_eq!(metrics["pairs"]["completed"], 1);
    assert_eq!(metrics["pairs"]["reached_target"], 1);
    assert_eq!(metrics["pairs"]["reached_target_share"], 100.0);
    assert_eq!(metrics["sessions"]["held"], 2);
    assert_eq!(metrics["sessions"]["cancelled_late"]["by_mentee"], 1);
    assert_eq!(metrics["sessions"]["cancelled_on_time"]["total"], 0);
    assert_eq!(metrics["surveys"]["requests"], 4);
    assert_eq!(metrics["surveys"]["responses"], 4);
    assert_eq!(metrics["surveys"]["response_rate"], 100.0);
    assert_eq!(metrics["surveys"]["nps"], 100.0);
    assert_eq!(metrics["surveys"]["would_recommend_share"], 100.0);
    assert_eq!(metrics["surveys"]["likert_means"][0]["mean"], 4.5);
    let (_, scores) = app
        .call(
            Method::GET,
            &format!("/v1/programmes/{id}/surveys/{end_id}/scores"),
            &manager,
            None,
        )
        .await;
    assert_eq!(scores["scorer"], "builtin");
    assert_eq!(scores["responses"], 2);
    assert_eq!(scores["scores"][0]["name"], "nps.recommend");
    assert_eq!(scores["scores"][0]["value"], 100.0);

    // Every step left its event, in order.
    let types: Vec<String> = app
        .events(&acme.token)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .filter(|t| !t.starts_with("participant."))
        .collect();
    for expected in [
        "programme.created",
        "programme.state_changed",
        "enrolment.created",
        "pair.proposed",
        "pair.agreement_recorded",
        "pair.activated",
        "session.scheduled",
        "session.completed",
        "survey.requested",
        "session.cancelled",
        "survey.response_submitted",
        "learning.published",
        "pair.completed",
    ] {
        assert!(types.contains(&expected.to_string()), "{expected} in {types:?}");
    }
    assert_eq!(types.iter().filter(|t| *t == "pair.activated").count(), 1);
    let position = |t: &str| types.iter().position(|x| x == t).unwrap();
    assert!(position("pair.proposed") < position("pair.activated"));
    assert!(position("pair.activated") < position("session.scheduled"));
}

async fn each_pairing_rule_is_refused_by_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    let maya = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    // A reporting line: ceo ← director ← lead ← junior.
    let ceo = app.person_in(&acme, "ceo@acme.test", 10, "Board").await;
    let director = app
        .participant(&admin, json!({"email": "dir@acme.test", "display_name": "Dir", "level": 8, "department": "Sales", "manager_id": ceo.id}))
        .await;
    let lead = app
        .participant(&admin, json!({"email": "lead@acme.test", "display_name": "Lead", "level": 5, "department": "Sales", "manager_id": director["id"]}))
        .await;
    let junior = app
        .participant(&admin, json!({"email": "jun@acme.test", "display_name": "Jun", "level": 1, "department": "Sales", "manager_id": lead["id"]}))
        .await;
    let junior_id = junior["id"].as_str().unwrap().to_string();
    let peer = app.person_in(&acme, "peer@acme.test", 9, "Sales").await;
    let near = app.person_in(&acme, "near@acme.test", 8, "Legal").await;
    let outsider = app.person_in(&acme, "out@acme.test", 1, "Ops").await;
    let close = app.person_in(&acme, "close@acme.test", 3, "Legal").await;
    let programme = app
        .enrolling_programme(
            &acme,
            &maya,
            json!({"matching": {"min_level_gap": 3, "cross_department": "required"}}),
        )
        .await;
    let enrol = |id: String, role: &'static str| {
        let app = &app;
        let programme = programme.clone();
        let admin = admin.clone();
        async move {
            app.ok(
                &format!("/v1/programmes/{programme}/enrolments"),
                &admin,
                json!({"participant_id": id, "role": role}),
                201,
            )
            .await
        }
    };
    enrol(junior_id.clone(), "mentor").await;
    enrol(ceo.id.clone(), "mentee").await;
    enrol(peer.id.clone(), "mentee").await;
    enrol(near.id.clone(), "mentee").await;
    enrol(outsider.id.clone(), "mentee").await;
    enrol(close.id.clone(), "mentee").await;

    let propose = |mentor: &str, mentee: &str| {
        let body = json!({"mentor_id": mentor, "mentee_id": mentee});
        let app = &app;
        let path = format!("/v1/programmes/{programme}/pairs");
        let admin = admin.clone();
        async move { app.post(&path, &admin, &body).await }
    };
    let codes = |problem: &Value| -> Vec<String> {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap().to_string())
            .collect()
    };

    // The CEO is three levels up the junior's reporting line.
    let p = assert_problem(propose(&junior_id, &ceo.id).await, 422, "rule_violated").await;
    assert_eq!(codes(&p), ["mentor_reports_to_mentee"]);
    // Same department, required to differ.
    let p = assert_problem(propose(&junior_id, &peer.id).await, 422, "rule_violated").await;
    assert_eq!(codes(&p), ["same_department"]);
    // Every broken rule is named: enrolled in the other role, and only two levels junior.
    let p = assert_problem(propose(&outsider.id, &close.id).await, 422, "rule_violated").await;
    assert_eq!(codes(&p), ["wrong_role", "insufficient_level_gap"].map(String::from));
    // Not enrolled at all.
    let stranger = app.person_in(&acme, "stranger@acme.test", 0, "Ops").await;
    let p = assert_problem(propose(&stranger.id, &near.id).await, 422, "rule_violated").await;
    assert_eq!(codes(&p), ["not_enrolled"]);
    // The mentee's level must exceed the mentor's by the gap: near (8) is 7 above junior (1): fine.
    let ok = propose(&junior_id, &near.id).await;
    assert_eq!(ok.status(), 201);
    // Capacity 1 is now used.
    let p = assert_problem(propose(&junior_id, &outsider.id).await, 422, "rule_violated").await;
    assert!(codes(&p).contains(&"mentor_at_capacity".to_string()), "{p}");
    // Unknown ids are field errors.
    let missing = uuid::Uuid::now_v7().to_string();
    let p = assert_problem(propose(&missing, &near.id).await, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "mentor_id");
}

async fn illegal_transitions_are_refused_with_the_allowed_states(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let draft = app
        .ok(
            "/v1/programmes",
            &acme.token,
            json!({"name": "Empty", "starts_on": "2027-01-01", "ends_on": "2027-02-01"}),
            201,
        )
        .await;
    let id = draft["id"].as_str().unwrap();
    let path = format!("/v1/programmes/{id}/transitions");
    let p = assert_problem(
        app.post(&path, &acme.token, &json!({"to": "active"})).await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(p["allowed"], json!(["enrolling", "archived"]));
    // Guards: no topics, then no enrolments, then no active pair.
    assert_problem(
        app.post(&path, &acme.token, &json!({"to": "enrolling"})).await,
        409,
        "no_topics",
    )
    .await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/programmes/{id}"),
            &acme.token,
            Some(&json!({"topics": ["AI tools"]})),
        )
        .await;
    assert_eq!(status, 200);
    app.ok(&path, &acme.token, json!({"to": "enrolling"}), 200).await;
    assert_problem(
        app.post(&path, &acme.token, &json!({"to": "matching"})).await,
        409,
        "not_enough_enrolments",
    )
    .await;
    // Unknown state names are schema errors.
    assert_problem(
        app.post(&path, &acme.token, &json!({"to": "paused"})).await,
        422,
        "invalid_body",
    )
    .await;
    // Bad settings are refused with every field.
    let p = assert_problem(
        app.post(
            "/v1/programmes",
            &acme.token,
            &json!({"name": " ", "starts_on": "2027-02-01", "ends_on": "2027-01-01",
                    "ground_rules": {"target_sessions": 0}, "matching": {"min_level_gap": -1}}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "name",
        "ground_rules.target_sessions",
        "ends_on",
        "matching.min_level_gap",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }

    // Pairs and sessions have their machines too.
    let cohort = app.cohort().await;
    let pair_path = format!("/v1/pairs/{}/transitions", cohort.pair);
    let token = &cohort.manager.token;
    let p = assert_problem(
        app.post(&pair_path, token, &json!({"to": "dissolved"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "reason");
    app.ok(
        &pair_path,
        token,
        json!({"to": "paused", "reason": "Parental leave"}),
        200,
    )
    .await;
    let p = assert_problem(
        app.post(&pair_path, token, &json!({"to": "completed"})).await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(p["allowed"], json!(["active", "dissolved"]));
    let s = app
        .post(
            &format!("/v1/pairs/{}/sessions", cohort.pair),
            &cohort.mentor.token,
            &json!({"starts_at": "2027-01-05T09:00:00+01:00", "mode": "video"}),
        )
        .await;
    assert_problem(s, 409, "pair_not_active").await;
    app.ok(&pair_path, token, json!({"to": "active"}), 200).await;
    let session = app.session(&cohort.pair, &cohort.mentor.token, -1).await;
    app.ok(
        &format!("/v1/sessions/{session}/complete"),
        &cohort.mentor.token,
        json!({}),
        200,
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/sessions/{session}/cancel"),
            &cohort.mentor.token,
            &json!({"reason": "oops"}),
        )
        .await,
        409,
        "illegal_transition",
    )
    .await;
    // A session cannot be completed before it happens, nor a no-show recorded.
    let future = app.session(&cohort.pair, &cohort.mentor.token, 72).await;
    assert_problem(
        app.post(
            &format!("/v1/sessions/{future}/complete"),
            &cohort.mentor.token,
            &json!({}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    // Participants cannot move pairs; they may not cancel for the other side.
    assert_problem(
        app.post(&pair_path, &cohort.mentor.token, &json!({"to": "paused"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/sessions/{future}/cancel"),
            &cohort.mentor.token,
            &json!({"reason": "x", "cancelled_by": "mentee"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // A closed programme is read-only.
    let programme_path = format!("/v1/programmes/{}/transitions", cohort.programme);
    app.ok(&programme_path, &cohort.org.token, json!({"to": "matching"}), 200)
        .await;
    app.ok(&programme_path, &cohort.org.token, json!({"to": "active"}), 200)
        .await;
    app.ok(&programme_path, &cohort.org.token, json!({"to": "completed"}), 200)
        .await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/programmes/{}", cohort.programme),
            token,
            Some(&json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("programme_closed")));
}

async fn changed_ground_rules_must_be_agreed_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let programme_path = format!("/v1/programmes/{}", cohort.programme);
    let (status, programme) = app
        .call(
            Method::PATCH,
            &programme_path,
            &cohort.manager.token,
            Some(&json!({"ground_rules": {"off_limit_topics": ["salaries", "reorganisations"], "target_sessions": 6}})),
        )
        .await;
    assert_eq!(status, 200, "{programme}");
    assert_eq!(programme["ground_rules_version"], 2);
    let pair: Value = app
        .get(&format!("/v1/pairs/{}", cohort.pair), &cohort.mentor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pair["state"], "active");
    assert_eq!(pair["awaiting_agreement_from"], json!(["mentor", "mentee"]));
    let s = app
        .post(
            &format!("/v1/pairs/{}/sessions", cohort.pair),
            &cohort.mentor.token,
            &json!({"starts_at": "2027-01-05T09:00:00+01:00", "mode": "phone"}),
        )
        .await;
    assert_problem(s, 409, "ground_rules_not_agreed").await;
    // Agreeing to the version read before the change is refused.
    let stale = app
        .post(
            &format!("/v1/pairs/{}/agreement", cohort.pair),
            &cohort.mentor.token,
            &json!({"ground_rules_version": 1}),
        )
        .await;
    assert_problem(stale, 409, "ground_rules_changed").await;
    app.ok(
        &format!("/v1/pairs/{}/agreement", cohort.pair),
        &cohort.mentor.token,
        json!({"ground_rules_version": 2}),
        200,
    )
    .await;
    // An admin records the mentee's agreement on their behalf.
    let agreed = app
        .ok(
            &format!("/v1/pairs/{}/agreement", cohort.pair),
            &cohort.org.token,
            json!({"side": "mentee"}),
            200,
        )
        .await;
    assert_eq!(agreed["awaiting_agreement_from"], json!([]));
    assert_eq!(agreed["agreements"][3]["recorded_by_admin"], true);
    app.session(&cohort.pair, &cohort.mentor.token, 30).await;
    let types: Vec<Value> = app
        .events(&cohort.org.token)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(types.contains(&json!("programme.ground_rules_changed")));
    assert_eq!(
        types.iter().filter(|t| **t == json!("pair.activated")).count(),
        1,
        "re-agreeing does not re-activate"
    );
}

async fn cancellations_by_the_mentee_put_a_pair_at_risk(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let held = app.session(&cohort.pair, &cohort.mentor.token, -24).await;
    app.ok(
        &format!("/v1/sessions/{held}/complete"),
        &cohort.mentee.token,
        json!({}),
        200,
    )
    .await;
    for days in [10, 20] {
        let s = app.session(&cohort.pair, &cohort.mentor.token, days * 24).await;
        app.ok(
            &format!("/v1/sessions/{s}/cancel"),
            &cohort.mentee.token,
            json!({"reason": "Travelling"}),
            200,
        )
        .await;
    }
    let pair: Value = app
        .get(&format!("/v1/pairs/{}", cohort.pair), &cohort.manager.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pair["commitment"]["mentee_cancellations_in_a_row"], 2);
    assert_eq!(pair["commitment"]["cancellations"]["late"], 0);
    assert_eq!(pair["commitment"]["at_risk"], true);
    assert_eq!(pair["commitment"]["risk_reasons"], json!(["mentee_cancellations"]));
    let list = |filter: &'static str| {
        let app = &app;
        let path = format!("/v1/programmes/{}/pairs?at_risk={filter}", cohort.programme);
        let token = cohort.manager.token.clone();
        async move { app.get(&path, &token).await.json::<Value>().await.unwrap() }
    };
    assert_eq!(list("true").await["data"][0]["id"], cohort.pair.as_str());
    assert_eq!(list("false").await["data"], json!([]));
    let metrics: Value = app
        .get(
            &format!("/v1/programmes/{}/metrics", cohort.programme),
            &cohort.manager.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metrics["pairs"]["at_risk"], 1);
    assert_eq!(metrics["sessions"]["cancelled_on_time"]["by_mentee"], 2);
    // A session held after the cancellations ends the streak.
    let s = app.session(&cohort.pair, &cohort.mentor.token, -1).await;
    let now = chrono::Utc::now().to_rfc3339();
    app.ok(
        &format!("/v1/sessions/{s}/complete"),
        &cohort.mentor.token,
        json!({"held_at": now}),
        200,
    )
    .await;
    let pair: Value = app
        .get(&format!("/v1/pairs/{}", cohort.pair), &cohort.manager.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pair["commitment"]["at_risk"], false, "{}", pair["commitment"]);
    assert_eq!(list("true").await["data"], json!([]));
}

async fn survey_answers_are_validated_and_given_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let bad = app
        .post(
            &format!("/v1/programmes/{}/surveys", cohort.programme),
            &cohort.manager.token,
            &json!({"title": "x", "milestone": "after_each_session", "questions": [
                {"id": "a b", "kind": "nps", "prompt": "?"},
                {"id": "c", "kind": "single_choice", "prompt": "?", "options": ["only"]}]}),
        )
        .await;
    let p = assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 2, "{p}");
    app.ok(
        &format!("/v1/programmes/{}/surveys", cohort.programme),
        &cohort.manager.token,
        json!({"title": "Pulse", "milestone": "after_each_session", "questions": [
            {"id": "nps", "kind": "nps", "prompt": "Recommend?"},
            {"id": "format", "kind": "single_choice", "prompt": "Format?", "options": ["video", "in person"]}]}),
        201,
    )
    .await;
    let s = app.session(&cohort.pair, &cohort.mentor.token, -3).await;
    app.ok(
        &format!("/v1/sessions/{s}/complete"),
        &cohort.mentor.token,
        json!({}),
        200,
    )
    .await;
    let (_, requests) = app
        .call(Method::GET, "/v1/survey-requests", &cohort.mentor.token, None)
        .await;
    let request = requests["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(requests["data"][0]["questions"][0]["id"], "nps");
    let path = format!("/v1/survey-requests/{request}/response");
    let p = assert_problem(
        app.post(
            &path,
            &cohort.mentor.token,
            &json!({"answers": [{"question_id": "nps", "value": 11}, {"question_id": "format", "value": "phone"}]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["code"], "out_of_range");
    assert_eq!(p["errors"][1]["code"], "invalid_choice");
    // Another participant cannot see, let alone answer, it.
    assert_problem(
        app.post(&path, &cohort.mentee.token, &json!({"answers": []})).await,
        404,
        "not_found",
    )
    .await;
    let answer = json!({"answers": [{"question_id": "nps", "value": 6}, {"question_id": "format", "value": "video"}]});
    app.ok(&path, &cohort.mentor.token, answer.clone(), 201).await;
    assert_problem(
        app.post(&path, &cohort.mentor.token, &answer).await,
        409,
        "already_answered",
    )
    .await;
    let surveys: Value = app
        .get(
            &format!("/v1/programmes/{}/surveys", cohort.programme),
            &cohort.manager.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let survey = surveys["data"][0]["id"].as_str().unwrap();
    let scores: Value = app
        .get(
            &format!("/v1/programmes/{}/surveys/{survey}/scores", cohort.programme),
            &cohort.manager.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(scores["requests"], 2);
    assert_eq!(scores["responses"], 1);
    let by_name = |n: &str| {
        scores["scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(by_name("nps.nps"), -100.0);
    assert_eq!(by_name("share.format.video"), 100.0);
}

async fn withdrawing_dissolves_the_open_pairs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let future = app.session(&cohort.pair, &cohort.mentor.token, 48).await;
    let (_, enrolments) = app
        .call(
            Method::GET,
            &format!("/v1/programmes/{}/enrolments", cohort.programme),
            &cohort.mentee.token,
            None,
        )
        .await;
    assert_eq!(
        enrolments["data"].as_array().unwrap().len(),
        1,
        "participants see only their own"
    );
    let enrolment = enrolments["data"][0]["id"].as_str().unwrap();
    let withdrawn = app
        .ok(
            &format!("/v1/enrolments/{enrolment}/withdraw"),
            &cohort.mentee.token,
            json!({"reason": "New role"}),
            200,
        )
        .await;
    assert_eq!(withdrawn["state"], "withdrawn");
    let pair: Value = app
        .get(&format!("/v1/pairs/{}", cohort.pair), &cohort.manager.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pair["state"], "dissolved");
    assert_eq!(pair["state_reason"], "enrolment_withdrawn");
    let session: Value = app
        .get(&format!("/v1/sessions/{future}"), &cohort.mentor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["state"], "cancelled");
    assert_eq!(session["cancellation"]["cancelled_by"], "manager");
    // One enrolment per participant per programme.
    let again = app
        .post(
            &format!("/v1/programmes/{}/enrolments", cohort.programme),
            &cohort.mentee.token,
            &json!({"role": "mentee"}),
        )
        .await;
    assert_problem(again, 409, "already_enrolled").await;
}

async fn a_leavers_pairs_pause_and_wait_for_their_return(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let admin = cohort.org.token.clone();
    // A second pair, only proposed: Ana mentors Lee.
    let ana = app.person_in(&cohort.org, "ana@acme.test", 2, "Sales").await;
    let lee = app.person_in(&cohort.org, "lee@acme.test", 8, "People").await;
    app.enrol(&cohort.programme, &ana, "mentor").await;
    app.enrol(&cohort.programme, &lee, "mentee").await;
    let proposed = app
        .ok(
            &format!("/v1/programmes/{}/pairs", cohort.programme),
            &cohort.manager.token,
            json!({"mentor_id": ana.id, "mentee_id": lee.id}),
            201,
        )
        .await;
    let proposed = proposed["id"].as_str().unwrap();

    // Erin, the active pair's mentee, leaves: her pair pauses, and says why.
    let events_before = app.events(&admin).await.len();
    let response = app
        .delete(&format!("/v1/participants/{}", cohort.mentee.id), &admin)
        .await;
    assert_eq!(response.status(), 200);
    let (_, pair) = app
        .call(
            Method::GET,
            &format!("/v1/pairs/{}", cohort.pair),
            &cohort.manager.token,
            None,
        )
        .await;
    assert_eq!(pair["state"], "paused");
    assert_eq!(pair["state_reason"], "participant_left");
    let events = app.events(&admin).await;
    let types: Vec<&str> = events[events_before..]
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["participant.deactivated", "pair.paused"]);

    // It cannot resume without her.
    let resume = json!({"to": "active"});
    let response = app
        .post(
            &format!("/v1/pairs/{}/transitions", cohort.pair),
            &cohort.manager.token,
            &resume,
        )
        .await;
    assert_problem(response, 409, "participant_inactive").await;

    // Lee is deactivated by an update: his pair that had not started is withdrawn (dissolved, with the reason),
    // so Ana is free to be paired again; it takes no agreement.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/participants/{}", lee.id),
            &admin,
            Some(&json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, pair) = app
        .call(Method::GET, &format!("/v1/pairs/{proposed}"), &admin, None)
        .await;
    assert_eq!(pair["state"], "dissolved");
    assert_eq!(pair["state_reason"], "participant_left");
    let response = app
        .post(&format!("/v1/pairs/{proposed}/agreement"), &ana.token, &json!({}))
        .await;
    assert_eq!(response.status(), 409);
    let events = app.events(&admin).await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "pair.dissolved" && e["data"]["id"] == proposed),
        "the withdrawal is announced"
    );

    // Back again: Erin's pair resumes; Lee's withdrawn pair stays dissolved (a new one would be proposed).
    let reactivate = json!({"active": true});
    for who in [&cohort.mentee.id, &lee.id] {
        let path = format!("/v1/participants/{who}");
        let (status, _) = app.call(Method::PATCH, &path, &admin, Some(&reactivate)).await;
        assert_eq!(status, 200);
    }
    let resumed = app
        .ok(
            &format!("/v1/pairs/{}/transitions", cohort.pair),
            &cohort.manager.token,
            resume,
            200,
        )
        .await;
    assert_eq!(resumed["state"], "active");
    let (_, pair) = app
        .call(Method::GET, &format!("/v1/pairs/{proposed}"), &admin, None)
        .await;
    assert_eq!(pair["state"], "dissolved");
}

async fn the_remaining_pairing_rules_are_refused_by_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.cohort().await;
    let admin = &c.org.token;
    let programme = &c.programme;
    let propose = |mentor: String, mentee: String| {
        let app = &app;
        let path = format!("/v1/programmes/{programme}/pairs");
        async move {
            app.post(&path, admin, &json!({"mentor_id": mentor, "mentee_id": mentee}))
                .await
        }
    };
    let codes = |problem: &Value| -> Vec<String> {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap().to_string())
            .collect()
    };
    // The same two again, while their pair is open: the mentee is at capacity and they are already paired.
    let p = assert_problem(
        propose(c.mentor.id.clone(), c.mentee.id.clone()).await,
        422,
        "rule_violated",
    )
    .await;
    assert_eq!(
        codes(&p),
        ["mentor_at_capacity", "mentee_at_capacity", "already_paired"].map(String::from)
    );
    // A participant with no department, where cross-department pairs are required.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/programmes/{programme}"),
            admin,
            Some(&json!({"matching": {"cross_department": "required"}})),
        )
        .await;
    assert_eq!(status, 200);
    let nameless = app.person(admin, "nodept@acme.test", 1).await;
    let nameless_id = nameless["id"].as_str().unwrap().to_string();
    app.ok(
        &format!("/v1/programmes/{programme}/enrolments"),
        admin,
        json!({"participant_id": nameless_id, "role": "mentor"}),
        201,
    )
    .await;
    let senior = app.person_in(&c.org, "senior@acme.test", 9, "Legal").await;
    let enrolment = app.enrol(programme, &senior, "mentee").await;
    let p = assert_problem(
        propose(nameless_id.clone(), senior.id.clone()).await,
        422,
        "rule_violated",
    )
    .await;
    assert_eq!(codes(&p), ["department_unknown"]);
    // A withdrawn mentee, then an inactive mentor.
    app.ok(
        &format!("/v1/enrolments/{}/withdraw", enrolment["id"].as_str().unwrap()),
        &senior.token,
        json!({"reason": "Sabbatical"}),
        200,
    )
    .await;
    assert_eq!(
        app.delete(&format!("/v1/participants/{nameless_id}"), admin)
            .await
            .status(),
        200
    );
    let p = assert_problem(propose(nameless_id, senior.id.clone()).await, 422, "rule_violated").await;
    assert_eq!(
        codes(&p),
        ["participant_inactive", "enrolment_withdrawn", "department_unknown"].map(String::from)
    );
}

async fn a_retried_creation_with_the_same_idempotency_key_creates_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let body = json!({"name": "Retried", "starts_on": "2027-01-01", "ends_on": "2027-06-30"});
    let send = || {
        app.request(Method::POST, "/v1/programmes", &acme.token)
            .header("Idempotency-Key", "create-retried-programme")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let (_, list) = app.call(Method::GET, "/v1/programmes", &acme.token, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let created = app
        .events(&acme.token)
        .await
        .iter()
        .filter(|e| e["type"] == "programme.created")
        .count();
    assert_eq!(created, 1);
}
