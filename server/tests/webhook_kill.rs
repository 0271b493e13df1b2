//! No event is lost to a `kill -9`: the real binary, killed with SIGKILL in the middle of a burst of writes (and of
//! deliveries), restarted on the same database, delivers every event whose transaction committed — including those
//! it had leased and was sending when it died (taken over when their lease ran out). Duplicates are allowed (same
//! `webhook-id`) and counted. On SQLite, and on PostgreSQL when `UPWARD_TEST_DATABASE_URL` is set.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use support::{Database, Receiver, Server, create_org};

const EVENTS: usize = 400;
const KILL_AFTER: usize = 150;

async fn killed_mid_burst(database: Database) {
    let receiver = Receiver::start(2).await;
    let (client_id, client_secret) = create_org(&database.url);
    // A 1-second timeout makes a dead instance's leases run out after 11 s.
    let env = [
        ("UPWARD_WEBHOOK_TIMEOUT_SECONDS", "1"),
        ("UPWARD_WEBHOOK_POLL_INTERVAL_MS", "100"),
    ];
    let mut server = Server::start(&database.url, &env).await;
    let token = server.token(&client_id, &client_secret).await;
    let client = reqwest::Client::new();
    server.endpoint(&client, &token, &receiver.url("/hooks")).await;

    let answered = Arc::new(AtomicUsize::new(0));
    let base = server.base.clone();
    let burst = {
        let (client, token, answered) = (client.clone(), token.clone(), answered.clone());
        tokio::spawn(async move {
            let target = Server::at(&base);
            futures_util::stream::iter(0..EVENTS)
                .for_each_concurrent(8, |i| {
                    let (client, token, answered, target) = (client.clone(), token.clone(), answered.clone(), &target);
                    async move {
                        if target.participant(&client, &token, i).await {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
                .await;
        })
    };
    while answered.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill9();
    burst.await.unwrap();
    let acknowledged = answered.load(Ordering::SeqCst);
    let before_restart = receiver.arrivals().len();

    let server = Server::start(&database.url, &env).await;
    let token = server.token(&client_id, &client_secret).await;
    let committed = server.created_events(&client, &token).await;
    assert!(committed.len() >= acknowledged, "every acknowledged write committed");
    let arrivals = receiver
        .wait_for_all("/hooks", &committed, Duration::from_secs(60))
        .await;
    let unique: HashSet<&str> = arrivals.iter().map(|a| a.webhook_id.as_str()).collect();
    let missing: Vec<&String> = committed.iter().filter(|id| !unique.contains(id.as_str())).collect();
    eprintln!(
        "killed after {acknowledged} acknowledged writes ({} committed, {before_restart} delivered before the kill); \
         after the restart: {} deliveries of {} events, {} duplicates",
        committed.len(),
        arrivals.len(),
        unique.len(),
        arrivals.len() - unique.len()
    );
    assert!(missing.is_empty(), "{} committed events never arrived", missing.len());
    assert_eq!(unique.len(), committed.len(), "nothing but committed events arrived");
    drop(server);
    receiver.stop().await;
    database.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_burst_delivers_every_committed_event_after_restart_sqlite() {
    killed_mid_burst(Database::sqlite("upward-kill")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_burst_delivers_every_committed_event_after_restart_postgres() {
    match std::env::var("UPWARD_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(admin) => killed_mid_burst(Database::postgres(&admin, "upward_kill").await).await,
        None => eprintln!("UPWARD_TEST_DATABASE_URL is not set: PostgreSQL run skipped"),
    }
}
