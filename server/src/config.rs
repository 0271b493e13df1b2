//! Configuration: built-in defaults, then `upward.toml` (if present, or the file named by `UPWARD_CONFIG`), then
//! `UPWARD_*` environment variables, later sources winning. Validated once at start-up so a bad value stops the
//! process with one clear line.

use std::net::SocketAddr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogFormat {
    Text,
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("log_format must be text or json, not {value:?}")),
        }
    }
}

/// `listen` from a string or, as an environment variable like `UPWARD_LISTEN=8080` reads, a number (refused later with
/// the form it should take, instead of a type error).
fn string_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(i64),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(s) => s,
        Raw::Number(n) => n.to_string(),
    })
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://path?mode=rwc` (embedded default) or `postgres://user@host/db`.
    pub database_url: String,
    /// Largest number of pooled database connections (the SQLite writer always has exactly one).
    pub database_max_connections: u32,
    /// Address to listen on, `host:port`.
    #[serde(deserialize_with = "string_or_number")]
    pub listen: String,
    /// `redis://host:port` in production; absent for the embedded mode.
    pub redis_url: Option<String>,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `upward_server=debug,info`.
    pub log: String,
    /// HTTP worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// The `iss` of the tokens this server signs; normally its public base URL.
    pub issuer: String,
    /// Lifetime of access tokens issued at `/v1/oauth/token`.
    pub token_ttl_seconds: u64,
    /// Longest lifetime an admin may ask for when minting a participant token.
    pub participant_token_max_ttl_seconds: u64,
    /// A signing key signs new tokens for this many days, then a fresh key takes over (the old one keeps verifying
    /// until every token it signed has expired).
    pub signing_key_rotation_days: u64,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Accept `http://` and private addresses for outbound URLs (identity-provider JWKS). For tests and local
    /// development only.
    pub allow_insecure_urls: bool,
    /// How long a fetched identity-provider JWKS is trusted before it is fetched again.
    pub idp_jwks_cache_seconds: u64,
    /// Shortest interval between two fetches of one JWKS caused by unknown `kid`s (protects the IdP from junk tokens).
    pub idp_jwks_min_refresh_seconds: u64,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_retention_hours: u64,
    /// The key sealing secrets at rest (HRIS connection secrets): base64 of 32 bytes. Unset: the key file.
    pub secrets_key: Option<String>,
    /// Where the secrets key is kept when `secrets_key` is unset (created, owner-only, on first start).
    pub secrets_key_file: String,
    /// Where compiled plugins are kept across restarts (empty: memory only).
    pub plugin_cache_dir: String,
    /// Let webhook endpoints target `http` URLs and private, loopback or link-local addresses (tests, on-premises).
    pub webhook_allow_private_targets: bool,
    /// Addresses reachable on an organisation's behalf whatever else holds, as comma-separated CIDR blocks (e.g.
    /// `10.20.0.0/16` for an on-premises directory): the precise alternative to allowing private targets wholesale.
    /// The cloud metadata address is reachable only when named here.
    pub outbound_allow_cidrs: String,
    /// Run the webhook dispatcher in this instance (turn off for instances that only serve the API).
    pub webhook_dispatcher: bool,
    /// How long a receiver has to answer a delivery.
    pub webhook_timeout_seconds: u64,
    /// Waits between attempts, e.g. `5s,5m,30m,2h,5h,10h,10h` (units ms, s, m, h), each jittered by ±20%.
    pub webhook_retry_schedule: String,
    /// An endpoint whose deliveries all fail for this long (no success in between) is disabled.
    pub webhook_disable_after_seconds: u64,
    /// Requests in flight at once, over all endpoints, per instance.
    pub webhook_concurrency: usize,
    /// Requests in flight at once to one endpoint, per instance.
    pub webhook_endpoint_concurrency: usize,
    /// How often the dispatcher looks for due work when nothing wakes it.
    pub webhook_poll_interval_ms: u64,
    /// Finished deliveries and their attempts are deleted after this many days.
    pub webhook_retention_days: u64,
    /// `session.upcoming` is emitted this many hours before a session starts.
    pub session_upcoming_hours: u64,
    /// `programme.ending_soon` is emitted this many days before a programme ends.
    pub programme_ending_soon_days: u64,
    /// How often time-based events (upcoming sessions, ending programmes, pairs at risk) are looked for.
    pub timed_events_interval_ms: u64,
    /// How often stale plugin survey scores are looked for and computed.
    pub survey_scoring_interval_ms: u64,
    /// The longest a matching run may compute (scoring and assignment); past it the run fails and says so. Must stay
    /// under the 15 minutes after which housekeeping counts a run as abandoned.
    pub matching_run_timeout_ms: u64,
    /// An OpenTelemetry collector's OTLP/HTTP address (`http://collector:4318`, or the full `…/v1/traces` URL): spans
    /// of requests, job steps and outbound calls are exported there. Unset: no traces are exported.
    pub otlp_endpoint: Option<String>,
    /// A separate `host:port` serving only `GET /metrics` (Prometheus), without a token: bind it where only the
    /// scraper reaches. Unset: no separate listener.
    pub metrics_listen: Option<String>,
    /// A bearer token that reads `GET /metrics` on the main address. Unset: `/metrics` is not served there.
    pub metrics_token: Option<String>,
    /// The smallest group of people a figure broken down by a special-category attribute is reported for; smaller
    /// groups are suppressed, not rounded.
    pub min_group_size: u64,
    /// Lets a request name the time it runs at (`Upward-Test-Clock`), for tests and rehearsals; never in production.
    pub test_clock: bool,
    /// How often due scheduled HRIS syncs, and syncs a stopped instance left, are looked for.
    pub hris_sync_interval_ms: u64,
    /// The longest an HRIS sync may spend reading the directory.
    pub hris_sync_budget_seconds: u64,
    /// How long a running HRIS sync stays claimed without news from its instance; after that another instance (or
    /// this one, restarted) takes it over. Longer than one connector invocation can last.
    pub hris_sync_lease_seconds: u64,
    /// Failed authentications allowed per client id per minute, in a burst; past it the client id is locked out,
    /// first for `rate_limit_lockout_seconds`, then twice as long at each further lock-out.
    pub rate_limit_auth_failures_per_client: u64,
    /// Failed authentications (client credentials or bearer tokens) allowed per source address per minute.
    pub rate_limit_auth_failures_per_address: u64,
    pub rate_limit_lockout_seconds: u64,
    /// The longest lock-out.
    pub rate_limit_max_lockout_seconds: u64,
    /// Requests per authenticated client (an organisation's client, or a participant) per minute, in a burst; 0: no
    /// quota. Shared by every instance through Redis when configured.
    pub rate_limit_requests_per_minute: u64,
    /// Largest plugin component accepted, in bytes (components built from Python or JavaScript are 10–20 MB).
    pub plugin_max_upload_bytes: usize,
    /// Platform maximums of the per-invocation limits an organisation may set.
    pub plugin_max_timeout_ms: u64,
    pub plugin_max_memory_mib: u64,
    pub plugin_max_fuel_per_item: u64,
    pub plugin_max_output_kib: u64,
    pub plugin_max_log_kib: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://upward.db?mode=rwc".into(),
            database_max_connections: 16,
            listen: "127.0.0.1:8080".into(),
            redis_url: None,
            migrate_on_start: true,
            log_format: LogFormat::Text,
            log: "info".into(),
            workers: None,
            issuer: "http://127.0.0.1:8080".into(),
            token_ttl_seconds: 900,
            participant_token_max_ttl_seconds: 86_400,
            signing_key_rotation_days: 30,
            max_body_bytes: 1024 * 1024,
            allow_insecure_urls: false,
            idp_jwks_cache_seconds: 600,
            idp_jwks_min_refresh_seconds: 5,
            idempotency_retention_hours: 24,
            secrets_key: None,
            secrets_key_file: "upward-secrets.key".into(),
            plugin_cache_dir: "upward-plugin-cache".into(),
            webhook_allow_private_targets: false,
            outbound_allow_cidrs: String::new(),
            webhook_dispatcher: true,
            webhook_timeout_seconds: 15,
            webhook_retry_schedule: "5s,5m,30m,2h,5h,10h,10h".into(),
            webhook_disable_after_seconds: 5 * 86_400,
            webhook_concurrency: 200,
            webhook_endpoint_concurrency: 20,
            webhook_poll_interval_ms: 1000,
            webhook_retention_days: 30,
            session_upcoming_hours: 24,
            programme_ending_soon_days: 14,
            timed_events_interval_ms: 60_000,
            survey_scoring_interval_ms: 2_000,
            matching_run_timeout_ms: 300_000,
            min_group_size: 5,
            test_clock: false,
            metrics_listen: None,
            otlp_endpoint: None,
            metrics_token: None,
            hris_sync_interval_ms: 30_000,
            hris_sync_budget_seconds: 1_800,
            hris_sync_lease_seconds: 120,
            rate_limit_auth_failures_per_client: 10,
            rate_limit_auth_failures_per_address: 60,
            rate_limit_lockout_seconds: 1,
            rate_limit_max_lockout_seconds: 900,
            rate_limit_requests_per_minute: 0,
            plugin_max_upload_bytes: 64 << 20,
            plugin_max_timeout_ms: 30_000,
            plugin_max_memory_mib: 256,
            plugin_max_fuel_per_item: 1_000_000,
            plugin_max_output_kib: 64 << 10,
            plugin_max_log_kib: 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: {field}: {message}")]
    Invalid { field: &'static str, message: String },
}

impl Config {
    /// Loads defaults < `upward.toml` (or `UPWARD_CONFIG`) < `UPWARD_*` environment variables.
    pub fn load() -> Result<Config, ConfigError> {
        let file = match std::env::var("UPWARD_CONFIG") {
            // A file named on purpose must exist; the default one is optional.
            Ok(named) if !std::path::Path::new(&named).is_file() => {
                return Err(ConfigError::Invalid {
                    field: "UPWARD_CONFIG",
                    message: format!("{named} is not a readable file"),
                });
            }
            Ok(named) => named,
            Err(_) => "upward.toml".into(),
        };
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            // `UPWARD_TEST_*` belong to the test suite and `UPWARD_CONFIG` names the file; neither is a setting.
            .merge(Env::prefixed("UPWARD_").filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key != "config" && !key.starts_with("test_")
            }))
            .extract()
            .map_err(|e| ConfigError::Load(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Every setting with its default, as `UPWARD_*` variables (for `--help`).
    pub fn documented() -> Vec<(String, String)> {
        let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
        defaults
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| {
                let shown = match value {
                    serde_json::Value::Null => "unset".to_string(),
                    serde_json::Value::String(s) if s.is_empty() => "empty".to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (format!("UPWARD_{}", key.to_ascii_uppercase()), shown)
            })
            .collect()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| {
            Err(ConfigError::Invalid {
                field,
                message: message.to_string(),
            })
        };
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres:")
            || self.database_url.starts_with("postgresql:"))
        {
            return invalid("UPWARD_DATABASE_URL", "must start with sqlite:// or postgres://");
        }
        if self.listen.parse::<SocketAddr>().is_err() {
            // A name (`localhost:8099`) is fine when it resolves; a bare port is the common slip.
            use std::net::ToSocketAddrs;
            match self.listen.to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(_)) => {}
                _ if self.listen.parse::<u16>().is_ok() => {
                    return invalid(
                        "UPWARD_LISTEN",
                        &format!(
                            "must be host:port, e.g. 127.0.0.1:{} (a port alone is not enough)",
                            self.listen
                        ),
                    );
                }
                _ => {
                    return invalid(
                        "UPWARD_LISTEN",
                        "must be host:port, e.g. 127.0.0.1:8080 or localhost:8080",
                    );
                }
            }
        }
        check_log_filter(&self.log).map_err(|message| ConfigError::Invalid {
            field: "UPWARD_LOG",
            message,
        })?;
        match reqwest::Url::parse(&self.issuer) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
            _ => {
                return invalid(
                    "UPWARD_ISSUER",
                    "must be the server's public base URL, e.g. https://upward.example.com",
                );
            }
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return invalid("UPWARD_REDIS_URL", "must start with redis:// or rediss://");
        }
        if self.token_ttl_seconds < 60 || self.token_ttl_seconds > 86_400 {
            return invalid("UPWARD_TOKEN_TTL_SECONDS", "must be between 60 and 86400");
        }
        if self.participant_token_max_ttl_seconds < 60 {
            return invalid("UPWARD_PARTICIPANT_TOKEN_MAX_TTL_SECONDS", "must be at least 60");
        }
        if self.signing_key_rotation_days == 0 {
            return invalid("UPWARD_SIGNING_KEY_ROTATION_DAYS", "must be at least 1");
        }
        if !(1..=4096).contains(&self.plugin_max_memory_mib) {
            return invalid("UPWARD_PLUGIN_MAX_MEMORY_MIB", "must be between 1 and 4096");
        }
        if self.plugin_max_timeout_ms == 0 || self.plugin_max_fuel_per_item == 0 || self.plugin_max_output_kib == 0 {
            return invalid("UPWARD_PLUGIN_MAX_*", "plugin maximums must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            return invalid("UPWARD_MAX_BODY_BYTES", "must be at least 1024");
        }
        if self.database_max_connections == 0 {
            return invalid("UPWARD_DATABASE_MAX_CONNECTIONS", "must be at least 1");
        }
        if self.workers == Some(0) {
            return invalid("UPWARD_WORKERS", "must be at least 1");
        }
        if let Err(message) = crate::net::Guard::parse_allowed(&self.outbound_allow_cidrs) {
            return invalid("UPWARD_OUTBOUND_ALLOW_CIDRS", &message);
        }
        if let Err(message) = crate::webhooks::schedule::RetrySchedule::parse(&self.webhook_retry_schedule) {
            return invalid("UPWARD_WEBHOOK_RETRY_SCHEDULE", &message);
        }
        if !(1..=60).contains(&self.webhook_timeout_seconds) {
            return invalid("UPWARD_WEBHOOK_TIMEOUT_SECONDS", "must be between 1 and 60");
        }
        if self.webhook_concurrency == 0 || self.webhook_endpoint_concurrency == 0 {
            return invalid("UPWARD_WEBHOOK_*CONCURRENCY", "must be at least 1");
        }
        if self.webhook_poll_interval_ms < 10 {
            return invalid("UPWARD_WEBHOOK_POLL_INTERVAL_MS", "must be at least 10");
        }
        if self.webhook_retention_days == 0 || self.webhook_disable_after_seconds == 0 {
            return invalid(
                "UPWARD_WEBHOOK_RETENTION_DAYS",
                "retention and disable-after must be positive",
            );
        }
        if let Some(key) = &self.secrets_key {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD.decode(key.trim());
            if decoded.map(|k| k.len()) != Ok(32) {
                return invalid(
                    "UPWARD_SECRETS_KEY",
                    "must be base64 of 32 bytes (e.g. `openssl rand -base64 32`)",
                );
            }
        }
        if !(1..=600_000).contains(&self.matching_run_timeout_ms) {
            return invalid(
                "UPWARD_MATCHING_RUN_TIMEOUT_MS",
                "must be between 1 and 600000 (ten minutes)",
            );
        }
        if let Some(endpoint) = &self.otlp_endpoint
            && !reqwest::Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return invalid(
                "UPWARD_OTLP_ENDPOINT",
                "must be an http(s) URL, e.g. http://127.0.0.1:4318",
            );
        }
        if self.metrics_token.as_deref().is_some_and(|t| t.len() < 16) {
            return invalid("UPWARD_METRICS_TOKEN", "must be at least 16 characters");
        }
        if !(2..=1000).contains(&self.min_group_size) {
            return invalid("UPWARD_MIN_GROUP_SIZE", "must be between 2 and 1000");
        }
        if self.hris_sync_interval_ms < 10 {
            return invalid("UPWARD_HRIS_SYNC_INTERVAL_MS", "must be at least 10");
        }
        if self.hris_sync_budget_seconds == 0 {
            return invalid("UPWARD_HRIS_SYNC_BUDGET_SECONDS", "must be at least 1");
        }
        if self.hris_sync_lease_seconds.saturating_mul(1000) <= self.plugin_max_timeout_ms {
            return invalid(
                "UPWARD_HRIS_SYNC_LEASE_SECONDS",
                "must be longer than UPWARD_PLUGIN_MAX_TIMEOUT_MS (one connector invocation)",
            );
        }
        if self.survey_scoring_interval_ms < 10 {
            return invalid("UPWARD_SURVEY_SCORING_INTERVAL_MS", "must be at least 10");
        }
        if self.timed_events_interval_ms < 10 {
            return invalid("UPWARD_TIMED_EVENTS_INTERVAL_MS", "must be at least 10");
        }
        if self.session_upcoming_hours > 24 * 365 || self.programme_ending_soon_days > 3650 {
            return invalid(
                "UPWARD_SESSION_UPCOMING_HOURS",
                "lead times must be under a year (ten for programmes)",
            );
        }
        if self.rate_limit_auth_failures_per_client == 0 || self.rate_limit_auth_failures_per_address == 0 {
            return invalid(
                "UPWARD_RATE_LIMIT_AUTH_FAILURES_PER_CLIENT",
                "failed-authentication allowances must be at least 1 per minute",
            );
        }
        if self.rate_limit_lockout_seconds == 0 || self.rate_limit_max_lockout_seconds < self.rate_limit_lockout_seconds
        {
            return invalid(
                "UPWARD_RATE_LIMIT_LOCKOUT_SECONDS",
                "must be at least 1, and at most UPWARD_RATE_LIMIT_MAX_LOCKOUT_SECONDS",
            );
        }
        if self.issuer.trim().is_empty() {
            return invalid("UPWARD_ISSUER", "must not be empty");
        }
        Ok(())
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A figment error as one line; an unknown setting names the nearest known one instead of listing them all.
fn describe(error: figment::Error) -> String {
    use figment::error::Kind;
    let source = error.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
    let from_env = source.to_ascii_lowercase().contains("environment");
    let shown = |key: &str| {
        if from_env {
            format!("UPWARD_{}", key.to_ascii_uppercase())
        } else {
            format!("`{key}`")
        }
    };
    match &error.kind {
        Kind::UnknownField(field, expected) => {
            let nearest = expected
                .iter()
                .map(|candidate| (edit_distance(field, candidate), *candidate))
                .min()
                .filter(|(distance, _)| *distance <= 3.max(field.len() / 3));
            match nearest {
                Some((_, candidate)) => format!(
                    "{} (in {source}) is not a setting; did you mean {}?",
                    shown(field),
                    shown(candidate)
                ),
                None => format!(
                    "{} (in {source}) is not a setting; `upward --help` lists them",
                    shown(field)
                ),
            }
        }
        _ => {
            let key = error.path.join(".");
            let message = one_line(&error.to_string());
            if key.is_empty() {
                message
            } else {
                format!("{}: {message}", shown(&key))
            }
        }
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// A tracing filter that parses, and whose bare words are levels or targets, not misspelt levels (`wran` would
/// otherwise enable a target named `wran` and silence everything else).
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map_err(|e| format!("{filter:?} is not a log filter ({e}); e.g. info, or upward_server=debug,info"))?;
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit('=').next().unwrap_or(directive).to_ascii_lowercase();
        if LEVELS.contains(&level.as_str()) {
            continue;
        }
        if directive.contains('=') || directive.matches('=').count() > 1 {
            return Err(format!("{directive:?}: the level must be one of {}", LEVELS.join(", ")));
        }
        if let Some(close) = LEVELS.iter().find(|l| edit_distance(&level, l) <= 2) {
            return Err(format!("{directive:?} is not a level; did you mean {close}?"));
        }
    }
    Ok(())
}

impl Config {
    /// The rate limiter's settings.
    pub fn rate_limits(&self) -> crate::rate_limit::Settings {
        use crate::rate_limit::Quota;
        let per_minute = |quota: u64| Quota {
            quota,
            window: std::time::Duration::from_secs(60),
        };
        crate::rate_limit::Settings {
            failures_per_client: per_minute(self.rate_limit_auth_failures_per_client),
            failures_per_address: per_minute(self.rate_limit_auth_failures_per_address),
            first_lockout: std::time::Duration::from_secs(self.rate_limit_lockout_seconds),
            max_lockout: std::time::Duration::from_secs(self.rate_limit_max_lockout_seconds),
            requests_per_client: (self.rate_limit_requests_per_minute > 0)
                .then(|| per_minute(self.rate_limit_requests_per_minute)),
        }
    }

    /// The dispatcher's settings.
    pub fn webhook_settings(&self) -> crate::webhooks::dispatcher::Settings {
        crate::webhooks::dispatcher::Settings {
            timeout: std::time::Duration::from_secs(self.webhook_timeout_seconds),
            // Checked by `validate`.
            schedule: crate::webhooks::schedule::RetrySchedule::parse(&self.webhook_retry_schedule).unwrap_or_default(),
            disable_after: chrono::Duration::seconds(self.webhook_disable_after_seconds.min(i64::MAX as u64) as i64),
            concurrency: self.webhook_concurrency,
            endpoint_concurrency: self.webhook_endpoint_concurrency,
            poll_interval: std::time::Duration::from_millis(self.webhook_poll_interval_ms),
            guard: crate::net::Guard::for_webhooks(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_misspellings_are_named() {
        let named = Config {
            listen: "localhost:8099".into(),
            ..Config::default()
        };
        assert!(named.validate().is_ok());
        assert_eq!(edit_distance("lsten", "listen"), 1);
        assert!(check_log_filter("upward_server=debug,info").is_ok());
        assert!(check_log_filter("warn").is_ok());
        assert!(check_log_filter("wran").unwrap_err().contains("did you mean warn"));
        assert!(check_log_filter("upward_server=loud").is_err());
    }
}
