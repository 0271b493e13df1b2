//! Containment, as a hostile tenant (or anyone on the network) would test it: a matcher's scores of any magnitude
//! give the optimal assignment and a run that takes too long stops; a plugin that cannot explain its choice does not
//! undo it; NUL characters are refused alike on both backends; bodies must be objects; no tenant-supplied URL reaches
//! inside; guessing client secrets gets locked out; a client over its quota is told when to come back.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, Org, TestApp, assert_problem, built_plugin, on_every_backend, redis_url};

on_every_backend!(
    scores_of_any_magnitude_give_the_optimal_assignment,
    a_plugin_that_cannot_explain_its_choice_still_gets_its_proposals,
    a_run_past_its_deadline_fails_and_says_so,
    a_nul_character_is_refused_everywhere_with_a_clear_answer,
    bodies_are_json_objects_and_null_means_no_body,
    no_tenant_supplied_url_reaches_inside,
    guessing_client_secrets_gets_locked_out,
    a_client_over_its_request_quota_is_told_when_to_come_back,
);

/// A programme of `n` mentors and `n` mentees, every pair allowed, each profile carrying its row or column in the
/// hostile matcher's score table; the matcher scores from the table in `config`. Returns the programme, the mentor
/// and mentee ids in order, and the plugin's id.
async fn table_programme(
    app: &TestApp,
    acme: &Org,
    n: usize,
    config: Value,
) -> (String, Vec<String>, Vec<String>, String) {
    let admin = &acme.token;
    let plugin = app
        .ready_plugin(
            admin,
            &built_plugin("hostile_matcher"),
            "name=table&version=1.0.0&kind=matcher",
        )
        .await;
    let plugin_id = plugin["id"].as_str().unwrap().to_string();
    app.ok_with(
        Method::PATCH,
        &format!("/v1/plugins/{plugin_id}"),
        admin,
        json!({"config": config}),
        200,
    )
    .await;
    let maya = app.person_in(acme, "maya@acme.test", 6, "People").await;
    let programme = app
        .enrolling_programme(
            acme,
            &maya,
            json!({"matching": {"min_level_gap": 1, "cross_department": "preferred", "policy": "table@1.0.0"}}),
        )
        .await;
    let enrolments = format!("/v1/programmes/{programme}/enrolments");
    let (mut mentors, mut mentees) = (Vec::new(), Vec::new());
    for i in 0..n {
        for (role, level, attribute, ids) in [("mentor", 1, "row", &mut mentors), ("mentee", 9, "col", &mut mentees)] {
            let person = app
                .participant(
                    admin,
                    json!({"email": format!("{role}{i}@acme.test"), "display_name": format!("{role} {i}"),
                           "level": level, "department": format!("D{role}{i}"), "attributes": {attribute: i}}),
                )
                .await;
            let id = person["id"].as_str().unwrap().to_string();
            app.ok(
                &enrolments,
                admin,
                json!({"participant_id": id, "role": role, "topics": ["AI tools"]}),
                201,
            )
            .await;
            ids.push(id);
        }
    }
    (programme, mentors, mentees, plugin_id)
}

async fn run(app: &TestApp, programme: &str, token: &str) -> Value {
    let runs = format!("/v1/programmes/{programme}/matching-runs");
    let queued = app.ok(&runs, token, json!({}), 202).await;
    app.wait_for_run(&format!("{runs}/{}", queued["id"].as_str().unwrap()), token)
        .await
}

/// Each row's column in the proposals.
fn assignment(run: &Value, mentors: &[String], mentees: &[String]) -> Vec<Option<usize>> {
    mentors
        .iter()
        .map(|m| {
            run["proposals"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["mentor_id"] == m.as_str())
                .map(|p| mentees.iter().position(|e| p["mentee_id"] == e.as_str()).unwrap())
        })
        .collect()
}

/// The best total over every assignment of rows to distinct columns, by brute force.
fn optimum(table: &[Vec<f64>]) -> f64 {
    fn go(row: usize, table: &[Vec<f64>], used: &mut Vec<bool>) -> f64 {
        if row == table.len() {
            return 0.0;
        }
        let mut best = go(row + 1, table, used);
        for col in 0..table[row].len() {
            if !used[col] {
                used[col] = true;
                best = best.max(table[row][col] + go(row + 1, table, used));
                used[col] = false;
            }
        }
        best
    }
    go(0, table, &mut vec![false; table[0].len()])
}

async fn scores_of_any_magnitude_give_the_optimal_assignment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    // The matrix that made the old solver spin forever (thousandths of 1e15 overflowed its potentials).
    let table = vec![
        vec![1e15, 8e15, 1e15, 1e15],
        vec![2e15, 9e15, 9e15, 1e15],
        vec![2e15, 1e15, 9e15, 3e15],
        vec![2e15, 2e15, 9e15, 8e15],
    ];
    let (programme, mentors, mentees, plugin) =
        table_programme(&app, &acme, 4, json!({"mode": "table", "table": table})).await;
    let result = run(&app, &programme, &acme.token).await;
    assert_eq!(result["state"], "succeeded", "{result}");
    assert_eq!(
        assignment(&result, &mentors, &mentees),
        vec![Some(1), Some(2), Some(0), Some(3)]
    );
    assert_eq!(result["stats"]["total_score"], 2.7e16);
    assert_eq!(optimum(&table), 2.7e16);

    // The same shape at every magnitude from 1e-9 to 1e300: the optimum of the scores as given, everyone paired
    // (below 1e-3 the old solver rounded every score to 0 and left people out).
    let base = [
        [7.0, 3.0, 5.0, 1.0],
        [2.0, 8.0, 6.0, 4.0],
        [9.0, 4.0, 2.0, 7.0],
        [3.0, 6.0, 8.0, 5.0],
    ];
    for scale in [1e-9, 1e-5, 1e-4, 1.0, 1e15, 1e300] {
        let table: Vec<Vec<f64>> = base.iter().map(|r| r.iter().map(|s| s * scale).collect()).collect();
        app.ok_with(
            Method::PATCH,
            &format!("/v1/plugins/{plugin}"),
            &acme.token,
            json!({"config": {"mode": "table", "table": table}}),
            200,
        )
        .await;
        let result = run(&app, &programme, &acme.token).await;
        assert_eq!(result["state"], "succeeded", "{scale}: {result}");
        let chosen = assignment(&result, &mentors, &mentees);
        assert!(
            chosen.iter().all(Option::is_some),
            "{scale}: everyone is paired: {chosen:?}"
        );
        let total: f64 = chosen.iter().enumerate().map(|(r, c)| table[r][c.unwrap()]).sum();
        let best = optimum(&table);
        assert!(
            (total - best).abs() <= best * 1e-12,
            "{scale}: {total} vs the optimum {best}"
        );
    }
}

async fn a_plugin_that_cannot_explain_its_choice_still_gets_its_proposals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let (programme, _, _, plugin) = table_programme(&app, &acme, 3, json!({"mode": "explain_spin"})).await;
    let result = run(&app, &programme, &acme.token).await;
    assert_eq!(result["state"], "succeeded", "{result}");
    let proposals = result["proposals"].as_array().unwrap();
    assert_eq!(proposals.len(), 3);
    assert!(proposals.iter().all(|p| p["score"] == 1.0 && p["factors"] == json!([])));
    let warning = result["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("explanations unavailable") && warning.contains("ran out of CPU"),
        "{result}"
    );

    // Explanations have their own budget, and a release can have its own limits within the organisation's.
    let path = format!("/v1/plugins/{plugin}");
    let (status, limits) = app.call(Method::GET, "/v1/plugin-limits", &acme.token, None).await;
    assert_eq!(status, 200);
    assert_eq!(limits["limits"]["explain_fuel_per_item"], 500_000);
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            &acme.token,
            Some(&json!({"limits": {"fuel_per_item": 20_001}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "limits.fuel_per_item");
    let updated = app
        .ok_with(
            Method::PATCH,
            &path,
            &acme.token,
            json!({"limits": {"timeout_ms": 500, "explain_fuel_per_item": 1000}}),
            200,
        )
        .await;
    assert_eq!(
        updated["limits"],
        json!({"timeout_ms": 500, "explain_fuel_per_item": 1000})
    );
}

async fn a_run_past_its_deadline_fails_and_says_so(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.matching_run_timeout_ms = 5;
        c.plugin_max_fuel_per_item = 1_000_000_000;
    })
    .await;
    let acme = app.org("Acme").await;
    app.ok_with(
        Method::PUT,
        "/v1/plugin-limits",
        &acme.token,
        json!({"fuel_per_item": 1_000_000_000, "timeout_ms": 20_000}),
        200,
    )
    .await;
    // Scoring alone takes well over the run's 5 ms (and well within the plugin's own limits).
    let (programme, _, _, _) =
        table_programme(&app, &acme, 2, json!({"mode": "slow", "iterations": 100_000_000u64})).await;
    let started = std::time::Instant::now();
    let result = run(&app, &programme, &acme.token).await;
    assert_eq!(result["state"], "failed", "{result}");
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("did not finish within its deadline of 5 ms"),
        "{result}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

async fn a_nul_character_is_refused_everywhere_with_a_clear_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    // Without credentials: a client id with a NUL is an unknown client.
    let response = app
        .client
        .post(app.url("/v1/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=a%00b&client_secret=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client");
    // A bearer token whose (unsigned) issuer holds a NUL.
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let forged = format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "kid": "k"})),
        b64(json!({"iss": "https://idp\u{0}.test/", "aud": "a", "sub": "x", "exp": 4_000_000_000u64}))
    );
    assert_problem(app.get("/v1/participants", &forged).await, 401, "unauthorized").await;
    // A query parameter, a path, a body field at any depth: a 4xx naming where it was.
    let problem = assert_problem(
        app.get("/v1/participants?q=a%00b", &acme.token).await,
        400,
        "invalid_query_parameter",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("`q`"), "{problem}");
    assert_problem(
        app.get("/v1/participants/a%00b", &acme.token).await,
        400,
        "invalid_path_parameter",
    )
    .await;
    let problem = assert_problem(
        app.post(
            "/v1/participants",
            &acme.token,
            &json!({"email": "ada@acme.test", "display_name": "Ada\u{0}", "level": 2}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "display_name");
    assert_eq!(problem["errors"][0]["code"], "nul_character");
    let problem = assert_problem(
        app.post(
            "/v1/programmes",
            &acme.token,
            &json!({"name": "P", "topics": ["fine", "no\u{0}t"], "starts_on": "2027-01-01", "ends_on": "2027-06-30"}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "topics[1]");
    // Nothing was written.
    let (_, page) = app.call(Method::GET, "/v1/participants", &acme.token, None).await;
    assert_eq!(page["data"], json!([]));
}

async fn bodies_are_json_objects_and_null_means_no_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let admin = &cohort.org.token;
    // An array is not an object, even when its elements would fill the fields in order.
    let transitions = format!("/v1/programmes/{}/transitions", cohort.programme);
    let programme_path = format!("/v1/programmes/{}", cohort.programme);
    let (_, before) = app.call(Method::GET, &programme_path, admin, None).await;
    let problem = assert_problem(
        app.post(&transitions, admin, &json!(["archived"])).await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(problem["detail"], "the body must be a JSON object");
    let tokens = format!("/v1/participants/{}/tokens", cohort.mentor.id);
    assert_problem(
        app.post(&tokens, admin, &json!([null, null])).await,
        422,
        "invalid_body",
    )
    .await;
    let (_, after) = app.call(Method::GET, &programme_path, admin, None).await;
    assert_eq!(after["state"], before["state"], "the array changed nothing");
    // `null`, as the spec allows, is the same as no body.
    let minted = app.post(&tokens, admin, &Value::Null).await;
    assert_eq!(minted.status(), 201);
}

async fn no_tenant_supplied_url_reaches_inside(backend: Backend) {
    // Private targets allowed (as for local development): the metadata service stays out all the same.
    let app = TestApp::spawn_with(backend, |c| c.webhook_allow_private_targets = true).await;
    let acme = app.org("Acme").await;
    let create = |url: String| {
        app.request(Method::POST, "/v1/webhook-endpoints", &acme.token)
            .json(&json!({"url": url}))
            .send()
    };
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest",
        "http://[64:ff9b::a9fe:a9fe]/latest",
        "http://[fd00:ec2::254]/latest",
    ] {
        let problem = assert_problem(create(url.into()).await.unwrap(), 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["code"], "url_refused", "{url}: {problem}");
        assert!(
            problem["errors"][0]["message"].as_str().unwrap().contains("metadata"),
            "{problem}"
        );
    }
    let too_long = format!("http://127.0.0.1/{}", "a".repeat(3000));
    let problem = assert_problem(create(too_long).await.unwrap(), 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "too_long");
    assert_eq!(create("http://127.0.0.1:9/hook".into()).await.unwrap().status(), 201);

    // The default: only globally reachable addresses, however the address is spelled.
    let strict = TestApp::spawn_on(app.database.clone(), upward_tests::test_config(&app.database.url)).await;
    let create = |url: &str| {
        strict
            .request(Method::POST, "/v1/webhook-endpoints", &acme.token)
            .json(&json!({"url": url}))
            .send()
    };
    for url in [
        "https://10.0.0.1/hook",
        "https://100.64.0.1/hook",
        "https://192.0.0.8/hook",
        "https://198.18.0.1/hook",
        "https://240.0.0.1/hook",
        "https://[::127.0.0.1]/hook",
        "https://[::ffff:0:10.0.0.1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[2002:a00:1::1]/hook",
        "https://[2001::1]/hook",
        "https://[fc00::1]/hook",
        "https://[2001:db8::1]/hook",
        "https://localhost/hook",
    ] {
        let problem = assert_problem(create(url).await.unwrap(), 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["code"], "url_refused", "{url}: {problem}");
    }
    assert_eq!(
        create("https://[64:ff9b::5db8:d822]/hook").await.unwrap().status(),
        201,
        "NAT64 to a public address"
    );
}

async fn guessing_client_secrets_gets_locked_out(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.redis_url = redis_url();
        c.rate_limit_auth_failures_per_client = 3;
        c.rate_limit_lockout_seconds = 2;
    })
    .await;
    let acme = app.org("Acme").await;
    let attempt = |secret: &str| {
        app.client
            .post(app.url("/v1/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", acme.client_id.as_str()),
                ("client_secret", secret),
            ])
            .send()
    };
    for _ in 0..4 {
        assert_eq!(attempt("wrong").await.unwrap().status(), 401);
    }
    let locked = attempt("wrong").await.unwrap();
    assert_eq!(locked.status(), 429);
    let retry_after: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(locked.headers()["content-type"], "application/problem+json");
    // Locked even with the right secret, until the lock-out ends.
    assert_eq!(attempt(&acme.client_secret).await.unwrap().status(), 429);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(attempt(&acme.client_secret).await.unwrap().status(), 200);
    // Another organisation's client was never affected.
    let globex = app.org("Globex").await;
    assert!(!globex.token.is_empty());

    // Per source address too (in process here: every test shares 127.0.0.1, and with Redis, its buckets).
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.rate_limit_auth_failures_per_address = 3;
        c.rate_limit_lockout_seconds = 60;
    })
    .await;
    for _ in 0..3 {
        assert_problem(app.get("/v1/participants", "not-a-token").await, 401, "unauthorized").await;
    }
    let locked = app.get("/v1/participants", "not-a-token").await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
}

async fn a_client_over_its_request_quota_is_told_when_to_come_back(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.redis_url = redis_url();
        c.rate_limit_requests_per_minute = 5;
    })
    .await;
    let acme = app.org("Acme").await;
    let mut last = None;
    for left in (0..5).rev() {
        let response = app.get("/v1/participants", &acme.token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-policy"], "requests;q=5;w=60");
        let state = response.headers()["ratelimit"].to_str().unwrap().to_string();
        assert!(state.starts_with(&format!("requests;r={left};t=")), "{state}");
        last = Some(state);
    }
    assert!(last.is_some());
    let refused = app.get("/v1/participants", &acme.token).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=12).contains(&retry_after),
        "one request comes back every 12 s: {retry_after}"
    );
    assert!(
        refused.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("requests;r=0;")
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    // Each client has its own quota.
    let globex = app.org("Globex").await;
    assert_eq!(app.get("/v1/participants", &globex.token).await.status(), 200);
}
