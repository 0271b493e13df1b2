//! Bring your own identity provider: an organisation registers the issuer whose tokens identify its participants,
//! where its keys are published, the audience its tokens carry, and which claim names the participant.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DomainError, DomainResult, Violations};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope, StoreError};

/// Which participant field the identifying claim is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantAttribute {
    Email,
    ExternalId,
}

impl ParticipantAttribute {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantAttribute::Email => "email",
            ParticipantAttribute::ExternalId => "external_id",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "issuer": "https://login.example.com/",
    "jwks_uri": "https://login.example.com/.well-known/jwks.json",
    "audience": "upward",
    "participant_attribute": "email",
    "claim": "email",
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct IdentityProvider {
    #[serde(skip)]
    pub organisation_id: Uuid,
    /// The `iss` of the provider's tokens, compared exactly.
    pub issuer: String,
    /// Where the provider publishes its signing keys.
    pub jwks_uri: String,
    /// The `aud` the provider's tokens must carry.
    pub audience: String,
    /// The participant field the claim identifies.
    pub participant_attribute: ParticipantAttribute,
    /// The name of the token claim holding the participant's email or external id.
    pub claim: String,
    #[serde(skip)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of `PUT /v1/identity-provider`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "issuer": "https://login.example.com/",
    "jwks_uri": "https://login.example.com/.well-known/jwks.json",
    "audience": "upward",
    "participant_attribute": "email",
    "claim": "email"
}))]
pub struct PutIdentityProvider {
    pub issuer: String,
    pub jwks_uri: String,
    pub audience: String,
    pub participant_attribute: ParticipantAttribute,
    /// Defaults to `email` for `participant_attribute: email` and `sub` for `external_id`.
    pub claim: Option<String>,
}

pub async fn get<C: ConnectionTrait>(scope: &Scope<'_, C>) -> DomainResult<IdentityProvider> {
    scope
        .identity_provider()
        .await?
        .ok_or(DomainError::NotFound("identity provider"))
}

/// Checks the JWKS URI against the outbound guard — its form and every address it resolves to — before anything is
/// written (the DNS lookup must not happen inside a write transaction). Fetches check it again at each connection.
pub async fn check_jwks_uri(cmd: &PutIdentityProvider, guard: &crate::net::Guard) -> DomainResult<()> {
    let mut v = Violations::default();
    if let Err(refused) = guard.check_url(cmd.jwks_uri.trim()).await {
        let code = match refused {
            crate::net::Refused::TooLong => "too_long",
            crate::net::Refused::NotHttps => "insecure_url",
            crate::net::Refused::NotAUrl(_) | crate::net::Refused::NoHost => "invalid_url",
            _ => "url_refused",
        };
        v.add("jwks_uri", code, refused.to_string());
    }
    v.into_result()
}

pub async fn put<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    cmd: PutIdentityProvider,
    guard: &crate::net::Guard,
) -> DomainResult<(IdentityProvider, bool)> {
    let mut v = Violations::default();
    let issuer = cmd.issuer.trim().to_string();
    if issuer.is_empty() || issuer.len() > 500 {
        v.add("issuer", "invalid_length", "must be 1 to 500 characters");
    }
    let audience = cmd.audience.trim().to_string();
    if audience.is_empty() || audience.len() > 500 {
        v.add("audience", "invalid_length", "must be 1 to 500 characters");
    }
    let jwks_uri = cmd.jwks_uri.trim().to_string();
    match guard.check_form(&jwks_uri).and_then(|url| guard.check_literal(&url)) {
        Ok(()) => {}
        Err(crate::net::Refused::TooLong) => v.add(
            "jwks_uri",
            "too_long",
            format!("must be at most {} characters", crate::net::MAX_URL_LEN),
        ),
        Err(crate::net::Refused::NotHttps) => v.add("jwks_uri", "insecure_url", "must be an https URL"),
        Err(crate::net::Refused::NotAUrl(_) | crate::net::Refused::NoHost) => {
            v.add("jwks_uri", "invalid_url", "is not a valid URL")
        }
        Err(refused) => v.add("jwks_uri", "url_refused", refused.to_string()),
    }
    let claim = cmd
        .claim
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|| match cmd.participant_attribute {
            ParticipantAttribute::Email => "email".into(),
            ParticipantAttribute::ExternalId => "sub".into(),
        });
    if claim.is_empty() || claim.len() > 100 {
        v.add("claim", "invalid_length", "must be 1 to 100 characters");
    }
    v.into_result()?;

    let existing = scope.identity_provider().await?;
    let now = store::now();
    let idp = IdentityProvider {
        organisation_id: scope.organisation_id(),
        issuer,
        jwks_uri,
        audience,
        participant_attribute: cmd.participant_attribute,
        claim,
        version: existing.as_ref().map_or(1, |e| e.version + 1),
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    if let Some(existing) = &existing {
        let unchanged = IdentityProvider {
            version: existing.version,
            updated_at: existing.updated_at,
            ..idp.clone()
        };
        if &unchanged == existing {
            return Ok((existing.clone(), false));
        }
    }
    scope
        .upsert_identity_provider(&idp, existing.is_some())
        .await
        .map_err(|e| match e {
            StoreError::UniqueViolation(_) => DomainError::Conflict {
                code: "identity_provider_taken",
                message: "this issuer and audience are already registered; use a distinct audience".into(),
            },
            other => DomainError::Store(other),
        })?;
    events::append(scope, EventPayload::IdentityProviderUpdated(idp.clone())).await?;
    Ok((idp, existing.is_none()))
}

pub async fn delete<C: ConnectionTrait>(scope: &Scope<'_, C>) -> DomainResult<()> {
    let existing = get(scope).await?;
    scope.delete_identity_provider().await?;
    events::append(scope, EventPayload::IdentityProviderDeleted(existing)).await?;
    Ok(())
}
