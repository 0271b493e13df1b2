//! Data protection through the API: a data protection officer erases a person with a full history — an HRIS record,
//! an enrolment with goals, a matching run, a pair, sessions, notes, a learning, survey answers, events and webhook
//! deliveries — and then nothing of them is left in the raw database files (the SQLite file and its WAL, or a
//! PostgreSQL dump), while programme figures stay; a sync of the same directory does not bring them back until the
//! suppression is lifted; the person can export everything held about them; what they wrote is sealed at rest; and
//! every table of the schema is in the register of personal data.

use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, Receiver, Reply, TestApp, assert_problem, on_every_backend, with_fast_webhooks};

use crate::hris_sync::{Directory, connect, directory, employee, sync};

on_every_backend!(
    an_erased_person_leaves_no_trace_in_the_database_files,
    a_person_exports_everything_held_about_them,
    every_table_is_in_the_register,
    who_read_whose_data_is_on_a_chain_that_shows_tampering,
    a_retention_policy_erases_leavers_and_forgets_old_records,
    special_category_data_needs_consent_and_stays_between_the_person_and_the_admin,
);

const EMAIL: &str = "ngozi.okafor.q7@acme.test";
const NAME: &str = "Ngozi Okafor-Q7";
const EXTERNAL_ID: &str = "HR-55731-Q7";
const NOTE: &str = "told me in confidence about the restructuring zq81";
const LEARNING: &str = "junior staff want weekly feedback xk52";
const GOAL: &str = "understand how graduates see hybrid work vm33";
const ANSWER: &str = "the mentor was candid about pay gaps wq19";
const AGENDA: &str = "reverse mentoring pilot agenda ty40";

/// The raw bytes of the database: the SQLite file and its write-ahead log, or a plain-text PostgreSQL dump.
fn raw_database(app: &TestApp) -> Vec<u8> {
    let url = &app.database.url;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap();
        let mut bytes = std::fs::read(path).expect("the SQLite file");
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        bytes
    } else {
        let output = std::process::Command::new("pg_dump")
            .arg("--no-owner")
            .arg(url)
            .output()
            .expect("pg_dump runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// A directory listing the mentee-to-be, synced into the organisation.
async fn directory_of_one(app: &TestApp, admin: &str) -> (Arc<Mutex<Directory>>, String, actix_web::dev::ServerHandle) {
    let state = Arc::new(Mutex::new(Directory {
        page_size: 10,
        employees: vec![employee(EXTERNAL_ID, EMAIL, NAME, 9, None, "Chief Operating Officer")],
        ..Directory::default()
    }));
    let (port, server) = directory(state.clone()).await;
    let connection = connect(app, admin, &format!("http://127.0.0.1:{port}")).await;
    let report = sync(app, admin, &connection, false).await;
    assert_eq!(report["counts"]["created"], 1, "{report}");
    (state, connection, server)
}

async fn an_erased_person_leaves_no_trace_in_the_database_files(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_fast_webhooks).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    let receiver = Receiver::start().await;
    // A receiver whose first answers echo the person: its logged responses must not keep them either.
    receiver.reply(
        (0..3)
            .map(|_| Reply::status(200).body(&format!("ok {EMAIL}")))
            .chain((0..200).map(|_| Reply::status(200).body("ok"))),
    );
    app.ok(
        "/v1/webhook-endpoints",
        &admin,
        json!({"url": receiver.url("/hook")}),
        201,
    )
    .await;

    let (_directory, connection, server) = directory_of_one(&app, &admin).await;
    let (_, people) = app.call(Method::GET, "/v1/participants", &admin, None).await;
    let ngozi = people["data"][0]["id"].as_str().unwrap().to_string();
    let ngozi_token = app.participant_token(&admin, &ngozi).await;
    let manager = app.person_in(&acme, "maya@acme.test", 6, "People").await;
    let manager_token = app.manager_token(&admin, &manager.id).await;
    let mentor = app.person_in(&acme, "mo@acme.test", 2, "Engineering").await;
    let programme = app.enrolling_programme(&acme, &manager, json!({})).await;
    app.ok(
        &format!("/v1/programmes/{programme}/surveys"),
        &manager_token,
        json!({"title": "After the session", "milestone": "after_each_session", "audience": "mentees",
               "questions": [{"id": "useful", "kind": "likert", "prompt": "Useful?"},
                             {"id": "why", "kind": "text", "prompt": "Why?", "required": false}]}),
        201,
    )
    .await;
    app.enrol(&programme, &mentor, "mentor").await;
    let enrolment = app
        .request(Method::POST, &format!("/v1/programmes/{programme}/enrolments"), &admin)
        .header("idempotency-key", "enrol-ngozi-1")
        .json(&json!({"participant_id": ngozi, "role": "mentee", "topics": ["AI tools"], "goals": GOAL}))
        .send()
        .await
        .unwrap();
    assert_eq!(enrolment.status(), 201);

    // A matching run proposes them; the manager pairs them; both agree.
    let runs = format!("/v1/programmes/{programme}/matching-runs");
    let response = app.request(Method::POST, &runs, &manager_token).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let run = app.wait_for_run(&location, &manager_token).await;
    assert_eq!(run["proposals"][0]["mentee_id"], ngozi.as_str(), "{run}");
    let pair = app
        .ok(
            &format!("/v1/programmes/{programme}/pairs"),
            &manager_token,
            json!({"mentor_id": mentor.id, "mentee_id": ngozi}),
            201,
        )
        .await;
    let pair = pair["id"].as_str().unwrap().to_string();
    for token in [&mentor.token, &ngozi_token] {
        app.ok(&format!("/v1/pairs/{pair}/agreement"), token, json!({}), 200)
            .await;
    }

    // A session held, with an agenda; a note, a learning and a survey answer from them.
    let starts_at = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let session = app
        .ok(
            &format!("/v1/pairs/{pair}/sessions"),
            &mentor.token,
            json!({"starts_at": starts_at, "mode": "in_person", "location": "Room 4", "agenda": [AGENDA]}),
            201,
        )
        .await;
    let session = session["id"].as_str().unwrap().to_string();
    app.ok(
        &format!("/v1/sessions/{session}/complete"),
        &ngozi_token,
        json!({"actual_duration_minutes": 50}),
        200,
    )
    .await;
    app.ok(
        &format!("/v1/pairs/{pair}/notes"),
        &ngozi_token,
        json!({"body": NOTE}),
        201,
    )
    .await;
    app.ok(
        &format!("/v1/pairs/{pair}/learnings"),
        &ngozi_token,
        json!({"text": LEARNING, "actions": [{"description": "Weekly 1:1s"}]}),
        201,
    )
    .await;
    let (_, requests) = app.call(Method::GET, "/v1/survey-requests", &ngozi_token, None).await;
    let request = requests["data"][0]["id"]
        .as_str()
        .expect("a survey request")
        .to_string();
    app.ok(
        &format!("/v1/survey-requests/{request}/response"),
        &ngozi_token,
        json!({"answers": [{"question_id": "useful", "value": 5}, {"question_id": "why", "value": ANSWER}]}),
        201,
    )
    .await;
    // They leave (their active pair pauses), and later ask to be erased: the figures at that point must hold.
    app.ok_with(
        Method::DELETE,
        &format!("/v1/participants/{ngozi}"),
        &admin,
        json!(null),
        200,
    )
    .await;
    let figures_before = app
        .call(
            Method::GET,
            &format!("/v1/programmes/{programme}/metrics"),
            &admin,
            None,
        )
        .await;
    // Webhooks went out about them (and the receiver's echo was logged).
    receiver.wait_for(5, std::time::Duration::from_secs(20)).await;

    // Before: the directory data is there in clear; what they wrote is sealed.
    let before = raw_database(&app);
    assert!(contains(&before, EMAIL) && contains(&before, NAME) && contains(&before, EXTERNAL_ID));
    for sealed in [NOTE, LEARNING] {
        assert!(!contains(&before, sealed), "{sealed:?} is stored in clear");
    }

    // Only an org_admin erases; a participant cannot, another organisation sees nothing.
    let erasure = format!("/v1/participants/{ngozi}/erasure");
    assert_problem(app.post(&erasure, &mentor.token, &json!({})).await, 403, "forbidden").await;
    let globex = app.org("Globex").await;
    assert_problem(app.post(&erasure, &globex.token, &json!({})).await, 404, "not_found").await;
    let report = app.ok(&erasure, &admin, json!({}), 200).await;
    assert_eq!(report["participant_id"], ngozi.as_str());
    assert_eq!(report["deleted"]["notes"], 1, "{report}");
    assert_eq!(report["deleted"]["learnings"], 1, "{report}");
    assert_eq!(report["deleted"]["idempotency_keys"], 1, "{report}");
    assert_eq!(report["deleted"]["hris_sync_changes"], 1, "{report}");
    assert!(report["redacted"]["events"].as_u64().unwrap() >= 5, "{report}");
    assert_eq!(report["redacted"]["survey_answers"], 1, "{report}");
    assert_eq!(report["redacted"]["matching_runs"], 1, "{report}");

    // After: none of it anywhere in the files.
    let after = raw_database(&app);
    for needle in [EMAIL, NAME, EXTERNAL_ID, NOTE, LEARNING, GOAL, ANSWER, AGENDA] {
        if contains(&after, needle) {
            let text = String::from_utf8_lossy(&after);
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.to_lowercase().contains(&needle.to_lowercase()))
                .collect();
            panic!("{needle:?} is still in the database files: {lines:#?}");
        }
    }

    // They are gone from the directory; their pair stays as a stub, and the programme's figures do not move.
    assert_problem(
        app.get(&format!("/v1/participants/{ngozi}"), &admin).await,
        404,
        "not_found",
    )
    .await;
    let (status, stub_pair) = app.call(Method::GET, &format!("/v1/pairs/{pair}"), &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(stub_pair["mentee"]["participant_id"], ngozi.as_str());
    let figures_after = app
        .call(
            Method::GET,
            &format!("/v1/programmes/{programme}/metrics"),
            &admin,
            None,
        )
        .await;
    assert_eq!(figures_after.0, 200);
    for figure in ["pairs", "sessions", "surveys"] {
        assert_eq!(figures_before.1[figure], figures_after.1[figure], "{figure}");
    }
    // Their events keep ids and types; the payloads are the stub; participant.erased carries ids only.
    let events = app.events(&admin).await;
    let erased = events
        .iter()
        .find(|e| e["type"] == "participant.erased")
        .expect("participant.erased");
    assert_eq!(erased["data"]["id"], ngozi.as_str());
    assert_eq!(erased["data"]["reason"], "request");
    let created = events
        .iter()
        .find(|e| e["type"] == "participant.created" && e["data"]["id"] == ngozi.as_str())
        .expect("their creation event stays");
    assert_eq!(created["data"]["display_name"], "Erased participant");
    assert!(created["data"]["external_id"].is_null());
    // Their tokens stop working.
    assert_eq!(
        app.get(&format!("/v1/participants/{ngozi}"), &ngozi_token)
            .await
            .status(),
        401
    );

    // The directory still lists them: a sync does not bring them back, until the suppression is lifted.
    let report = sync(&app, &admin, &connection, false).await;
    assert_eq!(report["counts"]["created"], 0, "{report}");
    assert_eq!(report["counts"]["suppressed"], 1, "{report}");
    let lifted = app
        .ok(
            "/v1/erasure-suppressions/lift",
            &admin,
            json!({"email": EMAIL, "external_id": EXTERNAL_ID}),
            200,
        )
        .await;
    assert_eq!(lifted["lifted"], 2);
    let report = sync(&app, &admin, &connection, false).await;
    assert_eq!(report["counts"]["created"], 1, "{report}");
    server.stop(true).await;
    receiver.stop().await;
}

async fn a_person_exports_everything_held_about_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let pair = &cohort.pair;
    app.ok(
        &format!("/v1/pairs/{pair}/notes"),
        &cohort.mentee.token,
        json!({"body": NOTE}),
        201,
    )
    .await;
    app.ok(
        &format!("/v1/pairs/{pair}/learnings"),
        &cohort.mentee.token,
        json!({"text": LEARNING, "actions": [{"description": "Weekly 1:1s"}]}),
        201,
    )
    .await;
    let path = format!("/v1/participants/{}/export", cohort.mentee.id);
    let response = app.get(&path, &cohort.mentee.token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let export: Value = response.json().await.unwrap();
    assert_eq!(export["participant"]["id"], cohort.mentee.id.as_str());
    assert_eq!(export["enrolments"].as_array().unwrap().len(), 1);
    assert_eq!(export["pairs"][0]["id"], pair.as_str());
    assert_eq!(export["notes"][0]["body"], NOTE, "their notes, opened");
    assert_eq!(export["learnings"][0]["text"], LEARNING);
    let types: Vec<&str> = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for expected in [
        "participant.created",
        "enrolment.created",
        "pair.proposed",
        "learning.created",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    let learning_event = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "learning.created")
        .unwrap();
    assert_eq!(
        learning_event["data"]["text"], LEARNING,
        "sealed payloads open for the export"
    );

    // An org_admin may export anyone; the other side of the pair and a manager may not; another organisation sees
    // nothing.
    assert_eq!(app.get(&path, &cohort.org.token).await.status(), 200);
    assert_problem(app.get(&path, &cohort.mentor.token).await, 403, "forbidden").await;
    assert_problem(app.get(&path, &cohort.manager.token).await, 403, "forbidden").await;
    let globex = app.org("Globex").await;
    assert_problem(app.get(&path, &globex.token).await, 404, "not_found").await;
}

async fn every_table_is_in_the_register(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let db = app.state.db.reader();
    let sql = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()",
    };
    let rows = db
        .query_all(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    let mut tables: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "name").unwrap()).collect();
    tables.sort();
    let mut registered: Vec<String> = upward_server::domain::privacy::REGISTER
        .iter()
        .map(|h| h.table.to_string())
        .collect();
    registered.sort();
    assert_eq!(
        tables, registered,
        "every table must say what personal data it holds and what erasure and export do with it \
         (domain::privacy::REGISTER)"
    );
}

async fn who_read_whose_data_is_on_a_chain_that_shows_tampering(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let erin = &cohort.mentee.id;
    let record = format!("/v1/participants/{erin}");
    // The admin reads Erin's record; Erin reads her own (not audited); Mo, her mentor, tries and is refused.
    assert_eq!(app.get(&record, &cohort.org.token).await.status(), 200);
    assert_eq!(app.get(&record, &cohort.mentee.token).await.status(), 200);
    assert_eq!(app.get(&record, &cohort.mentor.token).await.status(), 403);
    app.ok_with(
        Method::PATCH,
        &record,
        &cohort.org.token,
        json!({"job_title": "COO"}),
        200,
    )
    .await;

    let (status, log) = app
        .call(
            Method::GET,
            &format!("/v1/audit-log?resource_id={erin}"),
            &cohort.org.token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let entries = log["data"].as_array().unwrap();
    let seen: Vec<(String, Option<String>, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_string(),
                e["actor"]["participant_id"].as_str().map(str::to_string),
                e["outcome"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("GET /v1/participants/{id}".into(), None, 200)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("GET /v1/participants/{id}".into(), Some(cohort.mentor.id.clone()), 403)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("PATCH /v1/participants/{id}".into(), None, 200)),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|(op, who, _)| op.starts_with("GET") && who.as_deref() == Some(erin.as_str())),
        "a person reading their own data is not audited: {seen:?}"
    );
    let first = &entries[0];
    assert_eq!(first["subject_id"], erin.as_str());
    assert!(first["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(first["address"], "127.0.0.1");
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);

    // Filters: by actor and by time.
    let client = &cohort.org.client_id;
    let (_, by_admin) = app
        .call(
            Method::GET,
            &format!("/v1/audit-log?actor={client}&resource_id={erin}"),
            &cohort.org.token,
            None,
        )
        .await;
    assert!(
        by_admin["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"]["subject"] == client.as_str())
    );
    let operations: Vec<&str> = by_admin["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        operations,
        [
            "POST /v1/participants/{id}/tokens",
            "GET /v1/participants/{id}",
            "PATCH /v1/participants/{id}"
        ],
        "minting her token, reading and changing her record"
    );
    let (_, future) = app
        .call(
            Method::GET,
            "/v1/audit-log?since=2999-01-01T00:00:00Z",
            &cohort.org.token,
            None,
        )
        .await;
    assert_eq!(future["data"], json!([]));
    // Only an org_admin reads the log; another organisation's log holds none of this.
    assert_problem(app.get("/v1/audit-log", &cohort.manager.token).await, 403, "forbidden").await;
    let globex = app.org("Globex").await;
    let (_, theirs) = app.call(Method::GET, "/v1/audit-log", &globex.token, None).await;
    assert!(
        theirs["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["resource_id"] != erin.as_str())
    );

    // Erin's export lists who read her record; the trail never reaches the event log.
    let (_, export) = app
        .call(Method::GET, &format!("{record}/export"), &cohort.mentee.token, None)
        .await;
    assert!(
        export["audit_entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["operation"] == "GET /v1/participants/{id}"),
        "{}",
        export["audit_entries"]
    );
    assert!(
        app.events(&cohort.org.token)
            .await
            .iter()
            .all(|e| !e["type"].as_str().unwrap().starts_with("audit"))
    );

    // The chain verifies; an entry edited in the database breaks it there.
    let report = upward_server::domain::audit::verify(&app.state.db).await.unwrap();
    assert!(report.ok && report.entries >= 4, "{report:?}");
    let db = app.state.db.reader();
    let backend = db.get_database_backend();
    let seq = entries[1]["seq"].as_i64().unwrap();
    let mut forged = entries[1].clone();
    forged["outcome"] = json!(404);
    let sql = match backend {
        sea_orm::DatabaseBackend::Sqlite => "UPDATE audit_log SET doc = ? WHERE seq = ? AND organisation_id = ?",
        _ => "UPDATE audit_log SET doc = $1 WHERE seq = $2 AND organisation_id = $3",
    };
    let values: [sea_orm::Value; 3] = [forged.into(), seq.into(), cohort.org.id.into()];
    let changed = db
        .execute(sea_orm::Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1);
    let report = upward_server::domain::audit::verify(&app.state.db).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.breaks[0].seq, seq, "{report:?}");
}

async fn a_retention_policy_erases_leavers_and_forgets_old_records(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let admin = &cohort.org.token;
    let (status, defaults) = app.call(Method::GET, "/v1/data-retention", admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(defaults["default"], true);
    assert_eq!(defaults["policy"]["events_days"], 365);
    assert!(
        defaults["policy"]["erase_leavers_after_days"].is_null(),
        "leavers are never erased unless asked"
    );
    assert_problem(
        app.get("/v1/data-retention", &cohort.manager.token).await,
        403,
        "forbidden",
    )
    .await;
    let too_long = app
        .request(Method::PUT, "/v1/data-retention", admin)
        .json(&json!({"events_days": 99999}))
        .send()
        .await
        .unwrap();
    assert_problem(too_long, 422, "validation_failed").await;

    // The mentee writes a note; the programme runs its course and is archived; the mentor leaves.
    app.ok(
        &format!("/v1/pairs/{}/notes", cohort.pair),
        &cohort.mentee.token,
        json!({"body": NOTE}),
        201,
    )
    .await;
    for to in ["matching", "active", "completed", "archived"] {
        app.ok(
            &format!("/v1/programmes/{}/transitions", cohort.programme),
            admin,
            json!({"to": to}),
            200,
        )
        .await;
    }
    let mentor = format!("/v1/participants/{}", cohort.mentor.id);
    let left = app.ok_with(Method::DELETE, &mentor, admin, json!(null), 200).await;
    assert!(left["left_at"].is_string(), "{left}");

    // A policy that keeps nothing past today, applied now.
    let policy = json!({"notes_after_archive_days": 0, "erase_leavers_after_days": 0, "events_days": 0,
                        "invocations_days": 0, "sync_changes_days": 0, "audit_days": null});
    let saved = app
        .request(Method::PUT, "/v1/data-retention", admin)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["default"], false);
    assert_eq!(saved["policy"]["erase_leavers_after_days"], 0);
    let report = app.ok("/v1/data-retention/apply", admin, json!({}), 200).await;
    assert_eq!(report["erased"], json!([cohort.mentor.id]), "{report}");
    assert_eq!(report["removed"]["notes"], 1, "{report}");
    assert!(report["removed"]["events"].as_u64().unwrap() > 5, "{report}");

    assert_problem(app.get(&mentor, admin).await, 404, "not_found").await;
    let types: Vec<String> = app
        .events(admin)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        ["participant.erased", "data_retention.applied"],
        "older events are gone"
    );
    let (_, applied) = app.call(Method::GET, "/v1/data-retention", admin, None).await;
    assert!(applied["applied_at"].is_string());

    // However many instances run, one claims an organisation's round.
    let now = chrono::Utc::now();
    let db = &app.state.db;
    let org = cohort.org.id;
    let first = db
        .claim_retention_round(org, now, now - chrono::Duration::hours(1))
        .await
        .unwrap();
    let second = db
        .claim_retention_round(org, now, now - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert!(!(first && second), "one claim per round");
    let globex = app.org("Globex").await;
    let claims = futures_claims(db, globex.id).await;
    assert_eq!(claims, 1, "of concurrent claims, exactly one wins");
}

async fn futures_claims(db: &upward_server::store::Db, org: uuid::Uuid) -> usize {
    let now = chrono::Utc::now();
    let stale = now - chrono::Duration::hours(1);
    let claims = futures_util::future::join_all((0..4).map(|_| db.claim_retention_round(org, now, stale))).await;
    claims.into_iter().filter(|c| *c.as_ref().unwrap()).count()
}

async fn special_category_data_needs_consent_and_stays_between_the_person_and_the_admin(backend: Backend) {
    const VALUE: &str = "Hearing impairment kw27";
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let path = format!("/v1/participants/{}/sensitive-attributes", cohort.mentor.id);
    let put = |token: &str, body: Value| app.request(Method::PUT, &path, token).json(&body).send();
    let now = chrono::Utc::now().to_rfc3339();

    // Consent is required, and cannot be dated in the future.
    let unconsented = put(&cohort.mentor.token, json!({"attributes": {"disability": VALUE}}))
        .await
        .unwrap();
    assert_problem(unconsented, 422, "invalid_body").await;
    let future = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let early = put(
        &cohort.mentor.token,
        json!({"attributes": {"disability": VALUE}, "consent": {"given_at": future, "purpose": "reporting"}}),
    )
    .await
    .unwrap();
    assert_problem(early, 422, "validation_failed").await;

    let saved = put(
        &cohort.mentor.token,
        json!({"attributes": {"disability": VALUE, "age_band": "18-24"},
               "consent": {"given_at": now, "purpose": "Inclusion reporting for the 2027 programme"}}),
    )
    .await
    .unwrap();
    assert_eq!(saved.status(), 200);
    // The person and the org_admin read them; the other side, a manager and another organisation do not.
    for token in [&cohort.mentor.token, &cohort.org.token] {
        let (status, read) = app.call(Method::GET, &path, token, None).await;
        assert_eq!(status, 200);
        assert_eq!(read["attributes"]["disability"], VALUE);
        assert_eq!(read["consent"]["purpose"], "Inclusion reporting for the 2027 programme");
    }
    assert_problem(app.get(&path, &cohort.mentee.token).await, 403, "forbidden").await;
    assert_problem(app.get(&path, &cohort.manager.token).await, 403, "forbidden").await;
    let globex = app.org("Globex").await;
    assert_problem(app.get(&path, &globex.token).await, 404, "not_found").await;

    // Never in the participant resource, the events, or the database in clear; in the person's export.
    let (_, record) = app
        .call(
            Method::GET,
            &format!("/v1/participants/{}", cohort.mentor.id),
            &cohort.org.token,
            None,
        )
        .await;
    assert!(!record.to_string().contains(VALUE) && record.get("sensitive_attributes").is_none());
    let events = app.events(&cohort.org.token).await;
    assert!(!Value::from(events).to_string().contains(VALUE));
    assert!(!contains(&raw_database(&app), VALUE), "sealed at rest");
    let (_, export) = app
        .call(
            Method::GET,
            &format!("/v1/participants/{}/export", cohort.mentor.id),
            &cohort.mentor.token,
            None,
        )
        .await;
    assert_eq!(export["sensitive_attributes"]["attributes"]["age_band"], "18-24");

    // Consent withdrawn: they are gone (the record reads empty, with no consent, as before anything was recorded).
    assert_eq!(app.delete(&path, &cohort.mentor.token).await.status(), 204);
    let (status, gone) = app.call(Method::GET, &path, &cohort.org.token, None).await;
    assert_eq!(status, 200);
    assert_eq!(gone["attributes"], json!({}));
    assert!(gone["consent"].is_null());
    let (_, export) = app
        .call(
            Method::GET,
            &format!("/v1/participants/{}/export", cohort.mentor.id),
            &cohort.mentor.token,
            None,
        )
        .await;
    assert!(export["sensitive_attributes"].is_null());
}
