//! Programme templates: an HR lead keeps a template, or clones last year's programme, to start the next one with the
//! same settings, topics, ground rules, matching and risk settings and surveys — and none of last year's people.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(an_hr_lead_starts_next_years_programme_from_a_template);

fn surveys_shape(list: &Value) -> Vec<(String, String, Value, Value)> {
    let mut out: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["title"].as_str().unwrap().to_string(),
                s["milestone"].as_str().unwrap().to_string(),
                s["questions"].clone(),
                s["pulse"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

async fn an_hr_lead_starts_next_years_programme_from_a_template(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let admin = cohort.org.token.clone();
    let source = format!("/v1/programmes/{}", cohort.programme);

    // Last year's programme: its own matching and risk settings, a survey and the role-reversion pulse.
    app.ok_with(
        Method::PATCH,
        &source,
        &admin,
        json!({"matching": {"min_level_gap": 3}, "risk": {"late_cancellations": 4}}),
        200,
    )
    .await;
    app.ok(
        &format!("{source}/surveys"),
        &cohort.manager.token,
        json!({"title": "End of programme", "milestone": "end",
               "questions": [{"id": "recommend", "kind": "nps", "prompt": "Would you recommend it?"}]}),
        201,
    )
    .await;
    app.ok_with(
        Method::PUT,
        &format!("{source}/pulses/role-reversion"),
        &cohort.manager.token,
        json!(null),
        200,
    )
    .await;
    let (_, original) = app.call(Method::GET, &source, &admin, None).await;
    let (_, original_surveys) = app.call(Method::GET, &format!("{source}/surveys"), &admin, None).await;

    // A running programme cannot become a template: people are in it.
    let refused = app.patch(&source, &admin, &json!({"template": true})).await;
    let problem = assert_problem(refused, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "template");

    // Cloned into a template: the shape of the programme, none of its people.
    let template = app
        .ok(
            &format!("{source}/clone"),
            &admin,
            json!({"name": "Digital fluency (template)", "starts_on": "2027-09-01", "ends_on": "2028-03-31",
                   "template": true}),
            201,
        )
        .await;
    let template_id = template["id"].as_str().unwrap().to_string();
    assert_ne!(template_id, cohort.programme);
    assert_eq!(template["state"], "draft");
    assert_eq!(template["template"], true);
    assert_eq!(template["allowed_transitions"], json!(["archived"]));
    for field in [
        "description",
        "goals",
        "topics",
        "ground_rules",
        "matching",
        "risk",
        "survey_scorer",
    ] {
        assert_eq!(template[field], original[field], "{field} is copied");
    }
    assert_eq!(template["matching"]["min_level_gap"], 3);
    assert_eq!(
        template["managers"],
        json!([]),
        "no people: the admin names managers, or none"
    );
    let template_path = format!("/v1/programmes/{template_id}");
    let (_, template_surveys) = app
        .call(Method::GET, &format!("{template_path}/surveys"), &admin, None)
        .await;
    assert_eq!(surveys_shape(&template_surveys), surveys_shape(&original_surveys));
    assert_eq!(surveys_shape(&template_surveys).len(), 2);
    assert!(
        template_surveys["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["programme_id"] == template_id.as_str())
    );
    for people in ["enrolments", "pairs"] {
        let (status, list) = app
            .call(Method::GET, &format!("{template_path}/{people}"), &admin, None)
            .await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["data"], json!([]), "no {people} are copied");
    }
    // A template stays a draft: nobody enrols in it.
    let opening = app
        .post(
            &format!("{template_path}/transitions"),
            &admin,
            &json!({"to": "enrolling"}),
        )
        .await;
    assert_problem(opening, 409, "programme_is_template").await;

    // The templates are one filter away.
    let (_, templates) = app
        .call(Method::GET, "/v1/programmes?template=true", &admin, None)
        .await;
    let ids: Vec<&str> = templates["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![template_id.as_str()]);
    let (_, running) = app
        .call(Method::GET, "/v1/programmes?template=false", &admin, None)
        .await;
    assert!(
        running["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["template"] == false)
    );

    // Next year's programme from the template, with its manager; it opens for enrolment like any other.
    let next_year = app
        .ok(
            &format!("{template_path}/clone"),
            &admin,
            json!({"name": "Digital fluency 2028", "starts_on": "2028-01-10", "ends_on": "2028-06-30",
                   "description": "The third cohort", "managers": [cohort.manager.id]}),
            201,
        )
        .await;
    assert_eq!(next_year["template"], false);
    assert_eq!(next_year["description"], "The third cohort");
    assert_eq!(next_year["managers"], json!([cohort.manager.id]));
    assert_eq!(next_year["starts_on"], "2028-01-10");
    let next_path = format!("/v1/programmes/{}", next_year["id"].as_str().unwrap());
    app.ok(
        &format!("{next_path}/transitions"),
        &admin,
        json!({"to": "enrolling"}),
        200,
    )
    .await;

    // A manager clones the programme they manage and becomes the clone's manager; naming managers is for admins,
    // and a template nobody made them manager of is not theirs to see.
    let theirs = app
        .ok(
            &format!("{source}/clone"),
            &cohort.manager.token,
            json!({"name": "Spring cohort", "starts_on": "2027-03-01", "ends_on": "2027-09-30"}),
            201,
        )
        .await;
    assert_eq!(theirs["managers"], json!([cohort.manager.id]));
    let naming = app
        .post(
            &format!("{source}/clone"),
            &cohort.manager.token,
            &json!({"name": "X", "starts_on": "2027-03-01", "ends_on": "2027-09-30", "managers": [cohort.mentor.id]}),
        )
        .await;
    assert_problem(naming, 403, "forbidden").await;
    let unseen = app
        .post(
            &format!("{template_path}/clone"),
            &cohort.manager.token,
            &json!({"name": "X", "starts_on": "2027-03-01", "ends_on": "2027-09-30"}),
        )
        .await;
    assert_problem(unseen, 404, "not_found").await;

    // Bad dates are refused like on creation; another organisation finds nothing to clone.
    let backwards = app
        .post(
            &format!("{source}/clone"),
            &admin,
            &json!({"name": "X", "starts_on": "2027-09-30", "ends_on": "2027-03-01"}),
        )
        .await;
    assert_problem(backwards, 422, "validation_failed").await;
    let globex = app.org("Globex").await;
    let foreign = app
        .post(
            &format!("{source}/clone"),
            &globex.token,
            &json!({"name": "X", "starts_on": "2027-03-01", "ends_on": "2027-09-30"}),
        )
        .await;
    assert_problem(foreign, 404, "not_found").await;

    // Each clone is announced, with its surveys.
    let events = app.events(&admin).await;
    let created: Vec<&Value> = events.iter().filter(|e| e["type"] == "programme.created").collect();
    assert!(created.iter().any(|e| e["data"]["id"] == template_id.as_str()));
    let surveys_of_template = events
        .iter()
        .filter(|e| e["type"] == "survey.created" && e["data"]["programme_id"] == template_id.as_str())
        .count();
    assert_eq!(surveys_of_template, 2);
}
