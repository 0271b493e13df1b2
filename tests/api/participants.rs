//! The directory: an admin creates, reads, lists, updates and deactivates participants.

use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    admin_creates_and_reads_a_participant,
    invalid_participants_are_refused_with_every_field_error,
    email_and_external_id_are_unique_in_the_organisation,
    admin_updates_a_participant_and_clears_optional_fields,
    reporting_cycles_are_refused_and_the_reporting_line_is_walked,
    deactivating_keeps_the_record_and_locks_out_the_participant,
    lists_filter_and_page_in_a_stable_order,
    stale_if_match_is_refused_and_current_one_accepted,
    roles_limit_what_each_caller_may_do,
);

async fn admin_creates_and_reads_a_participant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let boss = app.person(&acme.token, "grace@acme.test", 9).await;
    let response = app
        .post(
            "/v1/participants",
            &acme.token,
            &json!({
                "external_id": "E-1",
                "email": "  Ada.Lovelace@ACME.test ",
                "display_name": "Ada Lovelace",
                "department": "Engineering",
                "job_title": "Graduate Engineer",
                "level": 2,
                "manager_id": boss["id"],
                "location": "London",
                "timezone": "Europe/London",
                "languages": ["en", "fr"],
                "attributes": {"cost_centre": "CC-12", "pronouns": "she/her"}
            }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created["email"], "ada.lovelace@acme.test",
        "emails are trimmed and lower-cased"
    );
    assert_eq!(created["active"], true);
    assert_eq!(created["attributes"]["pronouns"], "she/her");
    assert_eq!(
        location,
        format!("/v1/participants/{}", created["id"].as_str().unwrap())
    );

    let response = app.get(&location, &acme.token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    let fetched: Value = response.json().await.unwrap();
    assert_eq!(fetched, created);

    // A conditional GET with the current ETag is answered without a body.
    let response = app
        .request(reqwest::Method::GET, &location, &acme.token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
}

async fn invalid_participants_are_refused_with_every_field_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let response = app
        .post(
            "/v1/participants",
            &acme.token,
            &json!({
                "email": "not-an-email",
                "display_name": "  ",
                "level": 101,
                "timezone": "Mars/Olympus_Mons",
                "languages": ["english please"],
                "manager_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b"
            }),
        )
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "display_name",
            "email",
            "languages[0]",
            "level",
            "manager_id",
            "timezone"
        ]
    );
    assert_eq!(app.events(&acme.token).await.len(), 0, "a refused change emits nothing");
}

async fn email_and_external_id_are_unique_in_the_organisation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let globex = app.org("Globex").await;
    app.participant(
        &acme.token,
        json!({"email": "ada@x.test", "external_id": "E-1", "display_name": "Ada", "level": 1}),
    )
    .await;
    let dup_email = app
        .post(
            "/v1/participants",
            &acme.token,
            &json!({"email": "ADA@x.test", "display_name": "Other", "level": 1}),
        )
        .await;
    assert_problem(dup_email, 409, "email_taken").await;
    let dup_external = app
        .post(
            "/v1/participants",
            &acme.token,
            &json!({"email": "b@x.test", "external_id": "E-1", "display_name": "B", "level": 1}),
        )
        .await;
    assert_problem(dup_external, 409, "external_id_taken").await;
    // Another organisation may use the same email and external id.
    app.participant(
        &globex.token,
        json!({"email": "ada@x.test", "external_id": "E-1", "display_name": "Ada", "level": 1}),
    )
    .await;
}

async fn admin_updates_a_participant_and_clears_optional_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let ada = app
        .participant(&acme.token, json!({"email": "ada@acme.test", "display_name": "Ada", "level": 2, "department": "Eng", "location": "London"}))
        .await;
    let path = format!("/v1/participants/{}", ada["id"].as_str().unwrap());
    let response = app
        .patch(
            &path,
            &acme.token,
            &json!({"job_title": "Engineer", "level": 3, "location": null}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["job_title"], "Engineer");
    assert_eq!(updated["level"], 3);
    assert_eq!(updated["location"], Value::Null, "null clears a field");
    assert_eq!(updated["department"], "Eng", "absent fields are untouched");
    assert_eq!(updated["created_at"], ada["created_at"]);

    // An update that changes nothing emits nothing.
    let again = app.patch(&path, &acme.token, &json!({"level": 3})).await;
    assert_eq!(again.status(), 200);
    let types: Vec<String> = app
        .events(&acme.token)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["participant.created", "participant.updated"]);

    let bad = app
        .patch(&path, &acme.token, &json!({"email": "nope", "level": -1}))
        .await;
    let problem = assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
}

async fn reporting_cycles_are_refused_and_the_reporting_line_is_walked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let ceo = app.person(&acme.token, "ceo@acme.test", 10).await;
    let vp = app
        .participant(
            &acme.token,
            json!({"email": "vp@acme.test", "display_name": "VP", "level": 8, "manager_id": ceo["id"]}),
        )
        .await;
    let dev = app
        .participant(
            &acme.token,
            json!({"email": "dev@acme.test", "display_name": "Dev", "level": 2, "manager_id": vp["id"]}),
        )
        .await;

    let line: Value = app
        .get(
            &format!("/v1/participants/{}/reporting-line", dev["id"].as_str().unwrap()),
            &acme.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&Value> = line["data"].as_array().unwrap().iter().map(|p| &p["id"]).collect();
    assert_eq!(ids, [&vp["id"], &ceo["id"]], "nearest manager first, up to the top");

    // The CEO cannot report to someone below them, directly or further down.
    let ceo_path = format!("/v1/participants/{}", ceo["id"].as_str().unwrap());
    for below in [&vp, &dev] {
        let response = app
            .patch(&ceo_path, &acme.token, &json!({"manager_id": below["id"]}))
            .await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["code"], "reporting_cycle");
    }
    let own = app
        .patch(&ceo_path, &acme.token, &json!({"manager_id": ceo["id"]}))
        .await;
    assert_problem(own, 422, "validation_failed").await;
}

async fn deactivating_keeps_the_record_and_locks_out_the_participant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let ada = app.person(&acme.token, "ada@acme.test", 2).await;
    let id = ada["id"].as_str().unwrap();
    let ada_token = app.participant_token(&acme.token, id).await;
    assert_eq!(
        app.get(&format!("/v1/participants/{id}"), &ada_token).await.status(),
        200
    );

    let response = app.delete(&format!("/v1/participants/{id}"), &acme.token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], false);
    let still_there: Value = app
        .get(&format!("/v1/participants/{id}"), &acme.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still_there["active"], false);

    let refused = app.get(&format!("/v1/participants/{id}"), &ada_token).await;
    assert_problem(refused, 401, "unauthorized").await;
    let mint = app
        .post(&format!("/v1/participants/{id}/tokens"), &acme.token, &json!({}))
        .await;
    assert_eq!(mint.status(), 409, "no tokens for inactive participants");

    // Reactivation restores access.
    let response = app
        .patch(&format!("/v1/participants/{id}"), &acme.token, &json!({"active": true}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.get(&format!("/v1/participants/{id}"), &ada_token).await.status(),
        200
    );
    let types: Vec<String> = app
        .events(&acme.token)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "participant.created",
            "participant.deactivated",
            "participant.reactivated"
        ]
    );
}

async fn lists_filter_and_page_in_a_stable_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let boss = app
        .participant(
            &acme.token,
            json!({"email": "boss@acme.test", "display_name": "Boss Person", "level": 9, "department": "Sales"}),
        )
        .await;
    let mut created = vec![boss["id"].clone()];
    for i in 0..7 {
        let p = app
            .participant(
                &acme.token,
                json!({
                    "email": format!("person{i}@acme.test"),
                    "display_name": format!("Person {i}"),
                    "level": i,
                    "department": if i % 2 == 0 { "Engineering" } else { "Sales" },
                    "manager_id": boss["id"],
                    "active": i != 3,
                }),
            )
            .await;
        created.push(p["id"].clone());
    }

    // Pages of 3 walk every participant once, in creation order.
    let mut seen = Vec::new();
    let mut path = "/v1/participants?limit=3".to_string();
    loop {
        let page: Value = app.get(&path, &acme.token).await.json().await.unwrap();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 3);
        seen.extend(data.iter().map(|p| p["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(page["has_more"], true);
                path = format!("/v1/participants?limit=3&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(seen, created);

    let count = |v: Value| v["data"].as_array().unwrap().len();
    let q = async |query: &str| app.get(&format!("/v1/participants?{query}"), &acme.token).await;
    assert_eq!(count(q("department=Engineering").await.json().await.unwrap()), 4);
    assert_eq!(count(q("active=false").await.json().await.unwrap()), 1);
    assert_eq!(count(q("level_min=2&level_max=4").await.json().await.unwrap()), 3);
    assert_eq!(
        count(
            q(&format!("manager_id={}", boss["id"].as_str().unwrap()))
                .await
                .json()
                .await
                .unwrap()
        ),
        7
    );
    assert_eq!(
        count(q("q=BOSS").await.json().await.unwrap()),
        1,
        "q is case-insensitive on names"
    );
    assert_eq!(
        count(q("q=person5%40acme").await.json().await.unwrap()),
        1,
        "q searches emails"
    );
    assert_eq!(
        count(q("q=%25").await.json().await.unwrap()),
        0,
        "wildcards in q match literally"
    );
    assert_eq!(
        count(
            q("department=Sales&active=true&level_min=1")
                .await
                .json()
                .await
                .unwrap()
        ),
        3
    );

    assert_problem(q("limit=201").await, 400, "invalid_query_parameter").await;
    assert_problem(q("limit=0").await, 400, "invalid_query_parameter").await;
    assert_problem(q("cursor=not-a-cursor").await, 400, "invalid_cursor").await;
    assert_problem(q("level_min=abc").await, 400, "invalid_query_parameter").await;
    assert_problem(q("level_min=5&level_max=1").await, 422, "validation_failed").await;
}

async fn stale_if_match_is_refused_and_current_one_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let ada = app.person(&acme.token, "ada@acme.test", 2).await;
    let path = format!("/v1/participants/{}", ada["id"].as_str().unwrap());
    let first_etag = app.get(&path, &acme.token).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();

    let response = app
        .request(reqwest::Method::PATCH, &path, &acme.token)
        .header("If-Match", &first_etag)
        .json(&json!({"level": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second_etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(first_etag, second_etag, "every write changes the ETag");

    // A writer still holding the first ETag loses, and changes nothing.
    let stale = app
        .request(reqwest::Method::PATCH, &path, &acme.token)
        .header("If-Match", &first_etag)
        .json(&json!({"level": 7}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "precondition_failed").await;
    let stale_delete = app
        .request(reqwest::Method::DELETE, &path, &acme.token)
        .header("If-Match", &first_etag)
        .send()
        .await
        .unwrap();
    assert_problem(stale_delete, 412, "precondition_failed").await;
    let current: Value = app.get(&path, &acme.token).await.json().await.unwrap();
    assert_eq!(current["level"], 3);
    assert_eq!(current["active"], true);

    let delete = app
        .request(reqwest::Method::DELETE, &path, &acme.token)
        .header("If-Match", &second_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 200);
}

async fn roles_limit_what_each_caller_may_do(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let ada = app.person(&acme.token, "ada@acme.test", 2).await;
    let bob = app.person(&acme.token, "bob@acme.test", 8).await;
    let ada_id = ada["id"].as_str().unwrap();
    let bob_id = bob["id"].as_str().unwrap();
    let ada_token = app.participant_token(&acme.token, ada_id).await;
    let manager_token = {
        let response = app
            .post(
                &format!("/v1/participants/{bob_id}/tokens"),
                &acme.token,
                &json!({"role": "programme_manager", "expires_in": 600}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], 600);
        body["access_token"].as_str().unwrap().to_string()
    };

    // A participant reads their own record only, and changes nothing.
    assert_eq!(
        app.get(&format!("/v1/participants/{ada_id}"), &ada_token)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&format!("/v1/participants/{ada_id}/reporting-line"), &ada_token)
            .await
            .status(),
        200
    );
    assert_problem(
        app.get(&format!("/v1/participants/{bob_id}"), &ada_token).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(app.get("/v1/participants", &ada_token).await, 403, "forbidden").await;
    assert_problem(
        app.patch(&format!("/v1/participants/{ada_id}"), &ada_token, &json!({"level": 9}))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(
            "/v1/participants",
            &ada_token,
            &json!({"email": "c@acme.test", "display_name": "C", "level": 1}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(app.get("/v1/events", &ada_token).await, 403, "forbidden").await;

    // A programme manager reads the directory but does not administer it.
    assert_eq!(app.get("/v1/participants", &manager_token).await.status(), 200);
    assert_eq!(
        app.get(&format!("/v1/participants/{ada_id}"), &manager_token)
            .await
            .status(),
        200
    );
    assert_problem(
        app.delete(&format!("/v1/participants/{ada_id}"), &manager_token).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(&format!("/v1/participants/{ada_id}/tokens"), &manager_token, &json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;

    // Participant tokens never carry the admin role, and lifetimes are bounded.
    let admin = app
        .post(
            &format!("/v1/participants/{ada_id}/tokens"),
            &acme.token,
            &json!({"role": "org_admin"}),
        )
        .await;
    assert_problem(admin, 422, "validation_failed").await;
    let forever = app
        .post(
            &format!("/v1/participants/{ada_id}/tokens"),
            &acme.token,
            &json!({"expires_in": 31_536_000}),
        )
        .await;
    assert_problem(forever, 422, "validation_failed").await;
}
