//! Test harness: spawns the real application (the same `Application::build` as production) on a fresh database per
//! test — a SQLite file always, and a uniquely named PostgreSQL database when `UPWARD_TEST_DATABASE_URL` is set —
//! and offers an HTTP client and fixtures built through the public API.

use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use upward_server::{Application, Config};
use uuid::Uuid;

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::Backend::postgres() {
                    Some(backend) => super::$name(backend).await,
                    None => eprintln!("UPWARD_TEST_DATABASE_URL is not set: PostgreSQL run skipped"),
                }
            }
        }
    )* };
}

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// The admin URL of a PostgreSQL server; each test creates and drops its own database there.
    Postgres(String),
}

impl Backend {
    pub fn postgres() -> Option<Backend> {
        std::env::var("UPWARD_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(Backend::Postgres)
    }
}

pub fn redis_url() -> Option<String> {
    std::env::var("UPWARD_TEST_REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// A database that exists for one test and is removed when the test ends (even when it fails).
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> TestDatabase {
        let name = format!("upward_test_{}", Uuid::now_v7().simple());
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                TestDatabase {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: Cleanup::File(path),
                }
            }
            Backend::Postgres(admin_url) => {
                use sea_orm::ConnectionTrait;
                let admin = sea_orm::Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to PostgreSQL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
                TestDatabase {
                    url: format!("{base}/{name}"),
                    cleanup: Cleanup::Postgres {
                        admin_url: admin_url.clone(),
                        name,
                    },
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a fresh thread with its own runtime may block.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        use sea_orm::ConnectionTrait;
                        if let Ok(admin) = sea_orm::Database::connect(admin_url.as_str()).await {
                            let _ = admin
                                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .await;
                            admin.close().await.ok();
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// A configuration for tests: an ephemeral port, one worker, outbound http allowed (fake IdPs on loopback).
pub fn test_config(database_url: &str) -> Config {
    Config {
        database_url: database_url.to_string(),
        database_max_connections: 4,
        listen: "127.0.0.1:0".into(),
        workers: Some(1),
        allow_insecure_urls: true,
        idp_jwks_min_refresh_seconds: 0,
        log: "warn".into(),
        // Compiled plugins in memory only: each test starts cold.
        plugin_cache_dir: String::new(),
        // A fixed key: no key file written beside the tests.
        secrets_key: Some("dXB3YXJkLXRlc3Qtc2VjcmV0cy1rZXktMzItYnl0ZXM=".into()),
        // Every test connects from 127.0.0.1 (and, with Redis, shares its buckets): the per-address lock-out is tested
        // on its own, not tripped by the suite's deliberate bad tokens.
        rate_limit_auth_failures_per_address: 1_000_000,
        ..Config::default()
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<upward_server::api::AppState>,
    pub config: Config,
    handle: actix_web::dev::ServerHandle,
    pub database: Arc<TestDatabase>,
    /// `http://127.0.0.1:PORT` of the separate metrics listener, when the configuration asks for one.
    pub metrics_base: Option<String>,
}

/// An organisation created for a test, with an admin token.
#[derive(Clone, Debug)]
pub struct Org {
    pub id: Uuid,
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let database = Arc::new(TestDatabase::create(&backend).await);
        let mut config = test_config(&database.url);
        adjust(&mut config);
        Self::spawn_on(database, config).await
    }

    /// Spawns an app on an existing database (e.g. a second instance, or a restart).
    pub async fn spawn_on(database: Arc<TestDatabase>, config: Config) -> TestApp {
        let app = Application::build(config.clone())
            .await
            .expect("the application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let metrics_base = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
        let state = app.state();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            base,
            client,
            state,
            config,
            handle,
            database,
            metrics_base,
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, token).json(body).send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, token).send().await.unwrap()
    }

    /// Creates an organisation the way the operator does (`upward org create`) and exchanges its credentials for a
    /// token through the API.
    pub async fn org(&self, name: &str) -> Org {
        let created = upward_server::domain::organisations::create(&self.state.db, name)
            .await
            .unwrap();
        let token = self.token(&created.client_id, &created.client_secret).await;
        Org {
            id: created.id,
            client_id: created.client_id,
            client_secret: created.client_secret,
            token,
        }
    }

    pub async fn token(&self, client_id: &str, client_secret: &str) -> String {
        let response = self
            .client
            .post(self.url("/v1/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "token exchange");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Creates a participant through the API and returns it.
    pub async fn participant(&self, token: &str, body: Value) -> Value {
        let response = self.post("/v1/participants", token, &body).await;
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "creating participant: {value}");
        value
    }

    /// A participant with sensible defaults; `email` must be unique per organisation.
    pub async fn person(&self, token: &str, email: &str, level: i32) -> Value {
        self.participant(
            token,
            json!({"email": email, "display_name": email.split('@').next().unwrap(), "level": level}),
        )
        .await
    }

    pub async fn participant_token(&self, admin_token: &str, participant_id: &str) -> String {
        let response = self
            .post(
                &format!("/v1/participants/{participant_id}/tokens"),
                admin_token,
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Every event of the organisation, oldest first.
    pub async fn events(&self, token: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/events?limit=200&cursor={c}"),
                None => "/v1/events?limit=200".into(),
            };
            let page: Value = self.get(&path, token).await.json().await.unwrap();
            all.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return all,
            }
        }
    }
}

/// Asserts a response is an RFC 9457 problem with this status and code, and returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "status; body: {body}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "content type; body: {body}"
    );
    assert_eq!(body["code"], code, "problem code; body: {body}");
    assert_eq!(body["status"], status, "problem status member");
    assert!(body["type"].as_str().unwrap().ends_with(code), "problem type");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "title and detail"
    );
    body
}

impl TestApp {
    /// Sends a request and returns the status and the JSON body (`null` when there is none).
    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = self.request(method, path, token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Sends a request as if the server's clock read `at` (RFC 3339; the server must run with `test_clock`) and
    /// insists on `expected`, returning the body.
    pub async fn ok_at(&self, at: &str, method: Method, path: &str, token: &str, body: Value, expected: u16) -> Value {
        let response = self
            .request(method.clone(), path, token)
            .header("Upward-Test-Clock", at)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expected, "{method} {path} at {at}: {value}");
        value
    }

    /// POSTs and insists on `expected`, returning the body.
    pub async fn ok(&self, path: &str, token: &str, body: Value, expected: u16) -> Value {
        let (status, value) = self.call(Method::POST, path, token, Some(&body)).await;
        assert_eq!(status, expected, "POST {path}: {value}");
        value
    }

    /// Polls a matching run until it succeeds or fails (30 s at most).
    pub async fn wait_for_run(&self, path: &str, token: &str) -> Value {
        for _ in 0..600 {
            let (status, run) = self.call(Method::GET, path, token, None).await;
            assert_eq!(status, 200, "{run}");
            if run["state"] == "succeeded" || run["state"] == "failed" {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the run at {path} did not finish");
    }

    /// Calls with any method and insists on `expected`, returning the body.
    pub async fn ok_with(&self, method: Method, path: &str, token: &str, body: Value, expected: u16) -> Value {
        let (status, value) = self.call(method.clone(), path, token, Some(&body)).await;
        assert_eq!(status, expected, "{method} {path}: {value}");
        value
    }

    /// A token for a participant acting as a programme manager.
    pub async fn manager_token(&self, admin_token: &str, participant_id: &str) -> String {
        let body = self
            .ok(
                &format!("/v1/participants/{participant_id}/tokens"),
                admin_token,
                json!({"role": "programme_manager"}),
                201,
            )
            .await;
        body["access_token"].as_str().unwrap().to_string()
    }
}

/// A participant with their token.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    pub token: String,
}

/// A running programme with a manager, an active pair (mentor junior to mentee, different departments) and the
/// tokens of everyone: the starting point of most programme tests, built through the public API.
pub struct Cohort {
    pub org: Org,
    pub programme: String,
    pub manager: Person,
    pub mentor: Person,
    pub mentee: Person,
    pub pair: String,
}

impl TestApp {
    pub async fn person_in(&self, org: &Org, email: &str, level: i32, department: &str) -> Person {
        let p = self
            .participant(
                &org.token,
                json!({"email": email, "display_name": email.split('@').next().unwrap(), "level": level, "department": department}),
            )
            .await;
        let id = p["id"].as_str().unwrap().to_string();
        let token = self.participant_token(&org.token, &id).await;
        Person { id, token }
    }

    /// A programme in `enrolling` with the given manager and a few topics; returns its id.
    pub async fn enrolling_programme(&self, org: &Org, manager: &Person, extra: Value) -> String {
        let mut body = json!({
            "name": "Digital fluency",
            "goals": ["digital fluency"],
            "topics": ["AI tools", "social media", "hybrid work"],
            "ground_rules": {"off_limit_topics": ["salaries"], "meeting_cadence_days": 14, "target_sessions": 6},
            "starts_on": "2026-11-01",
            "ends_on": "2027-06-30",
            "managers": [manager.id],
        });
        if let (Some(target), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                target.insert(k.clone(), v.clone());
            }
        }
        let programme = self.ok("/v1/programmes", &org.token, body, 201).await;
        let id = programme["id"].as_str().unwrap().to_string();
        self.ok(
            &format!("/v1/programmes/{id}/transitions"),
            &org.token,
            json!({"to": "enrolling"}),
            200,
        )
        .await;
        id
    }

    /// Enrols a participant themselves.
    pub async fn enrol(&self, programme: &str, person: &Person, role: &str) -> Value {
        self.ok(
            &format!("/v1/programmes/{programme}/enrolments"),
            &person.token,
            json!({"role": role, "topics": ["AI tools"]}),
            201,
        )
        .await
    }

    pub async fn cohort(&self) -> Cohort {
        let org = self.org("Acme").await;
        self.cohort_in(org).await
    }

    pub async fn cohort_in(&self, org: Org) -> Cohort {
        let manager_person = self.person_in(&org, "maya@acme.test", 6, "People").await;
        let manager = Person {
            token: self.manager_token(&org.token, &manager_person.id).await,
            ..manager_person
        };
        let mentor = self.person_in(&org, "mo@acme.test", 2, "Engineering").await;
        let mentee = self.person_in(&org, "erin@acme.test", 9, "Finance").await;
        let programme = self.enrolling_programme(&org, &manager, json!({})).await;
        self.enrol(&programme, &mentor, "mentor").await;
        self.enrol(&programme, &mentee, "mentee").await;
        let pair = self.started_pair(&programme, &manager, &mentor, &mentee, None).await;
        Cohort {
            org,
            programme,
            manager,
            mentor,
            mentee,
            pair,
        }
    }

    /// Proposes a pair of `mentor` and `mentee` (as `manager`) and has both agree, at `at` on a test clock (`None`:
    /// now); returns the pair's id.
    pub async fn started_pair(
        &self,
        programme: &str,
        manager: &Person,
        mentor: &Person,
        mentee: &Person,
        at: Option<&str>,
    ) -> String {
        let pair = self
            .ok(
                &format!("/v1/programmes/{programme}/pairs"),
                &manager.token,
                json!({"mentor_id": mentor.id, "mentee_id": mentee.id}),
                201,
            )
            .await;
        let pair = pair["id"].as_str().unwrap().to_string();
        for who in [mentor, mentee] {
            let path = format!("/v1/pairs/{pair}/agreement");
            match at {
                Some(at) => self.ok_at(at, Method::POST, &path, &who.token, json!({}), 200).await,
                None => self.ok(&path, &who.token, json!({}), 200).await,
            };
        }
        pair
    }

    /// Schedules a session of the pair `hours_from_now` hours ahead (negative: in the past); returns its id.
    pub async fn session(&self, pair: &str, token: &str, hours_from_now: i64) -> String {
        let starts_at = (chrono::Utc::now() + chrono::Duration::hours(hours_from_now)).to_rfc3339();
        let s = self
            .ok(
                &format!("/v1/pairs/{pair}/sessions"),
                token,
                json!({"starts_at": starts_at, "mode": "video", "agenda": ["AI tools"]}),
                201,
            )
            .await;
        s["id"].as_str().unwrap().to_string()
    }
}

/// A plugin component built by `cargo build --target wasm32-wasip2 --release` in `plugins/` (the README's test
/// command builds them first).
pub fn built_plugin(name: &str) -> Vec<u8> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target"));
    let path = target.join("wasm32-wasip2/release").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins first (cd plugins && cargo build --target wasm32-wasip2 --release)",
            path.display()
        )
    })
}

impl TestApp {
    /// Uploads a component as `application/wasm` and waits for it to compile; returns the response status and body.
    pub async fn upload_plugin(&self, token: &str, wasm: &[u8], query: &str) -> (u16, Value) {
        let response = self
            .request(Method::POST, &format!("/v1/plugins?{query}"), token)
            .header("content-type", "application/wasm")
            .header("prefer", "wait=30")
            .body(wasm.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads and insists it is ready. A large component (an 18 MB Python one) can take longer to compile than the
    /// upload waits on a loaded machine: then the `Location` is polled, as the API tells a client to.
    pub async fn ready_plugin(&self, token: &str, wasm: &[u8], query: &str) -> Value {
        let (status, mut plugin) = self.upload_plugin(token, wasm, query).await;
        if status == 202 {
            let path = format!("/v1/plugins/{}", plugin["id"].as_str().unwrap());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
            while plugin["state"] == "compiling" && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                plugin = self.get(&path, token).await.json().await.unwrap();
            }
        } else {
            assert_eq!(status, 201, "upload {query}: {plugin}");
        }
        assert_eq!(plugin["state"], "ready", "{plugin}");
        plugin
    }
}

/// A webhook receiver on loopback: records every request and answers from a script (then 204 by default).
pub struct Receiver {
    pub port: u16,
    state: Arc<ReceiverState>,
    handle: actix_web::dev::ServerHandle,
}

#[derive(Default)]
struct ReceiverState {
    received: std::sync::Mutex<Vec<Received>>,
    replies: std::sync::Mutex<std::collections::VecDeque<Reply>>,
    arrived: tokio::sync::Notify,
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: String,
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Verifies the delivery with the official Standard Webhooks library, as a receiver would.
    pub fn verifies_with(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(self.body.as_bytes(), &self.headers)
            .is_ok()
    }
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: std::time::Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: std::time::Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.to_string();
        self
    }

    pub fn after(mut self, delay: std::time::Duration) -> Reply {
        self.delay = delay;
        self
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let state = Arc::new(ReceiverState::default());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            let state = shared.clone();
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let state = state.clone();
                async move {
                    let mut headers = http::HeaderMap::new();
                    for (name, value) in request.headers() {
                        if let (Ok(n), Ok(v)) = (
                            http::HeaderName::from_bytes(name.as_str().as_bytes()),
                            http::HeaderValue::from_bytes(value.as_bytes()),
                        ) {
                            headers.append(n, v);
                        }
                    }
                    state.received.lock().unwrap().push(Received {
                        path: request.path().to_string(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                        at: std::time::Instant::now(),
                    });
                    state.arrived.notify_waiters();
                    let reply = state
                        .replies
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| Reply::status(204));
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    let mut response =
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
                    for (name, value) in &reply.headers {
                        response.insert_header((*name, value.as_str()));
                    }
                    response.body(reply.body)
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver { port, state, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Answers the next requests with these, in order.
    pub fn reply(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.replies.lock().unwrap().extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: std::time::Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.state.arrived.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let received = self.received();
                assert!(
                    received.len() >= n,
                    "expected {n} deliveries, got {}: {:?}",
                    received.len(),
                    received.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
                );
                return received;
            }
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// A test configuration for webhook delivery: loopback receivers allowed, a compressed retry schedule, a short
/// timeout, and a quick poll.
pub fn with_fast_webhooks(config: &mut Config) {
    config.webhook_allow_private_targets = true;
    config.webhook_retry_schedule = "300ms,600ms".into();
    config.webhook_timeout_seconds = 1;
    config.webhook_poll_interval_ms = 50;
}

impl TestApp {
    /// Polls a delivery log until `done` holds for its page (panics after `within`).
    pub async fn deliveries_until(
        &self,
        endpoint_id: &str,
        token: &str,
        within: std::time::Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let (status, page) = self
                .call(
                    Method::GET,
                    &format!("/v1/webhook-endpoints/{endpoint_id}/deliveries?limit=200"),
                    token,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            let rows = page["data"].as_array().unwrap().clone();
            if done(&rows) {
                return rows;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "deliveries never got there: {rows:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
