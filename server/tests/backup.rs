//! An operator backs Upward up while it serves writes, loses the server, and restores: the restored server serves
//! every write acknowledged before the backup began, and delivers the webhooks that were still due — through the
//! real binary (`upward backup`, `upward restore`, `upward serve`), on SQLite and, when `UPWARD_TEST_DATABASE_URL` is
//! set, on PostgreSQL (pg_dump / pg_restore).

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Database, Server, create_org, free_port, upward};

/// Failed deliveries come due again within seconds, and stay pending for the length of the test.
const ENV: &[(&str, &str)] = &[
    (
        "UPWARD_WEBHOOK_RETRY_SCHEDULE",
        "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
    ),
    ("UPWARD_WEBHOOK_POLL_INTERVAL_MS", "100"),
];

fn command(url: &str, args: &[&str]) -> std::process::Output {
    upward().env("UPWARD_DATABASE_URL", url).args(args).output().unwrap()
}

/// A webhook receiver that records the ids of the participants whose `participant.created` it was sent.
async fn receiver(port: u16, seen: Arc<Mutex<HashSet<String>>>) -> actix_web::dev::ServerHandle {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().route(
            "/hooks",
            web::post().to(move |body: web::Bytes| {
                let seen = seen.clone();
                async move {
                    if let Ok(event) = serde_json::from_slice::<Value>(&body)
                        && let Some(id) = event["data"]["id"].as_str()
                    {
                        seen.lock().unwrap().insert(id.to_string());
                    }
                    HttpResponse::NoContent().finish()
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

async fn story(live: Database, restored: Database, backup: &Path) {
    let _ = std::fs::remove_file(backup);
    let (client_id, client_secret) = create_org(&live.url);
    let mut server = Server::start(&live.url, ENV).await;
    let client = reqwest::Client::new();
    let token = server.token(&client_id, &client_secret).await;
    // The receiver is down while the first server runs: every delivery stays due.
    let hooks = free_port();
    server
        .endpoint(&client, &token, &format!("http://127.0.0.1:{hooks}/hooks"))
        .await;

    // Steady writes, and a backup in the middle of them.
    let acknowledged: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, base, token) = (client.clone(), server.base.clone(), token.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let answer = client
                    .post(format!("{base}/v1/participants"))
                    .bearer_auth(&token)
                    .json(&json!({"email": format!("p{n}@acme.test"), "display_name": format!("P {n}"), "level": 3}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 201);
                let id = answer.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                acknowledged.lock().unwrap().push((Instant::now(), id));
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let began = Instant::now();
    let taken = command(&live.url, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));
    let report: Value = serde_json::from_slice(&taken.stdout).unwrap();
    assert_eq!(report["organisations"], 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    server.kill9();
    let before: Vec<String> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at < began)
        .map(|(_, id)| id.clone())
        .collect();
    assert!(before.len() >= 5, "writes were acknowledged before the backup");
    assert!(
        acknowledged.lock().unwrap().len() > before.len(),
        "and while it ran or after"
    );

    // A second backup over the first is refused; a restore over data too.
    let again = command(&live.url, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(!again.status.success());
    let over = command(&live.url, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(
        !over.status.success(),
        "a restore never writes over a database that holds data"
    );
    assert!(String::from_utf8_lossy(&over.stderr).contains("restore into"));

    // Restored to a new database, the server serves what was acknowledged and delivers what was due.
    let restore = command(&restored.url, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(restore.status.success(), "{}", String::from_utf8_lossy(&restore.stderr));
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let hooks = receiver(hooks, seen.clone()).await;
    let mut server = Server::start(&restored.url, ENV).await;
    for id in &before {
        let found = client
            .get(format!("{}/v1/participants/{id}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(found.status(), 200, "{id} was acknowledged before the backup");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing = before.iter().filter(|id| !seen.lock().unwrap().contains(*id)).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} due deliveries never arrived",
            before.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill9();
    hooks.stop(true).await;
    let _ = std::fs::remove_file(backup);
    live.drop_it().await;
    restored.drop_it().await;
}

#[actix_web::test]
async fn a_backup_taken_under_load_restores_to_a_server_that_serves_it_and_delivers_what_was_due_sqlite() {
    let backup = std::env::temp_dir().join(format!("upward-backup-{}.db", std::process::id()));
    story(
        Database::sqlite("upward-backup-live"),
        Database::sqlite("upward-backup-restored"),
        &backup,
    )
    .await;
}

#[actix_web::test]
async fn a_backup_taken_under_load_restores_to_a_server_that_serves_it_and_delivers_what_was_due_postgres() {
    let Ok(admin) = std::env::var("UPWARD_TEST_DATABASE_URL") else {
        eprintln!("UPWARD_TEST_DATABASE_URL is not set: the PostgreSQL backup story is not run");
        return;
    };
    let backup = std::env::temp_dir().join(format!("upward-backup-{}.dump", std::process::id()));
    story(
        Database::postgres(&admin, "upward_backup_live").await,
        Database::postgres(&admin, "upward_backup_restored").await,
        &backup,
    )
    .await;
}
