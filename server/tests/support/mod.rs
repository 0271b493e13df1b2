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

fn upward() -> Command {
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

fn free_port() -> u16 {
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
        let port = free_port();
        let mut command = upward();
        command
            .env("UPWARD_DATABASE_URL", database_url)
            .env("UPWARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("UPWARD_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
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
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/v1/events?type=participant.created&limit=200", self.base);
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
            for e in page["data"].as_array().unwrap() {
                ids.push(e["id"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return ids,
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
