//! HRIS sync at directory scale, through the real release binary: a directory of N employees (default 20,000; a
//! reporting tree ten wide) served on loopback in pages of 500 and read by the example `http-json-hris` connector.
//! For each database it times, from the API call to the finished report: the first full sync (every participant
//! created), a no-change re-sync, and a re-sync after 1% of the directory changed (titles, a few leavers). Runs each
//! three times on a fresh database and prints every run and the median.
//!
//! ```sh
//! (cd plugins && cargo build --target wasm32-wasip2 --release)
//! cargo bench -p upward-server --bench hris_sync                      # SQLite, and PostgreSQL when
//! UPWARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p upward-server --bench hris_sync
//! HRIS_EMPLOYEES=5000 HRIS_RUNS=1 cargo bench -p upward-server --bench hris_sync
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{Database, Directory, Server, create_org, employees};

const PAGE: usize = 500;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

async fn run() {
    let n: usize = env("HRIS_EMPLOYEES").and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let runs: usize = env("HRIS_RUNS").and_then(|v| v.parse().ok()).unwrap_or(3);
    let directory = Directory::start(&employees(n, 0), PAGE).await;
    println!("HRIS sync: {n} employees in pages of {PAGE}, {runs} run(s) per database");
    let mut backends = vec![("sqlite", None)];
    if let Some(pg) = env("UPWARD_TEST_DATABASE_URL") {
        backends.push(("postgres", Some(pg)));
    } else {
        println!("postgres: skipped (UPWARD_TEST_DATABASE_URL unset)");
    }
    for (name, admin) in backends {
        let mut results: Vec<[f64; 3]> = Vec::new();
        for run in 0..runs {
            directory.replace(&employees(n, 0), PAGE);
            let db = match &admin {
                None => Database::sqlite(&format!("upward-bench-hris-{run}")),
                Some(url) => Database::postgres(url, &format!("upward_bench_hris_{run}")).await,
            };
            let timings = once(&db, &directory, n).await;
            println!(
                "{name} run {}: first sync {:.2} s, no-change re-sync {:.2} s, 1% changed {:.2} s",
                run + 1,
                timings[0],
                timings[1],
                timings[2]
            );
            results.push(timings);
            db.drop_it().await;
        }
        let median = |i: usize| {
            let mut v: Vec<f64> = results.iter().map(|r| r[i]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{name} median: first sync {:.2} s, no-change re-sync {:.2} s, 1% changed {:.2} s",
            median(0),
            median(1),
            median(2)
        );
    }
}

/// One fresh database: the three syncs, in seconds.
async fn once(db: &Database, directory: &Directory, n: usize) -> [f64; 3] {
    let (client_id, client_secret) = create_org(&db.url);
    let server = Server::start(
        &db.url,
        &[("UPWARD_ALLOW_INSECURE_URLS", "true"), ("UPWARD_LOG", "warn")],
    )
    .await;
    let token = server.token(&client_id, &client_secret).await;
    let client = reqwest::Client::new();
    let connection = server.hris_connection(&client, &token, &directory.url(), None).await;
    let sync = async |expect_created: usize| {
        let started = Instant::now();
        let queued = server.start_sync(&client, &token, &connection).await;
        let id = queued["id"].as_str().unwrap();
        let report = server
            .finished_sync(&client, &token, &connection, id, Duration::from_secs(600))
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(report["state"], "completed", "{report}");
        assert_eq!(report["counts"]["records"], n);
        assert_eq!(report["counts"]["created"], expect_created, "{report}");
        assert_eq!(report["counts"]["errors"], 0, "{report}");
        elapsed
    };
    let first = sync(n).await;
    let again = sync(0).await;
    directory.replace(&employees(n, 1), PAGE);
    let changed = sync(0).await;
    drop(server);
    [first, again, changed]
}
