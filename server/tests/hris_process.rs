//! HRIS syncs through the real binary, run as a separate process against a fake directory on loopback:
//! - a sync survives a `kill -9` in the middle of applying the directory: the process is killed after some pages
//!   committed and before the last, restarted on the same database, and takes the sync over when its lease runs out.
//!   It finishes with every employee created exactly once — one participant, one `participant.created` event, one
//!   `create` entry in the diff each — and a second sync changes nothing;
//! - the connection's secret reaches the directory (which refuses requests without it) and not one line of the
//!   server's log, even at `trace` level, through creation, syncs and a rotation.
//!
//! On SQLite, and on PostgreSQL when `UPWARD_TEST_DATABASE_URL` is set. Needs the example connector built
//! (`cd plugins && cargo build --target wasm32-wasip2 --release`).

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::{Database, Directory, Server, create_org, employees};

/// Ten pages to apply: time enough to catch the sync between two of them.
const EMPLOYEES: usize = 5_000;

async fn killed_mid_sync(database: Database) {
    let directory = Directory::start(&employees(EMPLOYEES, 0), 500).await;
    let (client_id, client_secret) = create_org(&database.url);
    let env = [
        ("UPWARD_ALLOW_INSECURE_URLS", "true"),
        ("UPWARD_PLUGIN_MAX_TIMEOUT_MS", "3000"),
        ("UPWARD_HRIS_SYNC_LEASE_SECONDS", "4"),
        ("UPWARD_HRIS_SYNC_INTERVAL_MS", "200"),
    ];
    let mut server = Server::start(&database.url, &env).await;
    let token = server.token(&client_id, &client_secret).await;
    let client = reqwest::Client::new();
    let connection = server.hris_connection(&client, &token, &directory.url(), None).await;
    let sync = server.start_sync(&client, &token, &connection).await;
    let id = sync["id"].as_str().unwrap().to_string();

    // Kill as soon as some pages are in and others are not.
    let created_before_kill = loop {
        let report = server.sync_report(&client, &token, &connection, &id).await;
        let created = report["counts"]["created"].as_u64().unwrap() as usize;
        if report["state"] == "running" && created > 0 && created < EMPLOYEES {
            server.kill9();
            break created;
        }
        assert!(
            report["state"] == "queued" || report["state"] == "running",
            "the sync finished before it could be killed: {report}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };

    let server = Server::start(&database.url, &env).await;
    let token = server.token(&client_id, &client_secret).await;
    let report = server
        .finished_sync(&client, &token, &connection, &id, Duration::from_secs(120))
        .await;
    eprintln!("killed with {created_before_kill} of {EMPLOYEES} created; after the restart: {report}");
    assert_eq!(report["state"], "completed", "{report}");
    assert_eq!(report["attempts"], 2, "taken over after the restart: {report}");
    assert_eq!(report["counts"]["created"], EMPLOYEES, "{report}");
    assert_eq!(report["counts"]["errors"], 0, "{report}");

    let events = server.created_events(&client, &token).await;
    assert_eq!(events.len(), EMPLOYEES, "one participant.created event per employee");
    let created: Vec<String> = server
        .every_page(
            &client,
            &token,
            &format!("/v1/hris-connections/{connection}/syncs/{id}/changes?kind=create&limit=100"),
        )
        .await
        .iter()
        .map(|change| change["external_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), EMPLOYEES, "one create entry per employee in the diff");
    assert_eq!(created.iter().collect::<HashSet<_>>().len(), EMPLOYEES);

    let again = server.start_sync(&client, &token, &connection).await;
    let again = server
        .finished_sync(
            &client,
            &token,
            &connection,
            again["id"].as_str().unwrap(),
            Duration::from_secs(120),
        )
        .await;
    assert_eq!(again["state"], "completed", "{again}");
    assert_eq!(again["counts"]["unchanged"], EMPLOYEES, "{again}");
    assert_eq!(again["counts"]["changes"], 0, "{again}");

    drop(server);
    directory.stop().await;
    database.drop_it().await;
}

async fn secrets_stay_out_of_the_log(database: Database) {
    const SECRET: &str = "hris-bearer-4c1d9e7a55";
    const ROTATED: &str = "hris-bearer-rotated-0b3f72";
    let directory = Directory::start(&employees(30, 0), 10).await;
    directory.require_token(SECRET);
    let log = std::env::temp_dir().join(format!("upward-hris-log-{}.log", uuid::Uuid::now_v7()));
    let (client_id, client_secret) = create_org(&database.url);
    // Everything at trace level but the compiler's own (gigabytes of machine code, compiled before any secret
    // exists).
    let filter = "trace,cranelift_codegen=info,cranelift_frontend=info,wasmtime_internal_cranelift=info,regalloc2=info";
    let env = [("UPWARD_ALLOW_INSECURE_URLS", "true"), ("UPWARD_LOG", filter)];
    let server = Server::start_logging(&database.url, &env, Some(&log)).await;
    let token = server.token(&client_id, &client_secret).await;
    let client = reqwest::Client::new();
    let connection = server
        .hris_connection(&client, &token, &directory.url(), Some(SECRET))
        .await;
    let synced = |expected_created: usize| {
        let (server, client, token, connection) = (&server, &client, &token, &connection);
        async move {
            let sync = server.start_sync(client, token, connection).await;
            let report = server
                .finished_sync(
                    client,
                    token,
                    connection,
                    sync["id"].as_str().unwrap(),
                    Duration::from_secs(60),
                )
                .await;
            assert_eq!(
                report["state"], "completed",
                "the directory accepted the secret: {report}"
            );
            assert_eq!(report["counts"]["created"], expected_created, "{report}");
        }
    };
    synced(30).await;

    // Rotated: the directory now wants the new token, and gets it.
    directory.require_token(ROTATED);
    let rotated = client
        .patch(format!("{}/v1/hris-connections/{connection}", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"secrets": {"token": ROTATED}}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    synced(0).await;
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        text.lines().count() > 100 && text.contains("/v1/hris-connections"),
        "the server logged its requests"
    );
    assert!(
        !text.contains('\u{1b}'),
        "a log written to a file carries no colour codes"
    );
    for secret in [SECRET, ROTATED] {
        let leaks: Vec<&str> = text.lines().filter(|l| l.contains(secret)).take(3).collect();
        assert!(leaks.is_empty(), "the secret is in the log: {leaks:#?}");
    }
    directory.stop().await;
    database.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connections_secret_never_reaches_the_log_on_sqlite() {
    secrets_stay_out_of_the_log(Database::sqlite("upward-hris-log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connections_secret_never_reaches_the_log_on_postgres() {
    match std::env::var("UPWARD_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(admin) => secrets_stay_out_of_the_log(Database::postgres(&admin, "upward_hris_log").await).await,
        None => eprintln!("UPWARD_TEST_DATABASE_URL is not set: PostgreSQL run skipped"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_way_finishes_after_a_restart_without_duplicates_on_sqlite() {
    killed_mid_sync(Database::sqlite("upward-hris-kill")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_way_finishes_after_a_restart_without_duplicates_on_postgres() {
    match std::env::var("UPWARD_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(admin) => killed_mid_sync(Database::postgres(&admin, "upward_hris_kill").await).await,
        None => eprintln!("UPWARD_TEST_DATABASE_URL is not set: PostgreSQL run skipped"),
    }
}
