//! HRIS syncs through the API, against a fake paginated directory on loopback: an admin previews the diff with a dry
//! run, applies it (the same diff), runs it again (nothing changes), then the directory moves on — a new joiner, a
//! title change, a manager change, a leaver with an active pair, a manager cycle, a bad email — and the next sync
//! follows. A host not on the connector's list, a directory that times out and a sync already running fail
//! cleanly; a schedule starts one sync per slot; the connection's secret reaches the directory and nothing else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

use crate::plugins::ready_with_manifest;

on_every_backend!(
    a_directory_is_previewed_applied_and_followed_as_it_changes,
    a_sync_fails_cleanly_and_one_runs_at_a_time,
    a_schedule_starts_one_sync_per_slot,
);

const TOKEN: &str = "directory-token-9c41d7e2";

/// What the fake directory serves and what it saw.
#[derive(Default)]
pub(crate) struct Directory {
    pub(crate) employees: Vec<Value>,
    pub(crate) page_size: usize,
    pub(crate) delay: Duration,
    pub(crate) authorizations: Vec<String>,
}

/// A paginated JSON directory on 127.0.0.1: `GET /employees[?cursor=N]`, bearer token required.
pub(crate) async fn directory(state: Arc<Mutex<Directory>>) -> (u16, actix_web::dev::ServerHandle) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new().route(
            "/employees",
            web::get().to(move |request: HttpRequest| {
                let state = state.clone();
                async move {
                    let auth = request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let (page, delay) = {
                        let mut d = state.lock().unwrap();
                        d.authorizations.push(auth.clone());
                        let start: usize = request
                            .query_string()
                            .strip_prefix("cursor=")
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0);
                        let end = (start + d.page_size).min(d.employees.len());
                        let next = (end < d.employees.len()).then(|| end.to_string());
                        (
                            json!({"employees": d.employees[start..end], "next_cursor": next}),
                            d.delay,
                        )
                    };
                    tokio::time::sleep(delay).await;
                    if auth != format!("Bearer {TOKEN}") {
                        return HttpResponse::Unauthorized().finish();
                    }
                    HttpResponse::Ok().json(page)
                }
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

/// A directory of one (Ana), served.
async fn one_person_directory() -> (Arc<Mutex<Directory>>, u16, actix_web::dev::ServerHandle) {
    let state = Arc::new(Mutex::new(Directory {
        page_size: 10,
        employees: vec![employee("E-1", "ana@acme.test", "Ana", 2, None, "Engineer")],
        ..Directory::default()
    }));
    let (port, server) = directory(state.clone()).await;
    (state, port, server)
}

pub(crate) fn employee(id: &str, email: &str, name: &str, level: i32, manager: Option<&str>, title: &str) -> Value {
    json!({"external_id": id, "email": email, "name": name, "level": level, "manager_external_id": manager,
           "title": title, "department": "Engineering", "timezone": "Europe/London"})
}

/// Uploads the example connector (allowed to reach 127.0.0.1 only) and connects it with the secret.
pub(crate) async fn connect(app: &TestApp, admin: &str, base_url: &str) -> String {
    let manifest = json!({
        "name": "http-json-hris", "version": "0.1.0", "kind": "hris_connector", "allowed_hosts": ["127.0.0.1"],
        "config": {"base_url": base_url, "token_secret": "token"},
    });
    ready_with_manifest(app, admin, &manifest, "http_json_hris").await;
    let connection = app
        .ok(
            "/v1/hris-connections",
            admin,
            json!({"name": "Directory", "connector": "http-json-hris@0.1.0",
                   "config": {"base_url": base_url, "token_secret": "token"}, "secrets": {"token": TOKEN}}),
            201,
        )
        .await;
    connection["id"].as_str().unwrap().to_string()
}

/// Starts a sync and waits for its report.
pub(crate) async fn sync(app: &TestApp, admin: &str, connection: &str, dry_run: bool) -> Value {
    let response = app
        .request(
            Method::POST,
            &format!("/v1/hris-connections/{connection}/syncs?dry_run={dry_run}"),
            admin,
        )
        .header("prefer", "wait=60")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["dry_run"], dry_run);
    report
}

/// Every entry of a sync's diff, in order, through the paginated list.
async fn diff(app: &TestApp, admin: &str, connection: &str, sync: &Value) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/v1/hris-connections/{connection}/syncs/{}/changes?limit=3",
            sync["id"].as_str().unwrap()
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.call(Method::GET, &path, admin, None).await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
}

/// A diff without what only an applied sync knows (its sequence numbers and the ids of created participants), in
/// a stable order — what a dry run and the sync after it must agree on.
fn comparable(entries: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut e = e.clone();
            let o = e.as_object_mut().unwrap();
            o.remove("seq");
            if o["kind"] == "create" {
                o.remove("participant_id");
            }
            e.to_string()
        })
        .collect();
    out.sort();
    out
}

fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == kind).collect()
}

fn entry<'a>(entries: &'a [Value], kind: &str, external_id: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["kind"] == kind && e["external_id"] == external_id)
        .unwrap_or_else(|| panic!("no {kind} entry for {external_id} in {entries:?}"))
}

async fn participants(app: &TestApp, admin: &str) -> Vec<Value> {
    let (_, page) = app.call(Method::GET, "/v1/participants?limit=200", admin, None).await;
    page["data"].as_array().unwrap().clone()
}

fn by_external<'a>(people: &'a [Value], external_id: &str) -> &'a Value {
    people
        .iter()
        .find(|p| p["external_id"] == external_id)
        .unwrap_or_else(|| panic!("no participant {external_id}"))
}

async fn a_directory_is_previewed_applied_and_followed_as_it_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Maya (manager), Mo (mentor) and Erin (mentee) were added by hand and are paired; the directory knows them by
    // email and adopts them.
    let cohort = app.cohort().await;
    let admin = cohort.org.token.clone();
    let state = Arc::new(Mutex::new(Directory {
        page_size: 2,
        employees: vec![
            employee("E-2", "mo@acme.test", "Mo Ahmed", 2, Some("E-4"), "Graduate Engineer"),
            employee("E-1", "erin@acme.test", "Erin Cole", 9, None, "CFO"),
            employee("E-3", "maya@acme.test", "Maya Lin", 6, Some("E-1"), "People Partner"),
            employee(
                "E-4",
                "ravi@acme.test",
                "Ravi Shah",
                5,
                Some("E-1"),
                "Engineering Manager",
            ),
            employee("E-5", "lee@acme.test", "Lee Park", 3, Some("E-4"), "Engineer"),
            employee("E-6", "not-an-email", "Bad Record", 3, None, "Engineer"),
        ],
        ..Directory::default()
    }));
    let (port, server) = directory(state.clone()).await;
    let connection = connect(&app, &admin, &format!("http://127.0.0.1:{port}")).await;

    // The preview: what would change, applying nothing.
    let preview = sync(&app, &admin, &connection, true).await;
    assert_eq!(preview["state"], "completed", "{preview}");
    assert_eq!(preview["counts"]["pages"], 3);
    assert_eq!(preview["counts"]["records"], 6);
    assert_eq!(preview["counts"]["created"], 2);
    assert_eq!(preview["counts"]["updated"], 3);
    assert_eq!(preview["counts"]["errors"], 1);
    assert_eq!(preview["plugin"]["invocations"], 3);
    let previewed = diff(&app, &admin, &connection, &preview).await;
    // Managers first: Ravi is created before Lee, who reports to him; Mo's manager arrives after him and still links.
    let creates = of_kind(&previewed, "create");
    assert_eq!(creates[0]["external_id"], "E-4");
    assert_eq!(creates[1]["external_id"], "E-5");
    assert_eq!(creates[1]["manager_external_id"], "E-4");
    assert_eq!(creates[1]["fields"]["job_title"], "Engineer");
    assert_eq!(creates[1]["participant_id"], Value::Null);
    let mo = entry(&previewed, "update", "E-2");
    assert!(
        mo["changes"]
            .as_array()
            .unwrap()
            .contains(&json!({"field": "external_id", "from": null, "to": "E-2"})),
        "{mo}"
    );
    assert!(
        mo["changes"]
            .as_array()
            .unwrap()
            .contains(&json!({"field": "display_name", "from": "mo", "to": "Mo Ahmed"})),
        "{mo}"
    );
    assert_eq!(entry(&previewed, "manager_link", "E-2")["to"], "E-4");
    assert_eq!(entry(&previewed, "manager_link", "E-3")["to"], "E-1");
    let bad = entry(&previewed, "error", "E-6");
    assert_eq!(bad["skipped"], true);
    assert_eq!(bad["errors"][0]["field"], "email");
    assert_eq!(bad["errors"][0]["code"], "invalid_format");
    assert_eq!(participants(&app, &admin).await.len(), 3, "a dry run applies nothing");

    // Applied: the same diff, and the directory in Upward.
    let applied = sync(&app, &admin, &connection, false).await;
    assert_eq!(applied["state"], "completed", "{applied}");
    assert_eq!(applied["counts"], preview["counts"]);
    let applied_diff = diff(&app, &admin, &connection, &applied).await;
    assert_eq!(comparable(&applied_diff), comparable(&previewed));
    let people = participants(&app, &admin).await;
    assert_eq!(people.len(), 5);
    let (erin, mo, maya, ravi, lee) = (
        by_external(&people, "E-1"),
        by_external(&people, "E-2"),
        by_external(&people, "E-3"),
        by_external(&people, "E-4"),
        by_external(&people, "E-5"),
    );
    assert_eq!(erin["id"], cohort.mentee.id.as_str());
    assert_eq!(mo["manager_id"], ravi["id"]);
    assert_eq!(maya["manager_id"], erin["id"]);
    assert_eq!(lee["manager_id"], ravi["id"]);
    assert_eq!(lee["job_title"], "Engineer");
    assert_eq!(of_kind(&applied_diff, "create")[1]["participant_id"], lee["id"]);

    // Again: nothing changes, nothing is emitted.
    let events_before = app.events(&admin).await.len();
    let again = sync(&app, &admin, &connection, false).await;
    assert_eq!(again["counts"]["created"], 0);
    assert_eq!(again["counts"]["updated"], 0);
    assert_eq!(again["counts"]["unchanged"], 5);
    assert_eq!(comparable(&diff(&app, &admin, &connection, &again).await).len(), 1);
    let events = app.events(&admin).await;
    let since: Vec<&str> = events[events_before..]
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(since, ["hris.sync_completed"]);

    // The directory moves on.
    {
        let mut d = state.lock().unwrap();
        d.employees = vec![
            json!({"external_id": "E-1", "email": "erin@acme.test", "name": "Erin Cole", "level": 9, "title": "CFO",
                   "department": "Engineering", "timezone": "Europe/London", "active": false}),
            employee("E-2", "mo@acme.test", "Mo Ahmed", 2, Some("E-4"), "Engineer"),
            employee("E-3", "maya@acme.test", "Maya Lin", 6, Some("E-4"), "People Partner"),
            employee(
                "E-4",
                "ravi@acme.test",
                "Ravi Shah",
                5,
                Some("E-5"),
                "Engineering Manager",
            ),
            employee("E-5", "lee@acme.test", "Lee Park", 3, Some("E-4"), "Engineer"),
            employee("E-6", "not-an-email", "Bad Record", 3, None, "Engineer"),
            employee("E-7", "nia@acme.test", "Nia Obi", 1, Some("E-4"), "Apprentice"),
        ];
    }
    let preview = sync(&app, &admin, &connection, true).await;
    let previewed = diff(&app, &admin, &connection, &preview).await;
    assert_eq!(entry(&previewed, "create", "E-7")["manager_external_id"], "E-4");
    assert_eq!(
        entry(&previewed, "update", "E-2")["changes"],
        json!([{"field": "job_title", "from": "Graduate Engineer", "to": "Engineer"}])
    );
    let link = entry(&previewed, "manager_link", "E-3");
    assert_eq!((link["from"].as_str(), link["to"].as_str()), (Some("E-1"), Some("E-4")));
    let leaver = entry(&previewed, "deactivate", "E-1");
    assert_eq!(leaver["reason"], "inactive_in_directory");
    assert_eq!(leaver["pairs_to_pause"], json!([cohort.pair]));
    // Ravi under Lee under Ravi: reported, and Ravi keeps his manager.
    let cycle = entry(&previewed, "error", "E-4");
    assert_eq!(cycle["skipped"], false);
    assert_eq!(cycle["errors"][0]["code"], "reporting_cycle");
    assert_eq!(preview["counts"]["pairs_paused"], 1);
    assert_eq!(preview["counts"]["deactivated"], 1);
    let (_, pair) = app
        .call(Method::GET, &format!("/v1/pairs/{}", cohort.pair), &admin, None)
        .await;
    assert_eq!(pair["state"], "active", "a dry run pauses nothing");

    let events_before = app.events(&admin).await.len();
    let applied = sync(&app, &admin, &connection, false).await;
    assert_eq!(applied["counts"], preview["counts"], "{applied}");
    assert_eq!(
        comparable(&diff(&app, &admin, &connection, &applied).await),
        comparable(&previewed)
    );
    let people = participants(&app, &admin).await;
    assert_eq!(by_external(&people, "E-1")["active"], false);
    assert_eq!(by_external(&people, "E-2")["job_title"], "Engineer");
    assert_eq!(
        by_external(&people, "E-3")["manager_id"],
        by_external(&people, "E-4")["id"]
    );
    assert_eq!(
        by_external(&people, "E-4")["manager_id"],
        by_external(&people, "E-1")["id"]
    );
    assert_eq!(
        by_external(&people, "E-7")["manager_id"],
        by_external(&people, "E-4")["id"]
    );
    let (_, pair) = app
        .call(Method::GET, &format!("/v1/pairs/{}", cohort.pair), &admin, None)
        .await;
    assert_eq!(pair["state"], "paused");
    assert_eq!(pair["state_reason"], "participant_left");
    let events = app.events(&admin).await;
    let mut since: Vec<&str> = events[events_before..]
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    since.sort();
    assert_eq!(
        since,
        [
            "hris.sync_completed",
            "pair.paused",
            "participant.created",
            "participant.deactivated",
            "participant.updated",
            "participant.updated",
        ]
    );
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "hris.sync_completed");
    assert_eq!(completed["data"]["id"], applied["id"]);

    // Running it again changes nothing; only the two bad records are reported again.
    let again = sync(&app, &admin, &connection, false).await;
    let again_diff = diff(&app, &admin, &connection, &again).await;
    assert_eq!(again_diff.len(), 2, "{again_diff:?}");
    assert!(again_diff.iter().all(|e| e["kind"] == "error"));

    // The secret reached the directory on every request, and nothing else shows it.
    let seen = state.lock().unwrap().authorizations.clone();
    assert!(seen.len() >= 18 && seen.iter().all(|a| a == &format!("Bearer {TOKEN}")));
    let (_, syncs) = app
        .call(
            Method::GET,
            &format!("/v1/hris-connections/{connection}/syncs"),
            &admin,
            None,
        )
        .await;
    assert_eq!(syncs["data"].as_array().unwrap().len(), 6);
    assert_eq!(syncs["data"][0]["id"], again["id"], "newest first");
    let (_, plugins) = app.call(Method::GET, "/v1/plugins", &admin, None).await;
    let plugin = plugins["data"][0]["id"].as_str().unwrap();
    let (_, invocations) = app
        .call(
            Method::GET,
            &format!("/v1/plugins/{plugin}/invocations?limit=200"),
            &admin,
            None,
        )
        .await;
    assert!(
        invocations["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["purpose"] == "hris_sync")
    );
    let everything = format!(
        "{syncs}{invocations}{}{}",
        serde_json::to_string(&app.events(&admin).await).unwrap(),
        serde_json::to_string(&again_diff).unwrap()
    );
    assert!(!everything.contains(TOKEN));

    // Another organisation learns nothing of it.
    let other = app.org("Other").await;
    let response = app
        .get(
            &format!(
                "/v1/hris-connections/{connection}/syncs/{}",
                again["id"].as_str().unwrap()
            ),
            &other.token,
        )
        .await;
    assert_problem(response, 404, "not_found").await;
    server.stop(true).await;
}

async fn a_sync_fails_cleanly_and_one_runs_at_a_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.org("Acme").await.token;
    let (state, port, server) = one_person_directory().await;

    // Pointed at a host not on the connector's list (the same server by another name): refused by the host.
    let connection = connect(&app, &admin, &format!("http://localhost:{port}")).await;
    let failed = sync(&app, &admin, &connection, false).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("refused localhost: not in the plugin's allowed_hosts"),
        "{error}"
    );
    assert!(participants(&app, &admin).await.is_empty());
    let events = app.events(&admin).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "hris.sync_failed");
    assert_eq!(last["data"]["error"], failed["error"]);

    // A directory slower than the connector's time limit (2 s): the request is cut off and the sync fails.
    let (_, updated) = app
        .call(
            Method::PATCH,
            &format!("/v1/hris-connections/{connection}"),
            &admin,
            Some(&json!({"config": {"base_url": format!("http://127.0.0.1:{port}"), "token_secret": "token"}})),
        )
        .await;
    assert_eq!(updated["config"]["base_url"], format!("http://127.0.0.1:{port}"));
    state.lock().unwrap().delay = Duration::from_secs(4);
    let started = app
        .request(
            Method::POST,
            &format!("/v1/hris-connections/{connection}/syncs"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let started: Value = started.json().await.unwrap();
    assert_eq!(started["state"], "queued");

    // One at a time.
    let response = app
        .request(
            Method::POST,
            &format!("/v1/hris-connections/{connection}/syncs"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, 409, "sync_in_progress").await;

    let mut report = Value::Null;
    for _ in 0..200 {
        let (_, r) = app.call(Method::GET, &location, &admin, None).await;
        if r["state"] == "failed" || r["state"] == "completed" {
            report = r;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(report["state"], "failed", "{report}");
    assert!(report["error"].as_str().unwrap().contains("timed out"), "{report}");
    assert!(report["duration_ms"].as_f64().unwrap() >= 1_500.0);
    assert!(participants(&app, &admin).await.is_empty());

    // Back to speed, the next sync works.
    state.lock().unwrap().delay = Duration::ZERO;
    let ok = sync(&app, &admin, &connection, false).await;
    assert_eq!(ok["state"], "completed", "{ok}");
    assert_eq!(ok["counts"]["created"], 1);

    // An unknown connection, a bad kind filter.
    let response = app
        .post(
            "/v1/hris-connections/01936b2e-0000-7000-8000-000000000000/syncs",
            &admin,
            &json!({}),
        )
        .await;
    assert_problem(response, 404, "not_found").await;
    let response = app
        .get(
            &format!(
                "/v1/hris-connections/{connection}/syncs/{}/changes?kind=everything",
                ok["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_problem(response, 422, "validation_failed").await;
    server.stop(true).await;
}

async fn a_schedule_starts_one_sync_per_slot(backend: Backend) {
    use upward_server::domain::hris_syncs::{Services, run_due};
    let app = TestApp::spawn(backend).await;
    let admin = app.org("Acme").await.token;
    let (_, port, server) = one_person_directory().await;
    let connection = connect(&app, &admin, &format!("http://127.0.0.1:{port}")).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/hris-connections/{connection}"),
            &admin,
            Some(&json!({"schedule": {"daily_at": "02:00", "timezone": "Europe/London"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Tomorrow at 02:00:30 in London, two instances look: one sync runs, for that slot.
    let services = Services::of(&app.state);
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    let slot =
        chrono::TimeZone::from_local_datetime(&chrono_tz::Europe::London, &tomorrow.and_hms_opt(2, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
    let now = slot + chrono::Duration::seconds(30);
    let (a, b) = tokio::join!(run_due(&services, now), run_due(&services, now));
    a.unwrap();
    b.unwrap();
    run_due(&services, now + chrono::Duration::hours(1)).await.unwrap();
    let (_, syncs) = app
        .call(
            Method::GET,
            &format!("/v1/hris-connections/{connection}/syncs"),
            &admin,
            None,
        )
        .await;
    let syncs = syncs["data"].as_array().unwrap();
    assert_eq!(syncs.len(), 1, "{syncs:?}");
    assert_eq!(syncs[0]["trigger"], "schedule");
    assert_eq!(syncs[0]["state"], "completed", "{}", syncs[0]);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(syncs[0]["scheduled_for"].as_str().unwrap()).unwrap(),
        slot
    );
    assert_eq!(participants(&app, &admin).await.len(), 1);

    // A slot before the schedule was set does not run.
    run_due(&services, chrono::Utc::now() - chrono::Duration::days(2))
        .await
        .unwrap();
    let (_, syncs) = app
        .call(
            Method::GET,
            &format!("/v1/hris-connections/{connection}/syncs"),
            &admin,
            None,
        )
        .await;
    assert_eq!(syncs["data"].as_array().unwrap().len(), 1);
    server.stop(true).await;
}
