//! The plugin registry: an organisation's uploaded components, each a release `name@version` of one kind (matcher,
//! survey scorer, HRIS connector). An upload is checked at once (is it a component of the declared world, of a
//! supported contract version, importing nothing the host lacks?) and recorded `compiling`; compiling happens on the
//! blocking pool and moves it to `ready` or `failed`. Programmes name a ready release in `matching.policy` /
//! `survey_scorer`; a release in use cannot be deleted. Also here: the organisation's plugin limits (within the
//! platform's maximums) and the record of every invocation.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DomainError, DomainResult, Violations};
use crate::config::Config;
use crate::events::{self, EventPayload};
use crate::plugins::{self, Invocation, Kind, Limits, Usage, inspect};
use crate::store::{self, Scope};

/// The name programmes use for the built-in matching policy and survey scorer.
pub const BUILTIN: &str = "builtin";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Uploaded and checked; the host is compiling it.
    Compiling,
    Ready,
    /// It did not compile or link as its kind (`error` says why).
    Failed,
}

impl PluginState {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Compiling => "compiling",
            PluginState::Ready => "ready",
            PluginState::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-7777-7000-8000-000000000001",
    "name": "acme-matcher",
    "version": "1.2.0",
    "reference": "acme-matcher@1.2.0",
    "kind": "matcher",
    "description": "Prefers pairs who share a site",
    "state": "ready",
    "sha256": "3f0a…",
    "size_bytes": 83211,
    "contract_version": "0.1.0",
    "imports": ["upward:plugin/log@0.1.0", "upward:plugin/config@0.1.0", "wasi:io/streams@0.2.6"],
    "exports": ["upward:plugin/matching@0.1.0"],
    "allowed_hosts": [],
    "config_schema": {"type": "object", "properties": {"site_bonus": {"type": "number"}}},
    "config": {"site_bonus": 0.5},
    "error": null,
    "compile_ms": 61.5,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:01Z"
}))]
pub struct Plugin {
    pub id: Uuid,
    #[schema(example = "acme-matcher")]
    pub name: String,
    /// Semantic version of this release.
    #[schema(example = "1.2.0")]
    pub version: String,
    /// `name@version`: how a programme names this release.
    #[schema(example = "acme-matcher@1.2.0")]
    pub reference: String,
    pub kind: Kind,
    pub description: Option<String>,
    pub state: PluginState,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    pub size_bytes: u64,
    /// The `upward:plugin` contract version it implements.
    pub contract_version: String,
    /// The component's top-level imports and exports.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// Hosts an HRIS connector may reach (exact names, or `*.example.com`).
    pub allowed_hosts: Vec<String>,
    /// The JSON Schema its configuration must satisfy.
    #[schema(value_type = Object)]
    pub config_schema: Value,
    /// Its configuration, handed to the plugin by the `config` import.
    #[schema(value_type = Object)]
    pub config: Value,
    /// This release's own limits, each within the organisation's (absent fields: the organisation's).
    #[serde(default)]
    pub limits: ReleaseLimits,
    /// Why compiling failed.
    pub error: Option<String>,
    pub compile_ms: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub revision: i32,
}

impl Plugin {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.revision)
    }
}

/// What an upload declares about its component.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "acme-matcher",
    "version": "1.2.0",
    "kind": "matcher",
    "description": "Prefers pairs who share a site",
    "config_schema": {"type": "object", "properties": {"site_bonus": {"type": "number"}}},
    "config": {"site_bonus": 0.5}
}))]
pub struct Manifest {
    /// Lower-case letters, digits and hyphens, starting with a letter (at most 63).
    pub name: String,
    /// A semantic version (`1.2.0`, `2.0.0-rc.1`).
    pub version: String,
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    /// HRIS connectors only: the hosts it may reach.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// A JSON Schema for its configuration (default: any object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config_schema: Option<Value>,
    /// Its initial configuration (default `{}`), checked against `config_schema`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

/// `PATCH /v1/plugins/{id}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"config": {"site_bonus": 0.75}}))]
pub struct UpdatePlugin {
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Replaces the release's own limits (`{}` clears them: the organisation's apply).
    pub limits: Option<ReleaseLimits>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "super::participants::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

/// Checks the manifest field by field, and the component against the declared kind.
fn check_manifest(
    manifest: &Manifest,
    shape: &Result<inspect::Shape, String>,
) -> DomainResult<(Kind, semver::Version, Value, Value, Vec<String>)> {
    let mut v = Violations::default();
    let name = manifest.name.trim();
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        v.add(
            "name",
            "invalid_format",
            "lower-case letters, digits and hyphens, starting with a letter, at most 63",
        );
    }
    if name == BUILTIN {
        v.add("name", "reserved", "`builtin` names the built-in policy");
    }
    let version = semver::Version::parse(manifest.version.trim());
    if let Err(e) = &version {
        v.add("version", "invalid_format", format!("not a semantic version: {e}"));
    }
    let kind = Kind::parse(&manifest.kind);
    if kind.is_none() {
        v.add("kind", "invalid_value", "one of matcher, survey_scorer, hris_connector");
    }
    let mut hosts = Vec::new();
    for (i, host) in manifest.allowed_hosts.iter().enumerate() {
        let h = host.trim().to_ascii_lowercase();
        let bare = h.strip_prefix("*.").unwrap_or(&h);
        let ok = !bare.is_empty()
            && bare.len() <= 253
            && bare.contains('.')
            && bare
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !ok {
            v.add(
                format!("allowed_hosts[{i}]"),
                "invalid_format",
                "a host name such as api.example.com or *.example.com (no scheme, port or path)",
            );
        }
        hosts.push(h);
    }
    if !hosts.is_empty() && kind.is_some_and(|k| k != Kind::HrisConnector) {
        v.add(
            "allowed_hosts",
            "not_allowed",
            "only hris_connector plugins may reach hosts",
        );
    }
    let schema = manifest
        .config_schema
        .clone()
        .unwrap_or_else(|| serde_json::json!({"type": "object"}));
    let config = manifest.config.clone().unwrap_or_else(|| serde_json::json!({}));
    config_against_schema(&mut v, &schema, &config, "config_schema");
    match (kind, shape) {
        (_, Err(message)) => v.add("component", "not_a_component", message.clone()),
        (Some(kind), Ok(shape)) => {
            for problem in inspect::problems(kind, shape) {
                v.add("component", "wrong_world", problem);
            }
        }
        (None, Ok(_)) => {}
    }
    v.into_result()?;
    let (Some(kind), Ok(version)) = (kind, version) else {
        unreachable!("checked above")
    };
    Ok((kind, version, schema, config, hosts))
}

/// Checks the schema is a JSON Schema and the configuration satisfies it.
pub(crate) fn config_against_schema(v: &mut Violations, schema: &Value, config: &Value, schema_field: &str) {
    if !config.is_object() {
        v.add("config", "invalid_type", "must be a JSON object");
        return;
    }
    match jsonschema::validator_for(schema) {
        Err(e) => v.add(schema_field, "invalid_schema", format!("not a valid JSON Schema: {e}")),
        Ok(validator) => {
            for error in validator.iter_errors(config) {
                let path = error.instance_path().to_string();
                let field = if path.is_empty() {
                    "config".to_string()
                } else {
                    format!("config{}", path.replace('/', "."))
                };
                v.add(field, "schema_violation", error.to_string());
            }
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Records an upload (`compiling`) after checking the manifest and the component's shape; the caller compiles it
/// once this commits.
pub async fn upload<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    manifest: Manifest,
    bytes: &[u8],
) -> DomainResult<Plugin> {
    let shape = inspect::shape(bytes);
    let (kind, version, config_schema, config, allowed_hosts) = check_manifest(&manifest, &shape)?;
    let shape = shape.unwrap_or_default();
    let name = manifest.name.trim().to_string();
    let version = version.to_string();
    if scope.plugin_by_reference(&name, &version).await?.is_some() {
        return Err(DomainError::Conflict {
            code: "plugin_version_exists",
            message: format!("{name}@{version} was already uploaded; releases are immutable, upload a new version"),
        });
    }
    let contract_version = shape
        .exports
        .iter()
        .find_map(|e| e.strip_prefix(&format!("upward:plugin/{}@", kind.export())))
        .unwrap_or(plugins::CONTRACT_VERSIONS[0])
        .to_string();
    let now = store::now();
    let plugin = Plugin {
        id: store::new_id(),
        reference: format!("{name}@{version}"),
        name,
        version,
        kind,
        description: super::optional_text(&mut Violations::default(), "description", manifest.description, 500),
        state: PluginState::Compiling,
        sha256: sha256_hex(bytes),
        size_bytes: bytes.len() as u64,
        contract_version,
        imports: shape.imports,
        exports: shape.exports,
        allowed_hosts,
        config_schema,
        config,
        limits: ReleaseLimits::default(),
        error: None,
        compile_ms: None,
        created_at: now,
        updated_at: now,
        revision: 1,
    };
    scope.insert_plugin(&plugin, bytes).await?;
    events::append(scope, EventPayload::PluginUploaded(plugin.clone())).await?;
    Ok(plugin)
}

/// Records how compiling ended (`ready`, or `failed` with the reason), with its event.
pub async fn compiled<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    outcome: Result<f64, String>,
) -> DomainResult<Plugin> {
    let current = scope.lock_plugin(id).await?.ok_or(DomainError::NotFound("plugin"))?;
    if current.state != PluginState::Compiling {
        return Ok(current);
    }
    let mut next = current.clone();
    next.revision += 1;
    next.updated_at = store::now();
    let event = match outcome {
        Ok(ms) => {
            next.state = PluginState::Ready;
            next.compile_ms = Some(ms);
            EventPayload::PluginReady
        }
        Err(message) => {
            next.state = PluginState::Failed;
            next.error = Some(message);
            EventPayload::PluginFailed
        }
    };
    if !scope.update_plugin(&next, current.revision).await? {
        return Err(DomainError::PreconditionFailed);
    }
    events::append(scope, event(next.clone())).await?;
    Ok(next)
}

pub async fn get<C: ConnectionTrait>(scope: &Scope<'_, C>, id: Uuid) -> DomainResult<Plugin> {
    scope.plugin(id).await?.ok_or(DomainError::NotFound("plugin"))
}

/// The component's bytes (download, and compiling on an instance that has no artifact yet).
pub async fn component<C: ConnectionTrait>(scope: &Scope<'_, C>, id: Uuid) -> DomainResult<Vec<u8>> {
    scope.plugin_component(id).await?.ok_or(DomainError::NotFound("plugin"))
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PluginFilter {
    pub kind: Option<Kind>,
    pub name: Option<String>,
    pub state: Option<PluginState>,
}

pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    filter: &PluginFilter,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Plugin>, bool)> {
    let rows = scope.plugins(filter, after, limit + 1).await?;
    Ok(super::page(rows, limit))
}

pub async fn update<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    config: &Config,
    id: Uuid,
    if_match: Option<&str>,
    cmd: UpdatePlugin,
) -> DomainResult<Plugin> {
    let current = scope.lock_plugin(id).await?.ok_or(DomainError::NotFound("plugin"))?;
    super::check_if_match(&current.etag(), if_match)?;
    let mut next = current.clone();
    let mut v = Violations::default();
    if let Some(patch) = cmd.config {
        // Merge-patched (RFC 7396): keys not named keep their values, `null` removes one.
        let mut config = current.config.clone();
        super::merge_patch(&mut config, patch);
        config_against_schema(&mut v, &current.config_schema, &config, "config_schema");
        next.config = config;
    }
    if let Some(description) = cmd.description {
        next.description = super::optional_text(&mut v, "description", description, 500);
    }
    if let Some(release_limits) = cmd.limits {
        release_limits.check(&mut v, &limits(scope, config).await?.limits);
        next.limits = release_limits;
    }
    v.into_result()?;
    if next == current {
        return Ok(current);
    }
    next.revision += 1;
    next.updated_at = store::now();
    if !scope.update_plugin(&next, current.revision).await? {
        return Err(DomainError::PreconditionFailed);
    }
    events::append(scope, EventPayload::PluginUpdated(next.clone())).await?;
    if next.config != current.config {
        super::survey_scores::on_plugin_changed(scope, &next.reference).await?;
    }
    Ok(next)
}

/// Deletes a release no programme uses (a programme names it in `matching.policy` or `survey_scorer`).
pub async fn delete<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    if_match: Option<&str>,
) -> DomainResult<Plugin> {
    let plugin = scope.lock_plugin(id).await?.ok_or(DomainError::NotFound("plugin"))?;
    super::check_if_match(&plugin.etag(), if_match)?;
    let mut users = scope.programmes_using_plugin(&plugin.reference).await?;
    users.extend(super::hris_connections::using(scope, &plugin.reference).await?);
    if !users.is_empty() {
        return Err(DomainError::Conflict {
            code: "plugin_in_use",
            message: format!(
                "{} is in use by programme(s) or HRIS connection(s) {}; point them at another release first",
                plugin.reference,
                users.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    scope.delete_plugin(id).await?;
    events::append(scope, EventPayload::PluginDeleted(plugin.clone())).await?;
    Ok(plugin)
}

/// The ready release a programme names, locked so it cannot be deleted while the programme takes it up; `field` is
/// reported with any problem.
pub async fn resolve<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    reference: &str,
    kind: Kind,
    field: &str,
) -> DomainResult<Plugin> {
    let refuse = |code: &str, message: String| DomainError::Invalid(vec![super::FieldError::new(field, code, message)]);
    let Some((name, version)) = reference.split_once('@') else {
        return Err(refuse(
            "invalid_format",
            "`builtin`, or a plugin release as `name@version`".into(),
        ));
    };
    let plugin = scope
        .lock_plugin_by_reference(name, version)
        .await?
        .ok_or_else(|| refuse("unknown_plugin", format!("no plugin {reference} in this organisation")))?;
    if plugin.kind != kind {
        return Err(refuse(
            "wrong_kind",
            format!("{reference} is a {}, not a {}", plugin.kind.as_str(), kind.as_str()),
        ));
    }
    if plugin.state != PluginState::Ready {
        return Err(refuse(
            "plugin_not_ready",
            format!("{reference} is {}", plugin.state.as_str()),
        ));
    }
    Ok(plugin)
}

/// Why a plugin was invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    DryRun,
    MatchingRun,
    SurveyScores,
    HrisSync,
}

/// One invocation of a plugin, kept for its owners.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-7777-7000-8000-0000000000aa",
    "plugin_id": "01936b2e-7777-7000-8000-000000000001",
    "reference": "acme-matcher@1.2.0",
    "purpose": "matching_run",
    "subject_id": "01936b2e-9999-7000-8000-000000000001",
    "outcome": "ok",
    "message": null,
    "usage": {"duration_ms": 48.1, "fuel_used": 9800000, "items": 100000, "logs": [], "logs_truncated": false},
    "created_at": "2026-11-22T09:30:01Z"
}))]
pub struct PluginInvocation {
    pub id: Uuid,
    pub plugin_id: Uuid,
    pub reference: String,
    pub purpose: Purpose,
    /// The matching run, survey or sync it served.
    pub subject_id: Option<Uuid>,
    /// `ok`, or what went wrong: out_of_fuel, timeout, out_of_memory, trap, returned_error, malformed_output.
    #[schema(example = "ok")]
    pub outcome: String,
    pub message: Option<String>,
    pub usage: Usage,
    pub created_at: DateTime<Utc>,
}

/// Records invocations of `plugin`.
pub async fn record<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    plugin: &Plugin,
    purpose: Purpose,
    subject_id: Option<Uuid>,
    invocations: Vec<Invocation>,
) -> DomainResult<Vec<PluginInvocation>> {
    let mut out = Vec::with_capacity(invocations.len());
    for invocation in invocations {
        let (outcome, message) = match invocation.failure {
            None => ("ok".to_string(), None),
            Some((outcome, message)) => (outcome.to_string(), Some(message)),
        };
        crate::telemetry::metrics::plugin_invocation(
            plugin.kind.as_str(),
            &outcome,
            invocation.usage.duration_ms,
            invocation.usage.fuel_used,
        );
        let record = PluginInvocation {
            id: store::new_id(),
            plugin_id: plugin.id,
            reference: plugin.reference.clone(),
            purpose,
            subject_id,
            outcome,
            message,
            usage: invocation.usage,
            created_at: store::now(),
        };
        scope.insert_plugin_invocation(&record).await?;
        out.push(record);
    }
    Ok(out)
}

pub async fn invocations<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    plugin_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<PluginInvocation>, bool)> {
    get(scope, plugin_id).await?;
    let rows = scope.plugin_invocations(plugin_id, after, limit + 1).await?;
    Ok(super::page(rows, limit))
}

/// An organisation's per-invocation plugin limits. Every field is optional on `PUT` (absent: the platform default)
/// and must not exceed the platform's maximum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"timeout_ms": 2000, "memory_mib": 64, "fuel_per_item": 20000, "explain_fuel_per_item": 500000, "output_kib": 16384, "log_kib": 64}))]
pub struct PluginLimits {
    /// Wall-clock budget of one invocation.
    pub timeout_ms: u64,
    /// Linear memory one instance may grow to.
    pub memory_mib: u64,
    /// CPU (fuel) granted per item of a batch, on top of a fixed base.
    pub fuel_per_item: u64,
    /// CPU (fuel) granted per pair a matcher explains (explaining costs an interpreted plugin about ten times what
    /// scoring does).
    #[serde(default = "default_explain_fuel_per_item")]
    pub explain_fuel_per_item: u64,
    /// The largest output an invocation may return.
    pub output_kib: u64,
    /// Log volume kept per invocation.
    pub log_kib: u64,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"timeout_ms": 500, "memory_mib": 32}))]
pub struct SetPluginLimits {
    pub timeout_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub fuel_per_item: Option<u64>,
    pub explain_fuel_per_item: Option<u64>,
    pub output_kib: Option<u64>,
    pub log_kib: Option<u64>,
}

/// The organisation's limits and the platform's ceilings.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "limits": {"timeout_ms": 2000, "memory_mib": 64, "fuel_per_item": 20000, "explain_fuel_per_item": 500000, "output_kib": 16384, "log_kib": 64},
    "maximums": {"timeout_ms": 30000, "memory_mib": 256, "fuel_per_item": 1000000, "explain_fuel_per_item": 1000000, "output_kib": 65536, "log_kib": 1024},
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct PluginLimitsView {
    pub limits: PluginLimits,
    pub maximums: PluginLimits,
    pub updated_at: Option<DateTime<Utc>>,
}

impl PluginLimits {
    pub fn defaults() -> PluginLimits {
        PluginLimits::from_limits(&Limits::default())
    }

    fn from_limits(l: &Limits) -> PluginLimits {
        PluginLimits {
            timeout_ms: l.timeout.as_millis() as u64,
            memory_mib: (l.memory_bytes >> 20) as u64,
            fuel_per_item: l.fuel_per_item,
            explain_fuel_per_item: l.explain_fuel_per_item,
            output_kib: (l.output_bytes >> 10) as u64,
            log_kib: (l.log_bytes >> 10) as u64,
        }
    }

    pub fn maximums(config: &Config) -> PluginLimits {
        PluginLimits {
            timeout_ms: config.plugin_max_timeout_ms,
            memory_mib: config.plugin_max_memory_mib,
            fuel_per_item: config.plugin_max_fuel_per_item,
            explain_fuel_per_item: config.plugin_max_fuel_per_item,
            output_kib: config.plugin_max_output_kib,
            log_kib: config.plugin_max_log_kib,
        }
    }

    /// The host's limits: these values, clamped to the platform's maximums (which may have dropped since they were
    /// set).
    pub fn effective(&self, config: &Config) -> Limits {
        let max = PluginLimits::maximums(config);
        Limits {
            timeout: std::time::Duration::from_millis(self.timeout_ms.min(max.timeout_ms)),
            memory_bytes: (self.memory_mib.min(max.memory_mib) as usize) << 20,
            fuel_per_item: self.fuel_per_item.min(max.fuel_per_item),
            explain_fuel_per_item: self.explain_fuel_per_item.min(max.explain_fuel_per_item),
            output_bytes: (self.output_kib.min(max.output_kib) as usize) << 10,
            log_bytes: (self.log_kib.min(max.log_kib) as usize) << 10,
            ..Limits::default()
        }
    }
}

pub async fn limits<C: ConnectionTrait>(scope: &Scope<'_, C>, config: &Config) -> DomainResult<PluginLimitsView> {
    let (limits, updated_at) = match scope.plugin_limits().await? {
        Some((limits, _, at)) => (limits, Some(at)),
        None => (PluginLimits::defaults(), None),
    };
    Ok(PluginLimitsView {
        limits,
        maximums: PluginLimits::maximums(config),
        updated_at,
    })
}

pub async fn set_limits<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    config: &Config,
    cmd: SetPluginLimits,
) -> DomainResult<PluginLimitsView> {
    let defaults = PluginLimits::defaults();
    let max = PluginLimits::maximums(config);
    let mut v = Violations::default();
    let mut field = |name: &str, value: Option<u64>, default: u64, max: u64| {
        let value = value.unwrap_or(default.min(max));
        if value == 0 || value > max {
            v.add(
                name,
                "out_of_range",
                format!("must be between 1 and the platform maximum, {max}"),
            );
        }
        value
    };
    let limits = PluginLimits {
        timeout_ms: field("timeout_ms", cmd.timeout_ms, defaults.timeout_ms, max.timeout_ms),
        memory_mib: field("memory_mib", cmd.memory_mib, defaults.memory_mib, max.memory_mib),
        fuel_per_item: field(
            "fuel_per_item",
            cmd.fuel_per_item,
            defaults.fuel_per_item,
            max.fuel_per_item,
        ),
        explain_fuel_per_item: field(
            "explain_fuel_per_item",
            cmd.explain_fuel_per_item,
            defaults.explain_fuel_per_item,
            max.explain_fuel_per_item,
        ),
        output_kib: field("output_kib", cmd.output_kib, defaults.output_kib, max.output_kib),
        log_kib: field("log_kib", cmd.log_kib, defaults.log_kib, max.log_kib),
    };
    v.into_result()?;
    let now = store::now();
    scope.put_plugin_limits(&limits, now).await?;
    let view = PluginLimitsView {
        limits,
        maximums: max,
        updated_at: Some(now),
    };
    events::append(scope, EventPayload::PluginLimitsUpdated(view.clone())).await?;
    Ok(view)
}

fn default_explain_fuel_per_item() -> u64 {
    Limits::default().explain_fuel_per_item
}

/// Limits for one release, each within the organisation's: a Python matcher may need more fuel than the
/// organisation's Rust plugins, an untrusted release less time. Absent fields follow the organisation's limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"fuel_per_item": 40000, "explain_fuel_per_item": 600000}))]
pub struct ReleaseLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_per_item: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain_fuel_per_item: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_kib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_kib: Option<u64>,
}

impl ReleaseLimits {
    /// The organisation's limits with this release's in their place; each stays within the organisation's (which
    /// may have dropped since the release's were set).
    pub fn over(&self, organisation: &PluginLimits) -> PluginLimits {
        let pick = |mine: Option<u64>, theirs: u64| mine.map_or(theirs, |m| m.min(theirs));
        PluginLimits {
            timeout_ms: pick(self.timeout_ms, organisation.timeout_ms),
            memory_mib: pick(self.memory_mib, organisation.memory_mib),
            fuel_per_item: pick(self.fuel_per_item, organisation.fuel_per_item),
            explain_fuel_per_item: pick(self.explain_fuel_per_item, organisation.explain_fuel_per_item),
            output_kib: pick(self.output_kib, organisation.output_kib),
            log_kib: pick(self.log_kib, organisation.log_kib),
        }
    }

    /// Each field set must be between 1 and the organisation's limit.
    fn check(&self, v: &mut Violations, organisation: &PluginLimits) {
        for (name, mine, theirs) in [
            ("timeout_ms", self.timeout_ms, organisation.timeout_ms),
            ("memory_mib", self.memory_mib, organisation.memory_mib),
            ("fuel_per_item", self.fuel_per_item, organisation.fuel_per_item),
            (
                "explain_fuel_per_item",
                self.explain_fuel_per_item,
                organisation.explain_fuel_per_item,
            ),
            ("output_kib", self.output_kib, organisation.output_kib),
            ("log_kib", self.log_kib, organisation.log_kib),
        ] {
            if let Some(value) = mine
                && (value == 0 || value > theirs)
            {
                v.add(
                    format!("limits.{name}"),
                    "out_of_range",
                    format!("must be between 1 and the organisation's limit, {theirs}"),
                );
            }
        }
    }
}

/// The host limits for one release's invocations: the organisation's, narrowed by the release's own.
pub async fn effective_limits<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    config: &Config,
    plugin: &Plugin,
) -> DomainResult<Limits> {
    Ok(plugin
        .limits
        .over(&limits(scope, config).await?.limits)
        .effective(config))
}

// ---- Running plugins: compiling, loading and invoking on the blocking pool, never on an HTTP worker. ----

use std::sync::Arc;

use crate::plugins::Host;
use crate::plugins::matcher::PluginPolicy;
use crate::plugins::run::{self, Input};
use crate::store::Db;

fn stopped(e: tokio::task::JoinError) -> DomainError {
    DomainError::Store(store::StoreError::Corrupt(format!("a plugin task stopped: {e}")))
}

/// Compiles a `compiling` release on the blocking pool, checks it links as its kind, and records `ready` or
/// `failed`. Safe to repeat: a release that is no longer compiling is left as it is.
pub async fn compile(db: &Db, host: Arc<Host>, organisation_id: Uuid, id: Uuid) -> DomainResult<Plugin> {
    let reader = Scope::new(db.reader(), organisation_id);
    let plugin = get(&reader, id).await?;
    if plugin.state != PluginState::Compiling {
        return Ok(plugin);
    }
    let bytes = component(&reader, id).await?;
    let (sha, kind) = (plugin.sha256.clone(), plugin.kind);
    let outcome = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let (component, _) = host.cache.get_or_compile(&sha, &bytes).map_err(|e| e.to_string())?;
        host.check_world(kind, &component).map_err(|e| e.to_string())?;
        Ok::<f64, String>(started.elapsed().as_secs_f64() * 1e3)
    })
    .await
    .map_err(stopped)?;
    let txn = db.begin().await?;
    let done = compiled(&Scope::new(&txn, organisation_id), id, outcome).await?;
    txn.commit().await.map_err(store::StoreError::from)?;
    Ok(done)
}

/// Restarts compiles an instance left unfinished (it stopped mid-compile) — untouched for longer than `after`.
pub async fn resume_stalled(db: &Db, host: Arc<Host>, after: chrono::Duration) -> DomainResult<usize> {
    let stalled = db.stalled_plugin_compiles(store::now() - after).await?;
    for (organisation_id, id) in &stalled {
        compile(db, host.clone(), *organisation_id, *id).await?;
    }
    Ok(stalled.len())
}

/// The compiled component of a ready release: from memory, from disk, or compiled now from its stored bytes.
pub(crate) async fn loaded<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    host: &Arc<Host>,
    plugin: &Plugin,
) -> DomainResult<wasmtime::component::Component> {
    if let Some((component, _)) = host.cache.get(&plugin.sha256) {
        return Ok(component);
    }
    let bytes = component(scope, plugin.id).await?;
    let (host, sha) = (host.clone(), plugin.sha256.clone());
    tokio::task::spawn_blocking(move || host.cache.get_or_compile(&sha, &bytes).map(|(c, _)| c))
        .await
        .map_err(stopped)?
        .map_err(|e| failed(plugin, &e.to_string(), e.outcome()))
}

fn failed(plugin: &Plugin, message: &str, outcome: &str) -> DomainError {
    DomainError::PluginFailed {
        plugin: plugin.name.clone(),
        version: plugin.version.clone(),
        kind: plugin.kind.as_str(),
        outcome: outcome.to_string(),
        message: message.to_string(),
    }
}

/// The body of `POST /v1/plugins/{id}/dry-run`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "input": {
        "programme": {"id": "p1", "topics": ["ai"], "min_level_gap": 1, "cross_department": "preferred", "weights": {"shared_topics": 1.0}},
        "mentors": [{"id": "ana", "level": 2, "department": "Engineering", "topics": ["ai"]}],
        "mentees": [{"id": "sam", "level": 9, "department": "Finance", "topics": ["ai"]}],
        "candidates": [[0, 0]]
    }
}))]
pub struct DryRun {
    /// The kind's input: a `MatcherInput`, `ScorerInput` or `ConnectorInput`.
    #[schema(value_type = Object)]
    pub input: Value,
    /// A configuration to try instead of the stored one (checked against the schema).
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "output": {"verdicts": [{"score": 1.5, "veto": null}]},
    "usage": {"duration_ms": 0.4, "fuel_used": 41250, "items": 1, "logs": [], "logs_truncated": false},
    "invocation_id": "01936b2e-7777-7000-8000-0000000000aa"
}))]
pub struct DryRunResult {
    /// The kind's output: a `MatcherOutput`, `ScorerOutput` or `PageDoc`.
    #[schema(value_type = Object)]
    pub output: Value,
    pub usage: Usage,
    /// The invocation's record (`GET /v1/plugins/{id}/invocations`).
    pub invocation_id: Uuid,
}

/// Runs `input` through the plugin with the organisation's limits; records the invocation whatever happens.
pub async fn dry_run(
    db: &Db,
    host: Arc<Host>,
    config: &Config,
    organisation_id: Uuid,
    id: Uuid,
    cmd: DryRun,
) -> DomainResult<DryRunResult> {
    let reader = Scope::new(db.reader(), organisation_id);
    let plugin = get(&reader, id).await?;
    if plugin.state != PluginState::Ready {
        return Err(DomainError::Conflict {
            code: "plugin_not_ready",
            message: format!(
                "{} is {}; only a ready plugin can run",
                plugin.reference,
                plugin.state.as_str()
            ),
        });
    }
    let mut v = Violations::default();
    let plugin_config = cmd.config.unwrap_or_else(|| plugin.config.clone());
    config_against_schema(&mut v, &plugin.config_schema, &plugin_config, "config_schema");
    let input = parse_input(&mut v, plugin.kind, cmd.input);
    v.into_result()?;
    let Some(input) = input else {
        return Err(DomainError::Invalid(Vec::new()));
    };
    let limits = effective_limits(&reader, config, &plugin).await?;
    let component = loaded(&reader, &host, &plugin).await?;
    let reference = plugin.reference.clone();
    let network = crate::plugins::Network {
        allowed_hosts: plugin.allowed_hosts.clone(),
        secrets: Default::default(),
    };
    let plugin_config = plugin_config.to_string();
    let (result, invocation) = tokio::task::spawn_blocking(move || {
        run::invoke(&host, &reference, &component, input, limits, plugin_config, network)
    })
    .await
    .map_err(stopped)?
    .map_err(|e| failed(&plugin, &e.to_string(), e.outcome()))?;
    let usage = invocation.usage.clone();
    let txn = db.begin().await?;
    let records = record(
        &Scope::new(&txn, organisation_id),
        &plugin,
        Purpose::DryRun,
        None,
        vec![invocation],
    )
    .await?;
    txn.commit().await.map_err(store::StoreError::from)?;
    let output = result.map_err(|e| failed(&plugin, &e.to_string(), e.outcome()))?;
    Ok(DryRunResult {
        output,
        usage,
        invocation_id: records[0].id,
    })
}

/// The dry run's `input` as the kind's input type; a mismatch names the field.
fn parse_input(v: &mut Violations, kind: Kind, input: Value) -> Option<Input> {
    match Input::parse(kind, input) {
        Ok(input) => Some(input),
        Err(e) => {
            let field = if e.path == "." {
                "input".into()
            } else {
                format!("input.{}", e.path)
            };
            v.add(field, "invalid_input", e.message);
            None
        }
    }
}

/// The matcher a programme's `matching.policy` names, ready to score on the blocking pool (`None`: built-in).
pub async fn matcher_for<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    host: &Arc<Host>,
    config: &Config,
    reference: &str,
) -> DomainResult<Option<(Plugin, PluginPolicy)>> {
    if reference == BUILTIN {
        return Ok(None);
    }
    let Some((name, version)) = reference.split_once('@') else {
        return Err(DomainError::NotFound("plugin"));
    };
    let plugin = scope
        .plugin_by_reference(name, version)
        .await?
        .ok_or(DomainError::NotFound("plugin"))?;
    let limits = effective_limits(scope, config, &plugin).await?;
    let component = loaded(scope, host, &plugin).await?;
    let policy = PluginPolicy::new(host, reference, &component, limits, plugin.config.to_string())
        .map_err(|e| failed(&plugin, &e.to_string(), e.outcome()))?;
    Ok(Some((plugin, policy)))
}
