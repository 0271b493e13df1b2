//! Upward's server as a library: [`Application::build`] assembles the whole app from a [`Config`] — used by the
//! binary and by every integration test, so tests run exactly what production runs.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod events;
pub mod jobs;
pub mod matching;
pub mod net;
pub mod nul;
pub mod plugins;
pub mod rate_limit;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod webhooks;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{HttpServer, web};

pub use config::Config;
use store::Db;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("database {url}: {source}")]
    Database { url: String, source: store::StoreError },
    #[error("the database schema is {0} migration(s) behind; run `upward migrate` or enable UPWARD_MIGRATE_ON_START")]
    PendingMigrations(usize),
    #[error("redis {url}: {message}")]
    Redis { url: String, message: String },
    #[error("plugin host: {0}")]
    Plugins(String),
    #[error("secrets: {0}")]
    Secrets(#[from] secrets::SecretsError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
}

/// Connects to the database named by the configuration, reporting failures with a redacted URL.
pub async fn connect(config: &Config) -> Result<Db, StartError> {
    Db::connect(&config.database_url, config.database_max_connections)
        .await
        .map_err(|source| StartError::Database {
            url: store::redact_url(&config.database_url),
            source,
        })
}

/// A built, listening, not-yet-running server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: web::Data<api::AppState>,
    jobs: jobs::Jobs,
    /// The separate metrics listener (`UPWARD_METRICS_LISTEN`) and its port.
    metrics: Option<(u16, actix_web::dev::Server)>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        config.validate()?;
        if config.webhook_allow_private_targets || config.allow_insecure_urls {
            tracing::warn!(
                webhook_allow_private_targets = config.webhook_allow_private_targets,
                allow_insecure_urls = config.allow_insecure_urls,
                "outbound connections may reach private, loopback and link-local addresses over plain http (the cloud \
                 metadata service stays refused unless UPWARD_OUTBOUND_ALLOW_CIDRS names it); for tests and local \
                 development only — on premises, list the reachable networks in UPWARD_OUTBOUND_ALLOW_CIDRS instead"
            );
        }
        if config.test_clock {
            tracing::warn!(
                "UPWARD_TEST_CLOCK is on: a request may say what time it is (Upward-Test-Clock) and its records are \
                 stamped with that time; for tests and rehearsals only"
            );
        }
        let db = connect(&config).await?;
        if config.migrate_on_start {
            db.migrate().await.map_err(|source| StartError::Database {
                url: store::redact_url(&config.database_url),
                source,
            })?;
        } else {
            let pending = db.pending_migrations().await.map_err(|source| StartError::Database {
                url: store::redact_url(&config.database_url),
                source,
            })?;
            if pending > 0 {
                return Err(StartError::PendingMigrations(pending));
            }
        }
        let redis = match &config.redis_url {
            None => None,
            Some(url) => {
                let fail = |message: String| StartError::Redis {
                    url: store::redact_url(url),
                    message,
                };
                let client = redis::Client::open(url.as_str()).map_err(|e| fail(e.to_string()))?;
                let manager = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    redis::aio::ConnectionManager::new(client),
                )
                .await
                .map_err(|_| fail("timed out connecting".into()))?
                .map_err(|e| fail(e.to_string()))?;
                Some(manager)
            }
        };
        let secret_box = Arc::new(secrets::SecretBox::from_config(
            config.secrets_key.as_deref(),
            &config.secrets_key_file,
        )?);
        secrets::install(secret_box.clone());
        let auth = auth::Authenticator::new(db.clone(), &config)
            .await
            .map_err(|source| StartError::Database {
                url: store::redact_url(&config.database_url),
                source,
            })?;
        let cache_dir = Some(config.plugin_cache_dir.trim())
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from);
        let host = plugins::Host::with(
            cache_dir,
            (config.plugin_max_memory_mib as usize) << 20,
            net::Guard::for_integrations(&config),
        )
        .map_err(|e| StartError::Plugins(e.to_string()))?;
        let webhooks = webhooks::Wake::new(redis.clone());
        let config = Arc::new(config);
        let state = web::Data::new(api::AppState {
            db: db.clone(),
            auth: Arc::new(auth),
            config: config.clone(),
            redis: redis.clone(),
            plugins: Arc::new(host),
            webhooks,
            secrets: secret_box,
            limiter: Arc::new(rate_limit::Limiter::new(config.rate_limits(), redis.clone())),
            audit: domain::audit::AuditTrail::start(db.clone()),
        });

        let listener = TcpListener::bind(&config.listen).map_err(|source| StartError::Listen {
            address: config.listen.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Listen {
                address: config.listen.clone(),
                source,
            })?
            .port();
        telemetry::metrics::install();
        let metrics = match &config.metrics_listen {
            None => None,
            Some(address) => {
                let listen_error = |source| StartError::Listen {
                    address: address.clone(),
                    source,
                };
                let listener = TcpListener::bind(address).map_err(listen_error)?;
                let port = listener.local_addr().map_err(listen_error)?.port();
                let scrape_state = state.clone();
                let server = HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(scrape_state.clone())
                        .route("/metrics", web::get().to(api::health::scrape))
                })
                .workers(1)
                .listen(listener)
                .map_err(listen_error)?
                .run();
                Some((port, server))
            }
        };
        let published = api::PublishedSpec::new(&api::openapi());
        let app_state = state.clone();
        let mut server = HttpServer::new(move || api::app(app_state.clone(), published.clone())).shutdown_timeout(30);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartError::Listen {
                address: config.listen.clone(),
                source,
            })?
            .run();
        let jobs = jobs::Jobs::start(state.clone().into_inner());
        Ok(Application {
            port,
            server,
            state,
            jobs,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate metrics listener, when one is configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn state(&self) -> web::Data<api::AppState> {
        self.state.clone()
    }

    /// A handle that stops the server gracefully (as SIGTERM does).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (SIGTERM, SIGINT, or a handle), finishing in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let result = self.server.await;
        self.jobs.stop().await;
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        result
    }
}
