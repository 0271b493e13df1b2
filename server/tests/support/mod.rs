//! Running the real `upward` binary as a separate process — so it can be killed with SIGKILL — with a webhook
//! receiver on loopback that records when each delivery arrived. Shared by the kill-and-restart test and the webhook
//! benchmark.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

/// A running `upward serve`.
pub struct Server {
    target: Target,
    child: Child,
}

/// The database a run uses, removed at the end.
pub struct Database {
    pub url: String,
    admin: Option<(String, String)>,
    file: Option<std::path::PathBuf>,
}

impl Database {
    pub fn sqlite(name: &str) -> Database {
        let path = std::env::temp_dir().join(format!("{name}-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        Database {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            admin: None,
            file: Some(path),
        }
    }

    /// A fresh database on the PostgreSQL server of `admin_url`.
    pub async fn postgres(admin_url: &str, name: &str) -> Database {
        use sea_orm::ConnectionTrait;
        let name = format!("{name}_{}", std::process::id());
        let admin = sea_orm::Database::connect(admin_url).await.expect("PostgreSQL");
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        Database {
            url: format!("{base}/{name}"),
            admin: Some((admin_url.to_string(), name)),
            file: None,
        }
    }

    pub async fn drop_it(self) {
        if let Some((admin_url, name)) = &self.admin {
            use sea_orm::ConnectionTrait;
            if let Ok(admin) = sea_orm::Database::connect(admin_url.as_str()).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
        if let Some(path) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

pub fn upward() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upward"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("UPWARD_")) {
        command.env_remove(key);
    }
    command
        .env("UPWARD_PLUGIN_CACHE_DIR", "")
        .env("UPWARD_LOG", "warn")
        .env("UPWARD_SECRETS_KEY", "dXB3YXJkLXRlc3Qtc2VjcmV0cy1rZXktMzItYnl0ZXM=");
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Creates an organisation with the CLI; answers (client_id, client_secret).
pub fn create_org(database_url: &str) -> (String, String) {
    let output = upward()
        .env("UPWARD_DATABASE_URL", database_url)
        .args(["org", "create", "--name", "Acme"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        created["client_id"].as_str().unwrap().to_string(),
        created["client_secret"].as_str().unwrap().to_string(),
    )
}

/// A client's view of a server: its base URL.
pub struct Target {
    pub base: String,
}

impl Server {
    /// Another handle on a running server's API (for tasks that outlive a `&Server`).
    pub fn at(base: &str) -> Target {
        Target { base: base.to_string() }
    }

    /// Starts `upward serve` on `database_url` with loopback webhook targets allowed, plus `env`; waits until it
    /// answers `/healthz`.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Server {
        Server::start_logging(database_url, env, None).await
    }

    /// As [`Server::start`], writing everything the process prints (stdout and stderr: its log) to `log` if given.
    pub async fn start_logging(database_url: &str, env: &[(&str, &str)], log: Option<&std::path::Path>) -> Server {
        let port = free_port();
        let mut command = upward();
        command
            .env("UPWARD_DATABASE_URL", database_url)
            .env("UPWARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("UPWARD_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(path) = log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            command.stdout(file.try_clone().unwrap()).stderr(file);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("the upward binary starts");
        let server = Server {
            target: Target {
                base: format!("http://127.0.0.1:{port}"),
            },
            child,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await
                && r.status().is_success()
            {
                return server;
            }
            assert!(Instant::now() < deadline, "the server never answered /healthz");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no graceful anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::ops::Deref for Server {
    type Target = Target;

    fn deref(&self) -> &Target {
        &self.target
    }
}

impl Target {
    pub async fn token(&self, client_id: &str, client_secret: &str) -> String {
        let response: Value = reqwest::Client::new()
            .post(format!("{}/v1/oauth/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["access_token"].as_str().unwrap().to_string()
    }

    /// Registers an endpoint for `participant.created`; answers its id.
    pub async fn endpoint(&self, client: &reqwest::Client, token: &str, url: &str) -> String {
        let created: Value = client
            .post(format!("{}/v1/webhook-endpoints", self.base))
            .bearer_auth(token)
            .json(&json!({"url": url, "event_types": ["participant.created"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["id"].as_str().expect("an endpoint").to_string()
    }

    /// Creates participant `i`; answers whether the server said 201.
    pub async fn participant(&self, client: &reqwest::Client, token: &str, i: usize) -> bool {
        client
            .post(format!("{}/v1/participants", self.base))
            .bearer_auth(token)
            .json(&json!({"email": format!("p{i}@acme.test"), "display_name": format!("P {i}"), "level": 2}))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 201)
    }

    /// The ids of every `participant.created` event in the log.
    pub async fn created_events(&self, client: &reqwest::Client, token: &str) -> Vec<String> {
        self.every_page(client, token, "/v1/events?type=participant.created&limit=200")
            .await
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every item of a paginated list (`path` with its query), following `next_cursor` to the end.
    pub async fn every_page(&self, client: &reqwest::Client, token: &str, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}{path}", self.base);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            items.extend(page["data"].as_array().expect("a page").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return items,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One delivery as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub path: String,
    pub webhook_id: String,
    /// From the event's `timestamp` (its commit, to within the transaction) to arrival.
    pub latency: Duration,
    pub at: Instant,
}

/// Records every delivery and answers 204.
pub struct Receiver {
    pub port: u16,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start(workers: usize) -> Receiver {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let shared = arrivals.clone();
        let server = HttpServer::new(move || {
            let arrivals = shared.clone();
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let arrivals = arrivals.clone();
                async move {
                    let now = SystemTime::now();
                    let webhook_id = request
                        .headers()
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let latency = body["timestamp"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .and_then(|t| now.duration_since(SystemTime::from(t)).ok())
                        .unwrap_or_default();
                    arrivals.lock().unwrap().push(Arrival {
                        path: request.path().to_string(),
                        webhook_id,
                        latency,
                        at: Instant::now(),
                    });
                    HttpResponse::NoContent().finish()
                }
            }))
        })
        .workers(workers)
        .backlog(4096)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver { port, arrivals, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits until every id of `expected` arrived at `path` (or `within` passes); answers the arrivals at `path`.
    pub async fn wait_for_all(&self, path: &str, expected: &[String], within: Duration) -> Vec<Arrival> {
        let deadline = Instant::now() + within;
        loop {
            let at_path: Vec<Arrival> = self.arrivals().into_iter().filter(|a| a.path == path).collect();
            let arrived: std::collections::HashSet<&str> = at_path.iter().map(|a| a.webhook_id.as_str()).collect();
            let done = expected.iter().all(|id| arrived.contains(id.as_str()));
            if done || Instant::now() >= deadline {
                return at_path;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// A fake HR directory on loopback: `GET /employees?cursor=N` answers page N as the example `http-json-hris`
/// connector reads it (`{"employees": [...], "next_cursor": "N+1"}`). Pages are serialised up front so a benchmark
/// measures Upward, not the directory.
pub struct Directory {
    pub port: u16,
    pages: Arc<Mutex<Vec<String>>>,
    /// The bearer token the directory demands (401 without it), if any.
    token: Arc<Mutex<Option<String>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Directory {
    pub async fn start(employees: &[Value], page: usize) -> Directory {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let pages = Arc::new(Mutex::new(paginate(employees, page)));
        let token: Arc<Mutex<Option<String>>> = Arc::default();
        let (shared, shared_token) = (pages.clone(), token.clone());
        let server = HttpServer::new(move || {
            let (pages, token) = (shared.clone(), shared_token.clone());
            App::new().route(
                "/employees",
                web::get().to(move |request: HttpRequest| {
                    let (pages, token) = (pages.clone(), token.clone());
                    async move {
                        if let Some(token) = token.lock().unwrap().as_deref() {
                            let expected = format!("Bearer {token}");
                            if request.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected) {
                                return HttpResponse::Unauthorized().finish();
                            }
                        }
                        let n: usize = request
                            .query_string()
                            .strip_prefix("cursor=")
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0);
                        let body = pages.lock().unwrap().get(n).cloned().unwrap_or_default();
                        HttpResponse::Ok().content_type("application/json").body(body)
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
        Directory {
            port,
            pages,
            token,
            handle,
        }
    }

    /// From now on the directory answers only requests bearing `token`.
    pub fn require_token(&self, token: &str) {
        *self.token.lock().unwrap() = Some(token.to_string());
    }

    /// From now on the directory lists `employees`.
    pub fn replace(&self, employees: &[Value], page: usize) {
        *self.pages.lock().unwrap() = paginate(employees, page);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

fn paginate(employees: &[Value], page: usize) -> Vec<String> {
    let chunks: Vec<&[Value]> = employees.chunks(page).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let next = (i + 1 < chunks.len()).then(|| (i + 1).to_string());
            json!({"employees": chunk, "next_cursor": next}).to_string()
        })
        .collect()
}

/// `n` employees in a reporting tree ten wide (employee i reports to (i - 1) / 10). A later `generation` gives 1% a
/// new title and lets 0.1% leave.
pub fn employees(n: usize, generation: usize) -> Vec<Value> {
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
                "level": (10 - (i.max(1) as f64).log10().floor() as i32 * 2).max(1),
                "manager_external_id": (i > 0).then(|| format!("E-{}", (i - 1) / 10)),
                "timezone": "Europe/London",
                "active": !(generation > 0 && i % 1000 == 999),
            })
        })
        .collect()
}

/// The example connector, built by `cd plugins && cargo build --target wasm32-wasip2 --release`.
fn connector_component() -> Vec<u8> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("wasm32-wasip2/release/http_json_hris.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; build the plugins first", path.display()))
}

impl Target {
    /// Uploads the example `http-json-hris` connector (allowed to reach loopback) and connects it to the directory
    /// at `url`, with `secret` as the directory's bearer token if given; answers the connection's id. The server must
    /// run with `UPWARD_ALLOW_INSECURE_URLS=true`.
    pub async fn hris_connection(
        &self,
        client: &reqwest::Client,
        token: &str,
        url: &str,
        secret: Option<&str>,
    ) -> String {
        let manifest = json!({"name": "http-json-hris", "version": "0.1.0", "kind": "hris_connector",
                              "allowed_hosts": ["127.0.0.1"], "config": {"base_url": url}});
        let boundary = "upward-support-boundary";
        let mut body = format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"manifest\"\r\ncontent-type: application/json\r\n\r\n{manifest}\r\n--{boundary}\r\ncontent-disposition: form-data; name=\"component\"; filename=\"c.wasm\"\r\ncontent-type: application/wasm\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&connector_component());
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let uploaded = client
            .post(format!("{}/v1/plugins", self.base))
            .bearer_auth(token)
            .header("prefer", "wait=60")
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), 201, "{}", uploaded.text().await.unwrap());
        let connection: Value = client
            .post(format!("{}/v1/hris-connections", self.base))
            .bearer_auth(token)
            .json(&match secret {
                None => json!({"name": "Directory", "connector": "http-json-hris@0.1.0"}),
                Some(secret) => json!({"name": "Directory", "connector": "http-json-hris@0.1.0",
                                       "config": {"base_url": url, "token_secret": "token"},
                                       "secrets": {"token": secret}}),
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        connection["id"].as_str().expect("a connection").to_string()
    }

    /// Starts a sync of `connection` (not waiting for it); answers its report as queued.
    pub async fn start_sync(&self, client: &reqwest::Client, token: &str, connection: &str) -> Value {
        let response = client
            .post(format!("{}/v1/hris-connections/{connection}/syncs", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        response.json().await.unwrap()
    }

    pub async fn sync_report(&self, client: &reqwest::Client, token: &str, connection: &str, id: &str) -> Value {
        client
            .get(format!("{}/v1/hris-connections/{connection}/syncs/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the sync until it is completed or failed (at most `within`); answers its report.
    pub async fn finished_sync(
        &self,
        client: &reqwest::Client,
        token: &str,
        connection: &str,
        id: &str,
        within: Duration,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let report = self.sync_report(client, token, connection, id).await;
            if report["state"] != "queued" && report["state"] != "running" {
                return report;
            }
            assert!(
                Instant::now() < deadline,
                "the sync did not finish in {within:?}: {report}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
