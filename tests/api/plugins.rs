//! The plugin registry through the API: an admin uploads a component, it is checked and compiled, a programme
//! matches with it exactly as with the built-in policy, authors dry-run it, every hostile plugin is contained (and
//! the server keeps answering meanwhile), limits are per organisation, and nobody else ever sees it.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, built_plugin, on_every_backend};

on_every_backend!(
    an_admin_uploads_a_matcher_and_a_programme_matches_with_it,
    uploads_are_checked_before_anything_is_kept,
    a_dry_run_shows_the_output_and_hostile_plugins_are_contained,
    authors_dry_run_a_survey_scorer_and_an_hris_connector,
    a_programme_scores_surveys_with_its_plugin_and_a_failing_scorer_loses_nothing,
);

const DEFAULT: &str = "name=default-matcher&version=0.1.0&kind=matcher";

async fn an_admin_uploads_a_matcher_and_a_programme_matches_with_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    let wasm = built_plugin("default_matcher");
    let plugin = app.ready_plugin(&admin, &wasm, DEFAULT).await;
    let id = plugin["id"].as_str().unwrap().to_string();
    assert_eq!(plugin["reference"], "default-matcher@0.1.0");
    assert_eq!(plugin["kind"], "matcher");
    assert_eq!(plugin["contract_version"], "0.1.0");
    assert_eq!(plugin["size_bytes"], wasm.len());
    assert!(
        plugin["exports"]
            .as_array()
            .unwrap()
            .contains(&json!("upward:plugin/matching@0.1.0"))
    );

    // Listed, downloadable byte for byte, and immutable.
    let (_, page) = app.call(Method::GET, "/v1/plugins?kind=matcher", &admin, None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let download = app.get(&format!("/v1/plugins/{id}/component"), &admin).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/wasm");
    assert_eq!(download.bytes().await.unwrap().to_vec(), wasm);
    let (status, again) = app.upload_plugin(&admin, &wasm, DEFAULT).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["code"], "plugin_version_exists");

    // A programme of mentors and mentees, matched first by the built-in policy.
    let maya = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    let programme = app.enrolling_programme(&acme, &maya, json!({})).await;
    let enrolments = format!("/v1/programmes/{programme}/enrolments");
    let departments = ["Engineering", "Finance", "Legal", "Ops"];
    for i in 0..4 {
        let mentor = app
            .person_in(&acme, &format!("m{i}@acme.test"), 1 + i, departments[i as usize])
            .await;
        let mentee = app
            .person_in(
                &acme,
                &format!("e{i}@acme.test"),
                9 - i,
                departments[(i as usize + 1) % 4],
            )
            .await;
        for (who, role) in [(&mentor, "mentor"), (&mentee, "mentee")] {
            app.ok(
                &enrolments,
                &admin,
                json!({"participant_id": who.id, "role": role, "topics": ["AI tools"]}),
                201,
            )
            .await;
        }
    }
    let runs = format!("/v1/programmes/{programme}/matching-runs");
    let builtin_run = app.ok(&runs, &admin, json!({}), 202).await;
    let builtin_run = app
        .wait_for_run(&format!("{runs}/{}", builtin_run["id"].as_str().unwrap()), &admin)
        .await;
    assert_eq!(builtin_run["state"], "succeeded", "{builtin_run}");
    assert_eq!(builtin_run["policy"], "builtin");

    // Naming a plugin that is missing or of the wrong kind is refused; the uploaded release is accepted.
    let path = format!("/v1/programmes/{programme}");
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"matching": {"policy": "nope@1.0.0"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "matching.policy");
    assert_eq!(body["errors"][0]["code"], "unknown_plugin");
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"survey_scorer": "default-matcher@0.1.0"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "wrong_kind");
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"matching": {"policy": "default-matcher@0.1.0"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The plugin's run proposes exactly what the built-in policy proposed, scores and explanations included.
    let plugin_run = app.ok(&runs, &admin, json!({}), 202).await;
    let plugin_run = app
        .wait_for_run(&format!("{runs}/{}", plugin_run["id"].as_str().unwrap()), &admin)
        .await;
    assert_eq!(plugin_run["state"], "succeeded", "{plugin_run}");
    assert_eq!(plugin_run["policy"], "default-matcher@0.1.0");
    assert_eq!(plugin_run["proposals"], builtin_run["proposals"]);
    assert_eq!(plugin_run["proposals"].as_array().unwrap().len(), 4);
    assert_eq!(plugin_run["stats"]["total_score"], builtin_run["stats"]["total_score"]);

    // Its invocations are recorded for the owners: a scoring batch and the explanation of the chosen pairs.
    let (_, invocations) = app
        .call(Method::GET, &format!("/v1/plugins/{id}/invocations"), &admin, None)
        .await;
    let invocations = invocations["data"].as_array().unwrap().clone();
    assert_eq!(invocations.len(), 2, "{invocations:?}");
    for i in &invocations {
        assert_eq!(i["purpose"], "matching_run");
        assert_eq!(i["outcome"], "ok");
        assert_eq!(i["subject_id"], plugin_run["id"]);
        assert!(i["usage"]["fuel_used"].as_u64().unwrap() > 0);
    }

    // In use, it cannot be deleted; once the programme moves back to the built-in policy, it can.
    let deleted = app.delete(&format!("/v1/plugins/{id}"), &admin).await;
    let problem = assert_problem(deleted, 409, "plugin_in_use").await;
    assert!(problem["detail"].as_str().unwrap().contains(&programme), "{problem}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"matching": {"policy": "builtin"}})),
        )
        .await;
    assert_eq!(status, 200);
    let deleted = app.delete(&format!("/v1/plugins/{id}"), &admin).await;
    assert_eq!(deleted.status(), 204);
    assert_problem(app.get(&format!("/v1/plugins/{id}"), &admin).await, 404, "not_found").await;

    let types: Vec<String> = app
        .events(&admin)
        .await
        .iter()
        .filter_map(|e| {
            e["type"]
                .as_str()
                .filter(|t| t.starts_with("plugin."))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(types, ["plugin.uploaded", "plugin.ready", "plugin.deleted"]);
}

/// A multipart upload: the manifest as JSON and the component.
fn multipart(manifest: &Value, wasm: &[u8]) -> (String, Vec<u8>) {
    let boundary = "upward-test-boundary-7f3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\nContent-Type: application/json\r\n\r\n{manifest}\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"component\"; filename=\"plugin.wasm\"\r\nContent-Type: application/wasm\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(wasm);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn uploads_are_checked_before_anything_is_kept(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.plugin_max_upload_bytes = 4 << 20).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    let hostile = built_plugin("hostile_matcher");

    // Not a component at all, and a core module.
    let (status, body) = app.upload_plugin(&admin, b"definitely not wasm", DEFAULT).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "component");
    assert_eq!(body["errors"][0]["code"], "not_a_component");
    let core_module = [0u8, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
    let (status, body) = app.upload_plugin(&admin, &core_module, DEFAULT).await;
    assert_eq!(status, 422);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("core WebAssembly module"),
        "{body}"
    );

    // A matcher declared as a survey scorer: told what is missing and what it is instead.
    let (status, body) = app
        .upload_plugin(&admin, &hostile, "name=scorer&version=1.0.0&kind=survey_scorer")
        .await;
    assert_eq!(status, 422, "{body}");
    let messages: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages[0].contains("must export `upward:plugin/scoring@0.1.0`"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("which makes it a matcher")),
        "{messages:?}"
    );

    // Every manifest field is checked at once.
    let (status, body) = app
        .upload_plugin(
            &admin,
            &hostile,
            "name=Bad_Name&version=one&kind=oracle&allowed_hosts=http://x",
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in ["name", "version", "kind", "allowed_hosts[0]"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let (status, body) = app.upload_plugin(&admin, &hostile, "name=x&kind=matcher").await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "version");

    // A configuration that breaks the manifest's JSON Schema, by multipart.
    let manifest = |mode: &str| {
        json!({
            "name": "hostile", "version": "1.0.0", "kind": "matcher",
            "config_schema": {"type": "object", "required": ["mode"], "properties": {"mode": {"enum": ["spin", "hog", "ok"]}}},
            "config": {"mode": mode}
        })
    };
    let upload = async |manifest: Value| {
        let (content_type, body) = multipart(&manifest, &hostile);
        app.request(Method::POST, "/v1/plugins", &admin)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let response = upload(manifest("dance")).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "config.mode", "{problem}");
    assert_eq!(problem["errors"][0]["code"], "schema_violation");

    // Nothing was kept by any refused upload.
    let (_, page) = app.call(Method::GET, "/v1/plugins", &admin, None).await;
    assert_eq!(page["data"], json!([]));

    // A good multipart upload answers 202 at once and becomes ready.
    let response = upload(manifest("ok")).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let mut plugin = Value::Null;
    for _ in 0..400 {
        plugin = app.call(Method::GET, &location, &admin, None).await.1;
        if plugin["state"] != "compiling" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(plugin["state"], "ready", "{plugin}");
    let id = plugin["id"].as_str().unwrap().to_string();

    // Its configuration only changes within the schema.
    let path = format!("/v1/plugins/{id}");
    let (status, body) = app
        .call(Method::PATCH, &path, &admin, Some(&json!({"config": {"mode": 3}})))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .call(Method::PATCH, &path, &admin, Some(&json!({"config": {"mode": "spin"}})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"], json!({"mode": "spin"}));

    // Wrong media type, too large, wrong role.
    let response = app
        .request(Method::POST, "/v1/plugins", &admin)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported_media_type").await;
    let (status, body) = app.upload_plugin(&admin, &vec![0u8; 5 << 20], DEFAULT).await;
    assert_eq!(status, 413, "{body}");
    let person = app.person_in(&acme, "p@acme.test", 3, "Ops").await;
    assert_problem(app.get("/v1/plugins", &person.token).await, 403, "forbidden").await;

    // Another organisation never sees it, by id or in lists.
    let globex = app.org("Globex").await;
    for path in [path.clone(), format!("{path}/component"), format!("{path}/invocations")] {
        assert_problem(app.get(&path, &globex.token).await, 404, "not_found").await;
    }
    let dry = app
        .post(&format!("{path}/dry-run"), &globex.token, &json!({"input": {}}))
        .await;
    assert_problem(dry, 404, "not_found").await;
    assert_problem(app.delete(&path, &globex.token).await, 404, "not_found").await;
    let (_, page) = app.call(Method::GET, "/v1/plugins", &globex.token, None).await;
    assert_eq!(page["data"], json!([]));
    // And may upload the same name and version for itself.
    app.ready_plugin(&globex.token, &hostile, "name=hostile&version=1.0.0&kind=matcher")
        .await;
}

fn matcher_input(candidates: usize) -> Value {
    json!({
        "programme": {"id": "p1", "topics": ["ai", "hybrid work"], "min_level_gap": 1, "cross_department": "preferred",
                      "weights": {"shared_topics": 1.0, "level_gap": 0.5, "cross_department": 0.5, "shared_languages": 0.25, "proximity": 0.25}},
        "mentors": [{"id": "ana", "level": 2, "department": "Engineering", "languages": ["en"], "topics": ["ai"]}],
        "mentees": [{"id": "sam", "level": 9, "department": "Finance", "languages": ["en"], "topics": ["ai", "hybrid work"]}],
        "candidates": vec![[0, 0]; candidates],
    })
}

async fn a_dry_run_shows_the_output_and_hostile_plugins_are_contained(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    let default = app
        .ready_plugin(&admin, &built_plugin("default_matcher"), DEFAULT)
        .await;

    // The default matcher scores the pair as the built-in policy would: topics 1 + departments 0.5 + gap 0.5 +
    // languages 0.25.
    let dry_run = format!("/v1/plugins/{}/dry-run", default["id"].as_str().unwrap());
    let result = app.ok(&dry_run, &admin, json!({"input": matcher_input(1)}), 200).await;
    assert_eq!(result["output"]["verdicts"], json!([{"score": 2.25, "veto": null}]));
    assert!(result["usage"]["fuel_used"].as_u64().unwrap() > 0, "{result}");
    let mut explain = matcher_input(1);
    explain["explain"] = json!(true);
    let result = app.ok(&dry_run, &admin, json!({"input": explain}), 200).await;
    assert_eq!(
        result["output"]["explanations"][0]["factors"].as_array().unwrap().len(),
        5
    );
    // Input that is not a matcher's input names the field.
    let (status, body) = app
        .call(
            Method::POST,
            &dry_run,
            &admin,
            Some(&json!({"input": {"programme": {}}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"][0]["field"].as_str().unwrap().starts_with("input"),
        "{body}"
    );

    // Limits are the organisation's, within the platform's maximums.
    let (_, limits) = app.call(Method::GET, "/v1/plugin-limits", &admin, None).await;
    assert_eq!(limits["limits"]["timeout_ms"], 2000);
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/plugin-limits",
            &admin,
            Some(&json!({"timeout_ms": 10_000_000})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "timeout_ms");
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/plugin-limits",
            &admin,
            Some(&json!({"timeout_ms": 1500, "memory_mib": 16, "fuel_per_item": 1_000_000, "output_kib": 64})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let hostile = app
        .ready_plugin(
            &admin,
            &built_plugin("hostile_matcher"),
            "name=hostile&version=1.0.0&kind=matcher",
        )
        .await;
    let hostile_run = format!("/v1/plugins/{}/dry-run", hostile["id"].as_str().unwrap());

    // A spinning plugin with fuel for 5,000 items (most of a second) runs on the blocking pool until its fuel or
    // deadline runs out; meanwhile the server (one HTTP worker in tests) keeps answering.
    let spin_body = json!({"input": matcher_input(5000), "config": {"mode": "spin"}});
    let spin = app.post(&hostile_run, &admin, &spin_body);
    let health = async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let mut answered = 0;
        for _ in 0..5 {
            let r = app.client.get(app.url("/healthz")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            answered += 1;
        }
        (answered, std::time::Instant::now())
    };
    let started = std::time::Instant::now();
    let (spun, (answered, health_done)) = tokio::join!(
        async {
            let r = spin.await;
            (r, std::time::Instant::now())
        },
        health
    );
    assert_eq!(answered, 5);
    assert!(
        health_done < spun.1,
        "/healthz answered only after the spinning plugin stopped ({:?} vs {:?})",
        health_done - started,
        spun.1 - started
    );
    let problem = assert_problem(spun.0, 422, "plugin_failed").await;
    assert_eq!(problem["plugin"]["name"], "hostile");
    assert_eq!(problem["plugin"]["version"], "1.0.0");
    assert_eq!(problem["plugin"]["kind"], "matcher");
    assert!(
        ["timeout", "out_of_fuel"].contains(&problem["plugin"]["outcome"].as_str().unwrap()),
        "{problem}"
    );

    // Each misbehaviour is contained, named, and the next call is served.
    for (mode, outcome) in [
        ("hog", "out_of_memory"),
        ("panic", "trap"),
        ("nan", "malformed_output"),
        ("short", "malformed_output"),
        ("oversized", "malformed_output"),
    ] {
        let response = app
            .post(
                &hostile_run,
                &admin,
                &json!({"input": matcher_input(10), "config": {"mode": mode}}),
            )
            .await;
        let problem = assert_problem(response, 422, "plugin_failed").await;
        assert_eq!(problem["plugin"]["outcome"], outcome, "{mode}: {problem}");
    }
    let fine = app
        .ok(
            &hostile_run,
            &admin,
            json!({"input": matcher_input(3), "config": {"mode": "ok"}}),
            200,
        )
        .await;
    assert_eq!(fine["output"]["verdicts"].as_array().unwrap().len(), 3);

    // Every invocation is on record, newest first.
    let (_, page) = app
        .call(
            Method::GET,
            &format!("/v1/plugins/{}/invocations", hostile["id"].as_str().unwrap()),
            &admin,
            None,
        )
        .await;
    let outcomes: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 7, "{outcomes:?}");
    assert_eq!(outcomes[0], "ok");
    assert_eq!(
        outcomes[1..6],
        [
            "malformed_output",
            "malformed_output",
            "malformed_output",
            "trap",
            "out_of_memory"
        ]
    );
}

/// A fake HRIS directory on loopback: two pages of employees, `GET /employees[?cursor=p2]`.
async fn fake_directory() -> (u16, actix_web::dev::ServerHandle) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let server = HttpServer::new(|| {
        App::new().route(
            "/employees",
            web::get().to(|request: HttpRequest| async move {
                let page = if request.query_string() == "cursor=p2" {
                    json!({"employees": [{"external_id": "E-2", "email": "sam@example.com", "name": "Sam", "level": 9,
                                          "active": false}], "next_cursor": null})
                } else {
                    json!({"employees": [{"external_id": "E-1", "email": "ana@example.com", "name": "Ana",
                                          "department": "Engineering", "level": 2, "manager_external_id": "E-2"}],
                           "next_cursor": "p2"})
                };
                HttpResponse::Ok().json(page)
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}

/// Uploads a built example with its manifest (multipart), waits for it, and insists it is ready.
pub(crate) async fn ready_with_manifest(app: &TestApp, token: &str, manifest: &Value, built: &str) -> Value {
    let (content_type, body) = multipart(manifest, &built_plugin(built));
    let response = app
        .request(Method::POST, "/v1/plugins", token)
        .header("content-type", content_type)
        .header("prefer", "wait=30")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let plugin: Value = response.json().await.unwrap();
    assert_eq!(plugin["state"], "ready", "{plugin}");
    plugin
}

async fn authors_dry_run_a_survey_scorer_and_an_hris_connector(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();

    // A survey scorer uploaded with its manifest: a schema for its weights and a configuration.
    let manifest = json!({
        "name": "weighted-survey-scorer", "version": "0.1.0", "kind": "survey_scorer",
        "config_schema": {"type": "object", "properties": {"weights": {"type": "object",
                          "additionalProperties": {"type": "number", "minimum": 0}}}},
        "config": {"weights": {"useful": 3}},
    });
    let scorer = ready_with_manifest(&app, &admin, &manifest, "weighted_survey_scorer").await;
    let dry_run = format!("/v1/plugins/{}/dry-run", scorer["id"].as_str().unwrap());
    let survey = json!({
        "questions": [{"id": "recommend", "kind": "nps", "prompt": "Would you recommend the programme?"},
                      {"id": "useful", "kind": "likert", "prompt": "How useful were the sessions?"}],
        "responses": [{"request_id": "r1", "answers": [{"question_id": "recommend", "number": 10},
                                                       {"question_id": "useful", "number": 5}]},
                      {"request_id": "r2", "answers": [{"question_id": "recommend", "number": 6},
                                                       {"question_id": "useful", "number": 3}]}],
    });
    let result = app.ok(&dry_run, &admin, json!({"input": survey}), 200).await;
    let scores = result["output"]["scores"].as_array().unwrap();
    // recommend scaled: (100 + 60) / 2 = 80, weight 1; useful: (100 + 50) / 2 = 75, weight 3 → 305 / 4.
    assert_eq!(scores[0]["name"], "composite");
    assert_eq!(scores[0]["value"], 76.25);
    assert_eq!(scores[0]["answers"], 4);
    let nps = scores.iter().find(|s| s["name"] == "nps.recommend").unwrap();
    assert_eq!(nps["value"], 0.0, "one promoter, one detractor");
    // A configuration to try is checked against the schema before anything runs.
    let (status, body) = app
        .call(
            Method::POST,
            &dry_run,
            &admin,
            Some(&json!({"input": survey, "config": {"weights": {"useful": "heavy"}}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "config.weights.useful", "{body}");

    // An HRIS connector that may reach only 127.0.0.1 pages through a directory there.
    let (port, directory) = fake_directory().await;
    let manifest = json!({
        "name": "http-json-hris", "version": "0.1.0", "kind": "hris_connector", "allowed_hosts": ["127.0.0.1"],
        "config": {"base_url": format!("http://127.0.0.1:{port}")},
    });
    let connector = ready_with_manifest(&app, &admin, &manifest, "http_json_hris").await;
    assert_eq!(connector["allowed_hosts"], json!(["127.0.0.1"]));
    let dry_run = format!("/v1/plugins/{}/dry-run", connector["id"].as_str().unwrap());
    let first = app.ok(&dry_run, &admin, json!({"input": {}}), 200).await;
    assert_eq!(first["output"]["employees"][0]["external_id"], "E-1");
    assert_eq!(first["output"]["employees"][0]["manager_external_id"], "E-2");
    assert_eq!(first["output"]["employees"][0]["active"], true);
    assert_eq!(first["output"]["next_cursor"], "p2");
    assert_eq!(first["usage"]["logs"], json!(["info: fetched 1 employees"]));
    let last = app.ok(&dry_run, &admin, json!({"input": {"cursor": "p2"}}), 200).await;
    assert_eq!(last["output"]["employees"][0]["active"], false);
    assert_eq!(last["output"]["next_cursor"], Value::Null);

    // Pointed at a host not on its list (the same server by another name), it is refused by the host.
    let response = app
        .post(
            &dry_run,
            &admin,
            &json!({"input": {}, "config": {"base_url": format!("http://localhost:{port}")}}),
        )
        .await;
    let problem = assert_problem(response, 422, "plugin_failed").await;
    assert_eq!(problem["plugin"]["name"], "http-json-hris");
    assert_eq!(problem["plugin"]["kind"], "hris_connector");
    assert_eq!(problem["plugin"]["outcome"], "returned_error");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("refused localhost: not in the plugin's allowed_hosts"),
        "{problem}"
    );
    let (_, invocations) = app
        .call(
            Method::GET,
            &format!("/v1/plugins/{}/invocations", connector["id"].as_str().unwrap()),
            &admin,
            None,
        )
        .await;
    let refused = &invocations["data"][0];
    assert_eq!(refused["outcome"], "returned_error", "{invocations}");
    assert_eq!(
        refused["usage"]["logs"],
        json!(["warn: refused a request to localhost: not in allowed_hosts"])
    );
    directory.stop(true).await;
}

/// Polls a survey's scores until the plugin's `state` is `want`.
async fn plugin_scores(app: &TestApp, path: &str, token: &str, want: &str) -> Value {
    for _ in 0..300 {
        let (status, scores) = app.call(Method::GET, path, token, None).await;
        assert_eq!(status, 200, "{scores}");
        if scores["plugin"]["state"] == want {
            return scores;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the plugin scores never became {want}");
}

async fn a_programme_scores_surveys_with_its_plugin_and_a_failing_scorer_loses_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.survey_scoring_interval_ms = 100).await;
    let cohort = app.cohort().await;
    let admin = cohort.org.token.clone();

    // A scorer whose configuration it cannot read: a weight that is not a number (no schema to refuse it).
    let manifest = json!({
        "name": "weighted-survey-scorer", "version": "0.1.0", "kind": "survey_scorer",
        "config": {"weights": {"useful": "heavy"}},
    });
    let scorer = ready_with_manifest(&app, &admin, &manifest, "weighted_survey_scorer").await;
    let scorer_id = scorer["id"].as_str().unwrap().to_string();
    let programme = format!("/v1/programmes/{}", cohort.programme);
    let (status, body) = app
        .call(
            Method::PATCH,
            &programme,
            &admin,
            Some(&json!({"survey_scorer": "weighted-survey-scorer@0.1.0"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let survey = app
        .ok(
            &format!("{programme}/surveys"),
            &cohort.manager.token,
            json!({"title": "After the session", "milestone": "after_each_session",
                   "questions": [{"id": "recommend", "kind": "nps", "prompt": "Would you recommend the programme?"},
                                 {"id": "useful", "kind": "likert", "prompt": "How useful was the session?"}]}),
            201,
        )
        .await;
    let scores_path = format!("{programme}/surveys/{}/scores", survey["id"].as_str().unwrap());

    // A session held: both sides are asked, and both answer.
    let session = app.session(&cohort.pair, &cohort.mentor.token, -2).await;
    app.ok(
        &format!("/v1/sessions/{session}/complete"),
        &cohort.mentee.token,
        json!({"actual_duration_minutes": 50, "topics_discussed": ["AI tools"]}),
        200,
    )
    .await;
    for (who, recommend, useful) in [(&cohort.mentee, 10, 5), (&cohort.mentor, 6, 3)] {
        let (_, requests) = app.call(Method::GET, "/v1/survey-requests", &who.token, None).await;
        let request = requests["data"][0]["id"].as_str().unwrap().to_string();
        app.ok(
            &format!("/v1/survey-requests/{request}/response"),
            &who.token,
            json!({"answers": [{"question_id": "recommend", "value": recommend},
                               {"question_id": "useful", "value": useful}]}),
            201,
        )
        .await;
    }

    // The scorer fails: both responses are stored and scored by the built-in scorer; the failure is visible.
    let failed = plugin_scores(&app, &scores_path, &admin, "failed").await;
    assert_eq!(failed["responses"], 2);
    assert_eq!(failed["scores"][0]["name"], "nps.recommend");
    assert_eq!(failed["plugin"]["scorer"], "weighted-survey-scorer@0.1.0");
    assert_eq!(failed["plugin"]["scores"], json!([]));
    assert!(
        failed["plugin"]["error"].as_str().unwrap().contains("returned_error"),
        "{failed}"
    );

    // The configuration fixed: the scores are computed again, from both responses.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/plugins/{scorer_id}"),
            &admin,
            Some(&json!({"config": {"weights": {"useful": 3}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let fresh = plugin_scores(&app, &scores_path, &admin, "fresh").await;
    let plugin = &fresh["plugin"];
    assert_eq!(plugin["responses"], 2);
    assert_eq!(plugin["error"], Value::Null);
    // recommend scaled (100 + 60) / 2 = 80, weight 1; useful (100 + 50) / 2 = 75, weight 3 → 305 / 4.
    assert_eq!(plugin["scores"][0]["name"], "composite");
    assert_eq!(plugin["scores"][0]["value"], 76.25);
    assert!(plugin["computed_at"].is_string());
    // Built-in scores stay beside them.
    assert_eq!(fresh["scorer"], "builtin");
    assert_eq!(fresh["scores"][0]["value"], 0.0, "NPS: one promoter, one detractor");

    // Every computation is an invocation on the plugin's record.
    let (_, invocations) = app
        .call(
            Method::GET,
            &format!("/v1/plugins/{scorer_id}/invocations"),
            &admin,
            None,
        )
        .await;
    let runs: Vec<(&str, &str)> = invocations["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["purpose"] == "survey_scores")
        .map(|i| (i["outcome"].as_str().unwrap(), i["subject_id"].as_str().unwrap()))
        .collect();
    assert!(runs.iter().any(|(o, _)| *o == "returned_error"), "{runs:?}");
    assert!(runs.iter().any(|(o, _)| *o == "ok"), "{runs:?}");
    assert!(runs.iter().all(|(_, s)| *s == survey["id"].as_str().unwrap()));
}
