//! Webhook delivery under load, through the real release binary: N events (participant.created, default 10,000)
//! written through the API by 32 concurrent writers, fanned out to 2 endpoints on a loopback receiver. Reports the
//! write rate, deliveries per second (from the first write to the last arrival) and the latency from the event's
//! commit to its arrival (p50, p99, max). Scenarios:
//!
//! - `sqlite`: one instance on SQLite, no Redis (the embedded default);
//! - `postgres-redis`: two instances on one PostgreSQL database sharing delivery through Redis (writes split between
//!   them); needs `UPWARD_TEST_DATABASE_URL` and `UPWARD_TEST_REDIS_URL`;
//! - `drain`: SQLite, the events written first by an instance that does not deliver, then delivered by a fresh one:
//!   the dispatcher's own capacity, without writes competing for the cores;
//! - `kill`: SQLite, the instance killed with SIGKILL once half the writes were acknowledged, then restarted: counts
//!   the committed events and those delivered to each endpoint.
//!
//! ```sh
//! cargo bench -p upward-server --bench webhooks
//! WEBHOOK_EVENTS=2000 WEBHOOK_SCENARIOS=sqlite,kill cargo bench -p upward-server --bench webhooks
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use support::{Arrival, Database, Receiver, Server, Target, create_org};

const WRITERS: usize = 32;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let events: usize = std::env::var("WEBHOOK_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let scenarios = std::env::var("WEBHOOK_SCENARIOS").unwrap_or_else(|_| "sqlite,postgres-redis,drain,kill".into());
    for scenario in scenarios.split(',') {
        match scenario.trim() {
            "sqlite" => {
                let db = Database::sqlite("upward-bench");
                live(&db, events, None, 1).await;
                db.drop_it().await;
            }
            "postgres-redis" => {
                let (Some(pg), Some(redis)) = (env("UPWARD_TEST_DATABASE_URL"), env("UPWARD_TEST_REDIS_URL")) else {
                    println!("postgres-redis: skipped (UPWARD_TEST_DATABASE_URL and UPWARD_TEST_REDIS_URL unset)");
                    continue;
                };
                let db = Database::postgres(&pg, "upward_bench").await;
                live(&db, events, Some(&redis), 2).await;
                db.drop_it().await;
            }
            "drain" => {
                let db = Database::sqlite("upward-bench-drain");
                drain(&db, events).await;
                db.drop_it().await;
            }
            "kill" => {
                let db = Database::sqlite("upward-bench-kill");
                killed(&db, events).await;
                db.drop_it().await;
            }
            other => println!("unknown scenario {other:?}"),
        }
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// Writes `events` participants through `targets` (round robin) with [`WRITERS`] concurrent writers; calls
/// `on_answer` with the number acknowledged so far.
async fn write_burst(targets: Vec<Target>, token: String, events: usize, answered: Arc<AtomicUsize>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(WRITERS)
        .build()
        .unwrap();
    let targets = Arc::new(targets);
    futures_util::stream::iter(0..events)
        .for_each_concurrent(WRITERS, |i| {
            let (client, token, answered, targets) = (client.clone(), token.clone(), answered.clone(), targets.clone());
            async move {
                if targets[i % targets.len()].participant(&client, &token, i).await {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .await;
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

async fn live(db: &Database, events: usize, redis: Option<&str>, instances: usize) {
    let name = if redis.is_some() { "postgres-redis" } else { "sqlite" };
    let receiver = Receiver::start(2).await;
    let (client_id, client_secret) = create_org(&db.url);
    let mut env = vec![];
    if let Some(redis) = redis {
        env.push(("UPWARD_REDIS_URL", redis));
    }
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(Server::start(&db.url, &env).await);
    }
    let token = servers[0].token(&client_id, &client_secret).await;
    let client = reqwest::Client::new();
    servers[0].endpoint(&client, &token, &receiver.url("/a")).await;
    servers[0].endpoint(&client, &token, &receiver.url("/b")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let answered = Arc::new(AtomicUsize::new(0));
    let targets = servers.iter().map(|s| Server::at(&s.base)).collect();
    write_burst(targets, token.clone(), events, answered.clone()).await;
    let written = started.elapsed();
    let committed = servers[0].created_events(&client, &token).await;
    let a = receiver.wait_for_all("/a", &committed, Duration::from_secs(300)).await;
    let b = receiver.wait_for_all("/b", &committed, Duration::from_secs(300)).await;
    let arrivals: Vec<Arrival> = a.into_iter().chain(b).collect();
    let last = arrivals.iter().map(|x| x.at).max().unwrap_or(started);
    let mut latencies: Vec<Duration> = arrivals.iter().map(|x| x.latency).collect();
    latencies.sort();
    let total = last.duration_since(started).as_secs_f64();
    println!(
        "{name} ({instances} instance{}): {} events written in {:.1} s ({:.0}/s); {} deliveries to 2 endpoints in {:.1} s \
         = {:.0} deliveries/s; commit to arrival p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        if instances > 1 { "s" } else { "" },
        committed.len(),
        written.as_secs_f64(),
        committed.len() as f64 / written.as_secs_f64(),
        arrivals.len(),
        total,
        arrivals.len() as f64 / total,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    receiver.stop().await;
}

async fn killed(db: &Database, events: usize) {
    let receiver = Receiver::start(2).await;
    let (client_id, client_secret) = create_org(&db.url);
    let mut server = Server::start(&db.url, &[]).await;
    let token = server.token(&client_id, &client_secret).await;
    let client = reqwest::Client::new();
    server.endpoint(&client, &token, &receiver.url("/a")).await;
    server.endpoint(&client, &token, &receiver.url("/b")).await;
    let answered = Arc::new(AtomicUsize::new(0));
    let burst = tokio::spawn(write_burst(
        vec![Server::at(&server.base)],
        token.clone(),
        events,
        answered.clone(),
    ));
    while answered.load(Ordering::SeqCst) < events / 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill9();
    let killed_at = Instant::now();
    burst.await.unwrap();
    let acknowledged = answered.load(Ordering::SeqCst);
    let before: usize = receiver.arrivals().len();
    let server = Server::start(&db.url, &[]).await;
    let token = server.token(&client_id, &client_secret).await;
    let committed = server.created_events(&client, &token).await;
    let mut report = Vec::new();
    for path in ["/a", "/b"] {
        let arrivals = receiver.wait_for_all(path, &committed, Duration::from_secs(120)).await;
        let unique: HashSet<&str> = arrivals.iter().map(|x| x.webhook_id.as_str()).collect();
        let delivered = committed.iter().filter(|id| unique.contains(id.as_str())).count();
        report.push(format!(
            "{path}: {delivered}/{} delivered, {} duplicates",
            committed.len(),
            arrivals.len() - unique.len()
        ));
    }
    println!(
        "kill: SIGKILL after {acknowledged} acknowledged writes of {events} ({} committed; {before} deliveries before \
         the kill); after the restart, within {:.1} s of the kill: {}",
        committed.len(),
        killed_at.elapsed().as_secs_f64(),
        report.join("; ")
    );
    receiver.stop().await;
}

async fn drain(db: &Database, events: usize) {
    let receiver = Receiver::start(2).await;
    let (client_id, client_secret) = create_org(&db.url);
    let writer = Server::start(&db.url, &[("UPWARD_WEBHOOK_DISPATCHER", "false")]).await;
    let token = writer.token(&client_id, &client_secret).await;
    let client = reqwest::Client::new();
    writer.endpoint(&client, &token, &receiver.url("/a")).await;
    writer.endpoint(&client, &token, &receiver.url("/b")).await;
    write_burst(
        vec![Server::at(&writer.base)],
        token.clone(),
        events,
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    let committed = writer.created_events(&client, &token).await;
    drop(writer);
    let started = Instant::now();
    let _deliverer = Server::start(&db.url, &[]).await;
    let a = receiver.wait_for_all("/a", &committed, Duration::from_secs(300)).await;
    let b = receiver.wait_for_all("/b", &committed, Duration::from_secs(300)).await;
    let last = a.iter().chain(&b).map(|x| x.at).max().unwrap_or(started);
    let seconds = last.duration_since(started).as_secs_f64();
    println!(
        "drain: a backlog of {} deliveries ({} events × 2 endpoints) delivered in {:.1} s from the start of the \
         delivering instance = {:.0} deliveries/s",
        a.len() + b.len(),
        committed.len(),
        seconds,
        (a.len() + b.len()) as f64 / seconds
    );
    receiver.stop().await;
}
