//! Special-category data in use: a programme that opts in to matching on a sensitive attribute says why, the audit
//! trail keeps the purpose, and the matcher sees only the named attributes of people who consented; figures broken
//! down by such an attribute hide every group smaller than k, and the group that would give a hidden one away.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, Org, Person, TestApp, assert_problem, built_plugin, on_every_backend};

on_every_backend!(
    a_programme_opts_in_to_matching_on_a_sensitive_attribute_and_says_why,
    figures_by_a_sensitive_attribute_hide_groups_smaller_than_k,
);

const PURPOSE: &str = "Pair first-generation graduates with leaders who were not, at their request";

async fn run(app: &TestApp, programme: &str, token: &str) -> Value {
    let runs = format!("/v1/programmes/{programme}/matching-runs");
    let queued = app.ok(&runs, token, json!({}), 202).await;
    app.wait_for_run(&format!("{runs}/{}", queued["id"].as_str().unwrap()), token)
        .await
}

fn consented(attributes: Value) -> Value {
    json!({"attributes": attributes,
           "consent": {"given_at": chrono::Utc::now().to_rfc3339(), "purpose": "Inclusion in the 2027 programme"}})
}

async fn a_programme_opts_in_to_matching_on_a_sensitive_attribute_and_says_why(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = &acme.token;
    // The hostile matcher's table mode scores a mentor from the `row` it finds in their attributes: row 0 scores,
    // row 1 is not in the table and is vetoed. So whether the matcher saw a sensitive `row` shows in the proposals.
    let plugin = app
        .ready_plugin(
            admin,
            &built_plugin("hostile_matcher"),
            "name=table&version=1.0.0&kind=matcher",
        )
        .await;
    app.ok_with(
        Method::PATCH,
        &format!("/v1/plugins/{}", plugin["id"].as_str().unwrap()),
        admin,
        json!({"config": {"mode": "table", "table": [[1.0]]}}),
        200,
    )
    .await;
    let maya = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    let programme = app
        .enrolling_programme(&acme, &maya, json!({"matching": {"policy": "table@1.0.0"}}))
        .await;
    let mo = app.person_in(&acme, "mo@acme.test", 2, "Engineering").await;
    let erin = app.person_in(&acme, "erin@acme.test", 9, "Finance").await;
    app.enrol(&programme, &mo, "mentor").await;
    app.enrol(&programme, &erin, "mentee").await;
    let sensitive = format!("/v1/participants/{}/sensitive-attributes", mo.id);
    app.ok_with(
        Method::PUT,
        &sensitive,
        &mo.token,
        consented(json!({"row": 1, "disability": "kw-hidden-value"})),
        200,
    )
    .await;

    // Without an opt-in the matcher sees nothing sensitive: Mo is row 0 and paired.
    let before = run(&app, &programme, admin).await;
    assert_eq!(before["state"], "succeeded", "{before}");
    assert_eq!(before["proposals"].as_array().unwrap().len(), 1, "{before}");
    assert!(before["special_category"].is_null());

    // An opt-in names the attributes and must say why.
    let path = format!("/v1/programmes/{programme}");
    let unexplained = app
        .patch(
            &path,
            admin,
            &json!({"matching": {"special_category": {"attributes": ["row"], "purpose": " "}}}),
        )
        .await;
    let problem = assert_problem(unexplained, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "matching.special_category.purpose");
    let opted = app
        .ok_with(
            Method::PATCH,
            &path,
            admin,
            json!({"matching": {"special_category": {"attributes": ["row"], "purpose": PURPOSE}}}),
            200,
        )
        .await;
    assert_eq!(opted["matching"]["special_category"]["attributes"], json!(["row"]));

    // Now the matcher finds `row` (and only it) under `$sensitive`: Mo is row 1, vetoed, unmatched.
    let after = run(&app, &programme, admin).await;
    assert_eq!(after["state"], "succeeded", "{after}");
    assert_eq!(after["proposals"], json!([]), "{after}");
    assert_eq!(after["special_category"]["purpose"], PURPOSE);
    assert!(!after.to_string().contains("kw-hidden-value"));

    // The opt-in and the run that read the attributes are in the audit trail with their purpose.
    let (status, log) = app
        .call(
            Method::GET,
            &format!("/v1/audit-log?resource_id={programme}&limit=100"),
            admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let stated: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["purpose"]
                .as_str()
                .is_some_and(|p| p.contains(PURPOSE) && p.contains("[row]"))
        })
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        stated,
        vec!["PATCH /v1/programmes/{id}", "POST /v1/programmes/{id}/matching-runs"]
    );
    // Nothing sensitive in the events either.
    assert!(
        !Value::from(app.events(admin).await)
            .to_string()
            .contains("kw-hidden-value")
    );

    // Consent withdrawn: the matcher no longer sees it.
    assert_eq!(app.delete(&sensitive, &mo.token).await.status(), 204);
    let withdrawn = run(&app, &programme, admin).await;
    assert_eq!(withdrawn["proposals"].as_array().unwrap().len(), 1, "{withdrawn}");

    // No ordinary attribute can pose as the sensitive ones.
    let posing = app
        .patch(
            &format!("/v1/participants/{}", erin.id),
            admin,
            &json!({"attributes": {"$sensitive": {"row": 1}}}),
        )
        .await;
    let problem = assert_problem(posing, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "reserved");
}

/// Creates a person with the given level and special-category attributes (recorded with consent when not null) and
/// enrols them in the programme in the role.
async fn member(app: &TestApp, org: &Org, programme: &str, n: usize, role: &str, attributes: Value) -> Person {
    let level = if role == "mentor" { 2 } else { 9 };
    let person = app
        .person_in(org, &format!("p{n}@acme.test"), level, &format!("D{n}"))
        .await;
    app.ok(
        &format!("/v1/programmes/{programme}/enrolments"),
        &org.token,
        json!({"participant_id": person.id, "role": role, "topics": ["AI tools"]}),
        201,
    )
    .await;
    if !attributes.is_null() {
        app.ok_with(
            Method::PUT,
            &format!("/v1/participants/{}/sensitive-attributes", person.id),
            &org.token,
            consented(attributes),
            200,
        )
        .await;
    }
    person
}

fn group(breakdown: &Value, value: Value) -> &Value {
    breakdown["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["value"] == value)
        .unwrap_or_else(|| panic!("no group {value} in {breakdown}"))
}

async fn figures_by_a_sensitive_attribute_hide_groups_smaller_than_k(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let maya = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    let maya = Person {
        token: app.manager_token(&acme.token, &maya.id).await,
        ..maya
    };
    let programme = app.enrolling_programme(&acme, &maya, json!({})).await;
    // 13 people: first_generation true for 6, false for 5, not recorded for 2; every one has an age band
    // (7 under 25, 6 from 25).
    let mut people = Vec::new();
    for n in 0..13 {
        let role = if n % 2 == 0 { "mentor" } else { "mentee" };
        let band = if n < 7 { "18-24" } else { "25-34" };
        let attributes = match n {
            0..=5 => json!({"first_generation": true, "age_band": band}),
            6..=10 => json!({"first_generation": false, "age_band": band}),
            _ => json!({"age_band": band}),
        };
        people.push(member(&app, &acme, &programme, n, role, attributes).await);
    }
    // One pair of two first-generation people starts; one first-generation person leaves.
    let pair = app
        .ok(
            &format!("/v1/programmes/{programme}/pairs"),
            &maya.token,
            json!({"mentor_id": people[0].id, "mentee_id": people[1].id}),
            201,
        )
        .await;
    for who in [&people[0], &people[1]] {
        app.ok(
            &format!("/v1/pairs/{}/agreement", pair["id"].as_str().unwrap()),
            &who.token,
            json!({}),
            200,
        )
        .await;
    }
    assert_eq!(
        app.delete(&format!("/v1/participants/{}", people[2].id), &acme.token)
            .await
            .status(),
        200
    );

    let breakdown = |attribute: &'static str, token: String| {
        let app = &app;
        let programme = programme.clone();
        async move {
            let (status, body) = app
                .call(
                    Method::GET,
                    &format!("/v1/programmes/{programme}/metrics/breakdown?attribute={attribute}"),
                    &token,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    // k = 5 by default. The 2 who did not record it are under k; hiding them alone would let anyone subtract the
    // shown groups from the programme's totals, so the next smallest group (false, 5) is hidden with them.
    let by_generation = breakdown("first_generation", acme.token.clone()).await;
    assert_eq!(by_generation["min_group_size"], 5);
    let shown = group(&by_generation, json!("true"));
    assert_eq!(shown["suppressed"], false);
    assert_eq!(
        (
            &shown["participants"],
            &shown["mentors"],
            &shown["mentees"],
            &shown["paired"],
            &shown["left"]
        ),
        (&json!(6), &json!(3), &json!(3), &json!(2), &json!(1))
    );
    for hidden in [json!("false"), Value::Null] {
        let g = group(&by_generation, hidden);
        assert_eq!(g["suppressed"], true, "{by_generation}");
        assert!(g["participants"].is_null() && g["paired"].is_null() && g["left"].is_null());
    }
    assert_eq!(by_generation["groups"].as_array().unwrap().len(), 3);

    // Both age bands are at least k: both shown, and the programme's manager may read them.
    let by_band = breakdown("age_band", maya.token.clone()).await;
    assert_eq!(group(&by_band, json!("18-24"))["participants"], 7);
    assert_eq!(group(&by_band, json!("25-34"))["participants"], 6);
    assert_eq!(group(&by_band, json!("18-24"))["paired"], 2);

    // An attribute nobody recorded is one group of everyone, shown (13 ≥ k); a mentor of the programme may not ask.
    let by_nothing = breakdown("religion", acme.token.clone()).await;
    assert_eq!(group(&by_nothing, Value::Null)["participants"], 13);
    let forbidden = app
        .get(
            &format!("/v1/programmes/{programme}/metrics/breakdown?attribute=age_band"),
            &people[0].token,
        )
        .await;
    assert!(
        [403, 404].contains(&forbidden.status().as_u16()),
        "{}",
        forbidden.status()
    );
    assert_problem(
        app.get(&format!("/v1/programmes/{programme}/metrics/breakdown"), &acme.token)
            .await,
        400,
        "invalid_query_parameter",
    )
    .await;
}
