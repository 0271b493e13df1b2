//! HRIS connections: which `hris-connector` release reads the organisation's directory, with the configuration it
//! reads it with (checked against the release's schema), the secrets it may ask the host for (write-only: sealed
//! with the server's key before they are stored, never returned, never in an event or a log — a connection shows
//! their names only) and an optional daily schedule in a time zone.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::plugins::{self, Plugin};
use super::{DomainError, DomainResult, Violations};
use crate::events::{self, EventPayload};
use crate::plugins::Kind;
use crate::secrets::SecretBox;
use crate::store::{self, Scope};

/// When a connection syncs by itself: every day at a local time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"daily_at": "02:00", "timezone": "Europe/London"}))]
pub struct Schedule {
    /// `HH:MM`, 24-hour clock.
    pub daily_at: String,
    /// An IANA time zone, e.g. `Europe/London`.
    pub timezone: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9d00-7000-8000-0000000000c1",
    "name": "BambooHR",
    "connector": "http-json-hris@0.1.0",
    "config": {"base_url": "https://api.bamboohr.example/v1", "page_size": 500},
    "secret_names": ["token"],
    "schedule": {"daily_at": "02:00", "timezone": "Europe/London"},
    "enabled": true,
    "version": 1,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct HrisConnection {
    pub id: Uuid,
    pub name: String,
    /// The `hris_connector` plugin release, `name@version`.
    pub connector: String,
    /// The connector's configuration (checked against the release's `config_schema`).
    pub config: Value,
    /// The names of the secrets it holds (their values are never shown).
    pub secret_names: Vec<String>,
    pub schedule: Option<Schedule>,
    pub enabled: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl HrisConnection {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }
}

/// The body of `POST /v1/hris-connections`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "BambooHR", "connector": "http-json-hris@0.1.0",
    "config": {"base_url": "https://api.bamboohr.example/v1"}, "secrets": {"token": "…"},
    "schedule": {"daily_at": "02:00", "timezone": "Europe/London"}}))]
pub struct CreateHrisConnection {
    pub name: String,
    pub connector: String,
    /// Absent: the release's own configuration.
    #[serde(default)]
    pub config: Option<Value>,
    /// Name → value; write-only.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub schedule: Option<Schedule>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// The body of `PATCH /v1/hris-connections/{id}`: absent fields stay. `secrets` merges: a value sets a secret,
/// `null` removes it. `schedule: null` removes the schedule.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"secrets": {"token": "rotated-token", "old": null}, "schedule": null}))]
pub struct UpdateHrisConnection {
    pub name: Option<String>,
    pub connector: Option<String>,
    pub config: Option<Value>,
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    pub secrets: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, deserialize_with = "super::participants::present")]
    #[schema(value_type = Option<Schedule>)]
    pub schedule: Option<Option<Schedule>>,
    pub enabled: Option<bool>,
}

const MAX_SECRETS: usize = 20;

fn check_secret(v: &mut Violations, name: &str, value: Option<&str>) {
    let field = format!("secrets.{name}");
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        v.add(&field, "invalid_name", "1 to 64 letters, digits, `_` or `-`");
    }
    if let Some(value) = value
        && (value.is_empty() || value.len() > 8192)
    {
        v.add(&field, "invalid_length", "1 to 8192 characters");
    }
}

fn check_schedule(v: &mut Violations, schedule: &Option<Schedule>) {
    if let Some(s) = schedule {
        if NaiveTime::parse_from_str(&s.daily_at, "%H:%M").is_err() {
            v.add("schedule.daily_at", "invalid_format", "`HH:MM`, 24-hour clock");
        }
        if s.timezone.parse::<chrono_tz::Tz>().is_err() {
            v.add(
                "schedule.timezone",
                "unknown_timezone",
                "an IANA time zone, e.g. `Europe/London`",
            );
        }
    }
}

/// The connector release, ready and of the right kind, with `config` checked against its schema.
async fn connector<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    v: &mut Violations,
    reference: &str,
    config: Option<&Value>,
) -> DomainResult<Option<Plugin>> {
    match plugins::resolve(scope, reference, Kind::HrisConnector, "connector").await {
        Ok(plugin) => {
            if let Some(config) = config {
                plugins::config_against_schema(v, &plugin.config_schema, config, "config_schema");
            }
            Ok(Some(plugin))
        }
        Err(DomainError::Invalid(errors)) => {
            for e in errors {
                v.push(e);
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

pub async fn create<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    secret_box: &SecretBox,
    cmd: CreateHrisConnection,
) -> DomainResult<HrisConnection> {
    let mut v = Violations::default();
    let name = super::required_text(&mut v, "name", &cmd.name, 100);
    let plugin = connector(scope, &mut v, cmd.connector.trim(), cmd.config.as_ref()).await?;
    if cmd.secrets.len() > MAX_SECRETS {
        v.add("secrets", "too_many", format!("at most {MAX_SECRETS} secrets"));
    }
    for (k, value) in &cmd.secrets {
        check_secret(&mut v, k, Some(value));
    }
    check_schedule(&mut v, &cmd.schedule);
    v.into_result()?;
    let plugin = plugin.ok_or(DomainError::Invalid(Vec::new()))?;
    let now = store::now();
    let connection = HrisConnection {
        id: store::new_id(),
        name,
        connector: plugin.reference.clone(),
        config: cmd.config.unwrap_or_else(|| plugin.config.clone()),
        secret_names: cmd.secrets.keys().cloned().collect(),
        schedule: cmd.schedule,
        enabled: cmd.enabled,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let sealed = (!cmd.secrets.is_empty()).then(|| secret_box.seal(&cmd.secrets));
    scope.insert_hris_connection(&connection, sealed.as_deref()).await?;
    events::append(scope, EventPayload::HrisConnectionCreated(connection.clone())).await?;
    Ok(connection)
}

pub async fn get<C: ConnectionTrait>(scope: &Scope<'_, C>, id: Uuid) -> DomainResult<HrisConnection> {
    scope
        .hris_connection(id)
        .await?
        .ok_or(DomainError::NotFound("HRIS connection"))
}

pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<HrisConnection>, bool)> {
    Ok(super::page(scope.hris_connections(after, limit + 1).await?, limit))
}

pub async fn update<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    secret_box: &SecretBox,
    id: Uuid,
    if_match: Option<&str>,
    cmd: UpdateHrisConnection,
) -> DomainResult<HrisConnection> {
    let (current, sealed) = scope
        .lock_hris_connection(id)
        .await?
        .ok_or(DomainError::NotFound("HRIS connection"))?;
    super::check_if_match(&current.etag(), if_match)?;
    let mut next = current.clone();
    let mut v = Violations::default();
    if let Some(name) = &cmd.name {
        next.name = super::required_text(&mut v, "name", name, 100);
    }
    if cmd.connector.is_some() || cmd.config.is_some() {
        let reference = cmd
            .connector
            .as_deref()
            .unwrap_or(&current.connector)
            .trim()
            .to_string();
        // The configuration is merge-patched (RFC 7396): keys not named keep their values.
        let mut config = current.config.clone();
        if let Some(patch) = cmd.config.clone() {
            super::merge_patch(&mut config, patch);
        }
        if let Some(plugin) = connector(scope, &mut v, &reference, Some(&config)).await? {
            next.connector = plugin.reference;
            next.config = config;
        }
    }
    let mut secrets = match &sealed {
        Some(s) => secret_box
            .open(s)
            .map_err(|e| DomainError::Store(store::StoreError::Corrupt(e.to_string())))?,
        None => BTreeMap::new(),
    };
    let secrets_changed = cmd.secrets.is_some();
    for (k, value) in cmd.secrets.unwrap_or_default() {
        check_secret(&mut v, &k, value.as_deref());
        match value {
            Some(value) => secrets.insert(k, value),
            None => secrets.remove(&k),
        };
    }
    if secrets.len() > MAX_SECRETS {
        v.add("secrets", "too_many", format!("at most {MAX_SECRETS} secrets"));
    }
    if let Some(schedule) = cmd.schedule {
        check_schedule(&mut v, &schedule);
        next.schedule = schedule;
    }
    if let Some(enabled) = cmd.enabled {
        next.enabled = enabled;
    }
    v.into_result()?;
    next.secret_names = secrets.keys().cloned().collect();
    if next == current && !secrets_changed {
        return Ok(current);
    }
    next.version += 1;
    next.updated_at = store::now();
    let sealed = if secrets_changed {
        (!secrets.is_empty()).then(|| secret_box.seal(&secrets))
    } else {
        sealed
    };
    if !scope
        .update_hris_connection(&next, sealed.as_deref(), current.version)
        .await?
    {
        return Err(DomainError::PreconditionFailed);
    }
    events::append(scope, EventPayload::HrisConnectionUpdated(next.clone())).await?;
    Ok(next)
}

pub async fn delete<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    if_match: Option<&str>,
) -> DomainResult<HrisConnection> {
    let (connection, _) = scope
        .lock_hris_connection(id)
        .await?
        .ok_or(DomainError::NotFound("HRIS connection"))?;
    super::check_if_match(&connection.etag(), if_match)?;
    scope.delete_hris_connection(id).await?;
    events::append(scope, EventPayload::HrisConnectionDeleted(connection.clone())).await?;
    Ok(connection)
}

/// The connections that name `reference` (a release they use cannot be deleted).
pub async fn using<C: ConnectionTrait>(scope: &Scope<'_, C>, reference: &str) -> DomainResult<Vec<Uuid>> {
    Ok(scope
        .hris_connections(None, 10_000)
        .await?
        .into_iter()
        .filter(|c| c.connector == reference)
        .map(|c| c.id)
        .collect())
}
