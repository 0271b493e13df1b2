//! Webhook endpoints: where an organisation wants its events delivered, which events (exact names or `prefix.*`
//! wildcards), and the secret deliveries are signed with (`whsec_…`, shown only when created or rotated; after a
//! rotation the previous secret keeps signing alongside for 24 hours). A target must be `https` and resolve only to
//! public addresses, unless the server allows private targets (tests, on-premises).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DomainError, DomainResult, Violations};
use crate::events::{self, CATALOGUE, EventPayload};
use crate::net::Guard;
use crate::store::{self, Scope};
use crate::webhooks::signer;

/// The most endpoints one organisation may have (every event is matched against each of them in its transaction).
pub const MAX_ENDPOINTS: usize = 100;

/// How long a rotated-out secret keeps signing next to the new one.
pub const ROTATION_GRACE: Duration = Duration::hours(24);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9a00-7000-8000-0000000000e1",
    "url": "https://hooks.example.com/upward",
    "description": "HR suite",
    "event_types": ["pair.*", "session.cancelled"],
    "enabled": true,
    "rate_limit": 50,
    "metadata": {"team": "people-analytics"},
    "disabled_reason": null,
    "secret_rotated_at": null,
    "version": 1,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct WebhookEndpoint {
    pub id: Uuid,
    /// Where deliveries are POSTed (`https`).
    pub url: String,
    pub description: Option<String>,
    /// Exact event types or wildcards such as `pair.*`; empty means every event.
    pub event_types: Vec<String>,
    /// Whether deliveries are made (an endpoint failing for days is disabled, with `disabled_reason`).
    pub enabled: bool,
    /// Most deliveries per second to this endpoint.
    pub rate_limit: Option<u32>,
    /// The organisation's own labels.
    pub metadata: BTreeMap<String, String>,
    /// Why the endpoint was disabled, when it was not by its owners.
    pub disabled_reason: Option<String>,
    /// When the secret was last rotated.
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }

    /// Whether this endpoint subscribes to `event_type`.
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.event_types.is_empty()
            || self
                .event_types
                .iter()
                .any(|pattern| pattern_matches(pattern, event_type))
    }
}

/// An endpoint with its signing secret: the answer to creating one or rotating its secret, the only times the secret
/// is shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9a00-7000-8000-0000000000e1",
    "url": "https://hooks.example.com/upward",
    "description": "HR suite",
    "event_types": ["pair.*"],
    "enabled": true,
    "rate_limit": null,
    "metadata": {},
    "disabled_reason": null,
    "secret_rotated_at": null,
    "version": 1,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
}))]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64: verify deliveries with it (Standard Webhooks). Shown this once.
    pub secret: String,
}

/// An endpoint's signing secrets: the current one and, after a rotation, the previous one until it expires.
#[derive(Clone, Debug, PartialEq)]
pub struct Secrets {
    pub current: String,
    pub previous: Option<(String, DateTime<Utc>)>,
}

/// The body of `POST /v1/webhook-endpoints`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/upward", "description": "HR suite", "event_types": ["pair.*", "session.cancelled"]}))]
pub struct CreateWebhookEndpoint {
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Empty or absent: every event.
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// 1 to 10,000 deliveries per second.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// The body of `PATCH /v1/webhook-endpoints/{id}`: absent fields stay; `null` clears `description` and `rate_limit`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event_types": ["pair.*"], "enabled": true}))]
pub struct UpdateWebhookEndpoint {
    pub url: Option<String>,
    #[serde(default, deserialize_with = "super::participants::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    /// `true` also clears a `disabled_reason`.
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "super::participants::present")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit: Option<Option<u32>>,
    /// A JSON Merge Patch (RFC 7396) of the metadata: keys not named stay, `null` removes a key.
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

/// Whether `pattern` (`*`, an exact type, or `prefix.*`) covers `event_type`.
fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix(".*") {
        _ if pattern == "*" => true,
        Some(prefix) => event_type
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == event_type,
    }
}

fn check_event_types(v: &mut Violations, raw: Vec<String>) -> Vec<String> {
    if raw.len() > 100 {
        v.add("event_types", "too_many", "at most 100 entries");
    }
    let mut out: Vec<String> = Vec::new();
    for (i, pattern) in raw.into_iter().enumerate() {
        let pattern = pattern.trim().to_string();
        if !CATALOGUE.iter().any(|t| pattern_matches(&pattern, t.name)) {
            v.add(
                format!("event_types[{i}]"),
                "unknown_event_type",
                format!(
                    "{pattern:?} matches no event type (see the EventType schema); use an exact name or `prefix.*`"
                ),
            );
        } else if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    out
}

fn check_rate_limit(v: &mut Violations, rate_limit: Option<u32>) -> Option<u32> {
    if let Some(r) = rate_limit
        && !(1..=10_000).contains(&r)
    {
        v.add(
            "rate_limit",
            "out_of_range",
            "must be between 1 and 10000 deliveries per second",
        );
    }
    rate_limit
}

fn check_metadata(v: &mut Violations, metadata: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if metadata.len() > 50 {
        v.add("metadata", "too_many", "at most 50 keys");
    }
    for (key, value) in &metadata {
        if key.is_empty() || key.chars().count() > 40 {
            v.add(format!("metadata.{key}"), "invalid_key", "keys are 1 to 40 characters");
        }
        if value.chars().count() > 500 {
            v.add(format!("metadata.{key}"), "too_long", "must be at most 500 characters");
        }
    }
    metadata
}

/// Checks a target URL (scheme, and every address it resolves to) before anything is written: the DNS lookup must
/// not happen inside a write transaction.
pub async fn check_url(v: &mut Violations, url: &str, guard: &Guard) -> String {
    let url = url.trim().to_string();
    if url.len() > crate::net::MAX_URL_LEN {
        v.add(
            "url",
            "too_long",
            format!("must be at most {} characters", crate::net::MAX_URL_LEN),
        );
    } else if let Err(refused) = guard.check_url(&url).await {
        v.add("url", "url_refused", refused.to_string());
    }
    url
}

/// A creation whose URL was checked.
pub struct CheckedCreate {
    cmd: CreateWebhookEndpoint,
    url: String,
}

/// Checks the URL of a creation (outside the transaction).
pub async fn check_create(cmd: CreateWebhookEndpoint, guard: &Guard) -> DomainResult<CheckedCreate> {
    let mut v = Violations::default();
    let url = check_url(&mut v, &cmd.url, guard).await;
    v.into_result()?;
    Ok(CheckedCreate { cmd, url })
}

/// A change whose URL, if any, was checked.
pub struct CheckedUpdate {
    cmd: UpdateWebhookEndpoint,
}

pub async fn check_update(mut cmd: UpdateWebhookEndpoint, guard: &Guard) -> DomainResult<CheckedUpdate> {
    if let Some(url) = cmd.url.take() {
        let mut v = Violations::default();
        cmd.url = Some(check_url(&mut v, &url, guard).await);
        v.into_result()?;
    }
    Ok(CheckedUpdate { cmd })
}

pub async fn create<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    checked: CheckedCreate,
) -> DomainResult<EndpointWithSecret> {
    let CheckedCreate { cmd, url } = checked;
    if scope.webhook_endpoints(None, MAX_ENDPOINTS as u64).await?.len() >= MAX_ENDPOINTS {
        return Err(DomainError::Conflict {
            code: "too_many_endpoints",
            message: format!("an organisation may have at most {MAX_ENDPOINTS} webhook endpoints"),
        });
    }
    let mut v = Violations::default();
    let now = store::now();
    let endpoint = WebhookEndpoint {
        id: store::new_id(),
        url,
        description: super::optional_text(&mut v, "description", cmd.description, 500),
        event_types: check_event_types(&mut v, cmd.event_types),
        enabled: cmd.enabled,
        rate_limit: check_rate_limit(&mut v, cmd.rate_limit),
        metadata: check_metadata(&mut v, cmd.metadata),
        disabled_reason: None,
        secret_rotated_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    v.into_result()?;
    let secrets = Secrets {
        current: signer::new_secret(),
        previous: None,
    };
    scope.insert_webhook_endpoint(&endpoint, &secrets).await?;
    events::append(scope, EventPayload::WebhookEndpointCreated(endpoint.clone())).await?;
    Ok(EndpointWithSecret {
        endpoint,
        secret: secrets.current,
    })
}

pub async fn get<C: ConnectionTrait>(scope: &Scope<'_, C>, id: Uuid) -> DomainResult<WebhookEndpoint> {
    scope
        .webhook_endpoint(id)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))
}

pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<WebhookEndpoint>, bool)> {
    let rows = scope.webhook_endpoints(after, limit + 1).await?;
    Ok(super::page(rows, limit))
}

pub async fn update<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    if_match: Option<&str>,
    checked: CheckedUpdate,
) -> DomainResult<WebhookEndpoint> {
    let cmd = checked.cmd;
    let (current, secrets) = scope
        .lock_webhook_endpoint(id)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))?;
    super::check_if_match(&current.etag(), if_match)?;
    let mut next = current.clone();
    let mut v = Violations::default();
    if let Some(url) = cmd.url {
        next.url = url;
    }
    if let Some(description) = cmd.description {
        next.description = super::optional_text(&mut v, "description", description, 500);
    }
    if let Some(event_types) = cmd.event_types {
        next.event_types = check_event_types(&mut v, event_types);
    }
    if let Some(enabled) = cmd.enabled {
        next.enabled = enabled;
        if enabled {
            next.disabled_reason = None;
        }
    }
    if let Some(rate_limit) = cmd.rate_limit {
        next.rate_limit = check_rate_limit(&mut v, rate_limit);
    }
    if let Some(patch) = cmd.metadata {
        let mut metadata = current.metadata.clone();
        for (key, value) in patch {
            match value {
                Some(value) => metadata.insert(key, value),
                None => metadata.remove(&key),
            };
        }
        next.metadata = check_metadata(&mut v, metadata);
    }
    v.into_result()?;
    if next == current {
        return Ok(current);
    }
    next.version += 1;
    next.updated_at = store::now();
    if !scope.update_webhook_endpoint(&next, &secrets, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    events::append(scope, EventPayload::WebhookEndpointUpdated(next.clone())).await?;
    Ok(next)
}

/// A new secret signs from now on; the current one keeps signing alongside for [`ROTATION_GRACE`] so receivers can
/// switch without losing a delivery.
pub async fn rotate_secret<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    if_match: Option<&str>,
) -> DomainResult<EndpointWithSecret> {
    let (current, secrets) = scope
        .lock_webhook_endpoint(id)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))?;
    super::check_if_match(&current.etag(), if_match)?;
    let now = store::now();
    let rotated = Secrets {
        current: signer::new_secret(),
        previous: Some((secrets.current, now + ROTATION_GRACE)),
    };
    let mut next = current.clone();
    next.secret_rotated_at = Some(now);
    next.version += 1;
    next.updated_at = now;
    if !scope.update_webhook_endpoint(&next, &rotated, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    events::append(scope, EventPayload::WebhookEndpointSecretRotated(next.clone())).await?;
    Ok(EndpointWithSecret {
        endpoint: next,
        secret: rotated.current,
    })
}

pub async fn delete<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    if_match: Option<&str>,
) -> DomainResult<WebhookEndpoint> {
    let (endpoint, _) = scope
        .lock_webhook_endpoint(id)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))?;
    super::check_if_match(&endpoint.etag(), if_match)?;
    scope.delete_deliveries_of(id).await?;
    scope.delete_webhook_endpoint(id).await?;
    events::append(scope, EventPayload::WebhookEndpointDeleted(endpoint.clone())).await?;
    Ok(endpoint)
}

/// Disables an endpoint the dispatcher gave up on (410 Gone, or failing for too long), with the reason and a
/// `webhook_endpoint.disabled` event; answers whether it did (`false`: gone, or already disabled).
pub async fn disable<C: ConnectionTrait>(scope: &Scope<'_, C>, id: Uuid, reason: &str) -> DomainResult<bool> {
    let Some((current, secrets)) = scope.lock_webhook_endpoint(id).await? else {
        return Ok(false);
    };
    if !current.enabled {
        return Ok(false);
    }
    let mut next = current.clone();
    next.enabled = false;
    next.disabled_reason = Some(reason.to_string());
    next.version += 1;
    next.updated_at = store::now();
    if !scope.update_webhook_endpoint(&next, &secrets, current.version).await? {
        return Ok(false);
    }
    events::append(scope, EventPayload::WebhookEndpointDisabled(next)).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;

    #[test]
    fn patterns_cover_exact_names_prefixes_and_everything() {
        assert!(pattern_matches("*", "pair.activated"));
        assert!(pattern_matches("pair.*", "pair.activated"));
        assert!(!pattern_matches("pair.*", "pairing.done"));
        assert!(!pattern_matches("pair.*", "pair"));
        assert!(pattern_matches("session.cancelled", "session.cancelled"));
        assert!(!pattern_matches("session.cancelled", "session.cancelled_late"));
    }
}
