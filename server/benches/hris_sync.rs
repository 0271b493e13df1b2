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

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Database, Server, create_org};

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
    let employees: usize = env("HRIS_EMPLOYEES").and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let runs: usize = env("HRIS_RUNS").and_then(|v| v.parse().ok()).unwrap_or(3);
    let directory = Arc::new(Mutex::new(pages(&people(employees, 0))));
    let port = serve(directory.clone()).await;
    println!("HRIS sync: {employees} employees in pages of {PAGE}, {runs} run(s) per database");
    let mut backends = vec![("sqlite", None)];
    if let Some(pg) = env("UPWARD_TEST_DATABASE_URL") {
        backends.push(("postgres", Some(pg)));
    } else {
        println!("postgres: skipped (UPWARD_TEST_DATABASE_URL unset)");
    }
    for (name, admin) in backends {
        let mut results: Vec<[f64; 3]> = Vec::new();
        for run in 0..runs {
            *directory.lock().unwrap() = pages(&people(employees, 0));
            let db = match &admin {
                None => Database::sqlite(&format!("upward-bench-hris-{run}")),
                Some(url) => Database::postgres(url, &format!("upward_bench_hris_{run}")).await,
            };
            let timings = once(&db, port, &directory, employees).await;
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

/// `n` employees in a tree ten wide (employee i reports to (i - 1) / 10); `generation` changes 1% of titles and
/// makes a few leave.
fn people(n: usize, generation: usize) -> Vec<Value> {
    const DEPARTMENTS: [&str; 4] = ["Engineering", "Finance", "Sales", "People"];
    (0..n)
        .map(|i| {
            let title = if generation > 0 && i % 100 == 7 {
                "Senior Engineer"
            } else {
                "Engineer"
            };
            json!({
                "external_id": format!("E-{i}"),
                "email": format!("person{i}@acme.test"),
                "name": format!("Person {i}"),
                "department": DEPARTMENTS[i % 4],
                "title": title,
                "level": (10 - (i as f64).log10().floor() as i32 * 2).max(1),
                "manager_external_id": (i > 0).then(|| format!("E-{}", (i - 1) / 10)),
                "timezone": "Europe/London",
                "active": !(generation > 0 && i % 1000 == 999),
            })
        })
        .collect()
}

/// The directory's pages, serialised once: the bench measures Upward, not the fake directory.
fn pages(people: &[Value]) -> Vec<String> {
    let chunks: Vec<&[Value]> = people.chunks(PAGE).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let next = (i + 1 < chunks.len()).then(|| (i + 1).to_string());
            json!({"employees": chunk, "next_cursor": next}).to_string()
        })
        .collect()
}

async fn serve(directory: Arc<Mutex<Vec<String>>>) -> u16 {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let server = HttpServer::new(move || {
        let directory = directory.clone();
        App::new().route(
            "/employees",
            web::get().to(move |request: HttpRequest| {
                let directory = directory.clone();
                async move {
                    let page: usize = request
                        .query_string()
                        .strip_prefix("cursor=")
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    let body = directory.lock().unwrap().get(page).cloned().unwrap_or_default();
                    HttpResponse::Ok().content_type("application/json").body(body)
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    port
}

/// One fresh database: the three syncs, in seconds.
async fn once(db: &Database, port: u16, directory: &Arc<Mutex<Vec<String>>>, employees: usize) -> [f64; 3] {
    let (client_id, client_secret) = create_org(&db.url);
    let server = Server::start(
        &db.url,
        &[("UPWARD_ALLOW_INSECURE_URLS", "true"), ("UPWARD_LOG", "warn")],
    )
    .await;
    let token = server.token(&client_id, &client_secret).await;
    let client = reqwest::Client::new();
    let wasm = std::fs::read(plugin_path()).expect("build the plugins first (see the module doc)");
    let manifest = json!({"name": "http-json-hris", "version": "0.1.0", "kind": "hris_connector",
                          "allowed_hosts": ["127.0.0.1"], "config": {"base_url": format!("http://127.0.0.1:{port}")}});
    let boundary = "upward-bench-boundary";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"manifest\"\r\ncontent-type: application/json\r\n\r\n{manifest}\r\n--{boundary}\r\ncontent-disposition: form-data; name=\"component\"; filename=\"c.wasm\"\r\ncontent-type: application/wasm\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&wasm);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let uploaded = client
        .post(format!("{}/v1/plugins", server.base))
        .bearer_auth(&token)
        .header("prefer", "wait=60")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201, "{}", uploaded.text().await.unwrap());
    let connection: Value = client
        .post(format!("{}/v1/hris-connections", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "Directory", "connector": "http-json-hris@0.1.0"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connection = connection["id"].as_str().unwrap().to_string();
    let sync = async |expect_created: usize| {
        let started = Instant::now();
        let response = client
            .post(format!("{}/v1/hris-connections/{connection}/syncs", server.base))
            .bearer_auth(&token)
            .header("prefer", "wait=60")
            .send()
            .await
            .unwrap();
        let mut report: Value = response.json().await.unwrap();
        let location = format!(
            "{}/v1/hris-connections/{connection}/syncs/{}",
            server.base,
            report["id"].as_str().unwrap()
        );
        while report["state"] == "queued" || report["state"] == "running" {
            tokio::time::sleep(Duration::from_millis(100)).await;
            report = client
                .get(&location)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(report["state"], "completed", "{report}");
        assert_eq!(report["counts"]["records"], employees);
        assert_eq!(report["counts"]["created"], expect_created, "{report}");
        assert_eq!(report["counts"]["errors"], 0, "{report}");
        elapsed
    };
    let first = sync(employees).await;
    let again = sync(0).await;
    *directory.lock().unwrap() = pages(&people(employees, 1));
    let changed = sync(0).await;
    drop(server);
    [first, again, changed]
}

fn plugin_path() -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("wasm32-wasip2/release/http_json_hris.wasm")
}
