//! Authentication and roles. Issues the server's own short-lived JWTs (client credentials, participant tokens) and
//! verifies bearer tokens — ours, or those of an organisation's own identity provider — into a [`Principal`]. A
//! verified token is cached until it expires, so a reused token costs a map lookup, not a signature check.

pub mod idp;
pub mod keys;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::Config;
use crate::domain::identity_providers::{IdentityProvider, ParticipantAttribute};
use crate::store::{Db, Scope, StoreError};

/// The audience of every token this server issues.
pub const AUDIENCE: &str = "upward-api";
/// Tolerated clock skew when checking `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;
const CACHE_CAPACITY: usize = 100_000;
/// How long a verified identity-provider token is trusted before it is verified again.
const FOREIGN_VERDICT_SECONDS: u64 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the whole organisation (the client-credentials role).
    OrgAdmin,
    /// Runs programmes: reads the directory, manages programmes they are named on.
    ProgrammeManager,
    /// An employee acting for themselves.
    Participant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::ProgrammeManager => "programme_manager",
            Role::Participant => "participant",
        }
    }
}

/// Who is calling: always an organisation, a role, and for people a participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub organisation_id: Uuid,
    pub role: Role,
    pub participant_id: Option<Uuid>,
    /// `sub` of the token: a client id or a participant id; used in logs and idempotency fingerprints.
    pub subject: String,
}

impl Principal {
    /// The tenant scope for this principal: the only way handlers reach tenant data.
    pub fn scope<'c, C: ConnectionTrait>(&self, conn: &'c C) -> Scope<'c, C> {
        Scope::new(conn, self.organisation_id)
    }

    /// The principal's organisation for reading, with the fastest reads the database offers.
    pub fn read_scope<'c>(&self, db: &'c crate::store::Db) -> Scope<'c, sea_orm::DatabaseConnection> {
        db.read_scope(self.organisation_id)
    }

    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    /// The principal as the domain's rules see it.
    pub fn actor(&self) -> crate::domain::Actor {
        use crate::domain::Actor;
        match (self.role, self.participant_id) {
            (Role::OrgAdmin, _) => Actor::Admin,
            (Role::ProgrammeManager, Some(p)) => Actor::Manager(p),
            (Role::Participant, Some(p)) => Actor::Participant(p),
            // A people role without a person cannot be issued; should one appear, it matches nobody.
            (_, None) => Actor::Participant(Uuid::nil()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: String,
    org: Uuid,
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<Uuid>,
}

/// The parts of an unverified payload needed to pick the verification key.
#[derive(Deserialize)]
struct Peek {
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(a) => a == value,
            Audience::Many(all) => all.iter().any(|a| a == value),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token was sent")]
    Missing,
    /// The token is refused; the message says why (without echoing the token).
    #[error("{0}")]
    InvalidToken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
struct Cached {
    principal: Principal,
    /// Unix seconds until which the verdict stands: the token's expiry, and for foreign tokens at most a few minutes
    /// (so a changed identity-provider registration takes effect soon on every instance).
    trusted_until: u64,
    not_before: u64,
}

/// A freshly issued token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6IjNmMmE5YzRk...", "token_type": "Bearer", "expires_in": 900}))]
pub struct IssuedToken {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

pub struct Authenticator {
    db: Db,
    issuer: String,
    keys: keys::KeyRing,
    providers: idp::JwksCache,
    cache: RwLock<HashMap<String, Cached>>,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Authenticator {
    pub async fn new(db: Db, config: &Config) -> Result<Authenticator, StoreError> {
        let longest = config.token_ttl_seconds.max(config.participant_token_max_ttl_seconds);
        let keys = keys::KeyRing::load(db.clone(), config.signing_key_rotation_days, longest).await?;
        Ok(Authenticator {
            db,
            issuer: config.issuer.clone(),
            keys,
            providers: idp::JwksCache::new(
                Duration::from_secs(config.idp_jwks_cache_seconds),
                Duration::from_secs(config.idp_jwks_min_refresh_seconds),
                crate::net::Guard::for_integrations(config),
            ),
            cache: RwLock::new(HashMap::new()),
        })
    }

    pub fn keys(&self) -> &keys::KeyRing {
        &self.keys
    }

    /// Signs a token for `principal`, valid for `ttl_seconds`.
    pub async fn issue(&self, principal: &Principal, ttl_seconds: u64) -> Result<IssuedToken, AuthError> {
        let signing = self.keys.signing_key().await?;
        let now = now_unix();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: principal.subject.clone(),
            aud: AUDIENCE.into(),
            exp: now + ttl_seconds,
            iat: now,
            nbf: now,
            jti: Uuid::now_v7().to_string(),
            org: principal.organisation_id,
            role: principal.role,
            pid: principal.participant_id,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signing.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &signing.key)
            .map_err(|e| AuthError::InvalidToken(format!("signing failed: {e}")))?;
        Ok(IssuedToken {
            access_token: token,
            token_type: "Bearer",
            expires_in: ttl_seconds,
        })
    }

    /// Verifies a bearer token into a principal. Participants are re-checked against the directory on every call,
    /// so deactivating someone locks them out at once even with a cached token.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let now = now_unix();
        let cached = self.cache.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned();
        let principal = match cached {
            Some(c) if c.trusted_until > now && c.not_before <= now + LEEWAY_SECONDS => c.principal,
            // Not cached, or the cached verdict ran out: verify afresh, which also names the reason for a refusal.
            _ => {
                let verified = self.verify(token).await?;
                self.remember(token, verified.clone());
                verified.principal
            }
        };
        if let Some(participant_id) = principal.participant_id {
            let scope = self.db.read_scope(principal.organisation_id);
            match scope.participant(participant_id).await? {
                Some(p) if p.active => {}
                Some(_) => return Err(AuthError::InvalidToken("the participant is not active".into())),
                None => return Err(AuthError::InvalidToken("the participant no longer exists".into())),
            }
        }
        Ok(principal)
    }

    /// Forgets cached verdicts of an organisation's tokens, e.g. after its identity provider changed.
    pub fn forget_organisation(&self, organisation_id: Uuid) {
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, c| c.principal.organisation_id != organisation_id);
    }

    fn remember(&self, token: &str, entry: Cached) {
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            let now = now_unix();
            cache.retain(|_, c| c.trusted_until > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(token.to_string(), entry);
    }

    async fn verify(&self, token: &str) -> Result<Cached, AuthError> {
        let invalid = |m: &str| AuthError::InvalidToken(m.to_string());
        // `alg: none` and unknown algorithms fail here: the header does not parse into a known algorithm.
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is malformed"))?;
        let payload = token
            .split('.')
            .nth(1)
            .ok_or_else(|| invalid("the token is malformed"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| invalid("the token is malformed"))?;
        // A NUL in any claim or in the key id is never a real token, and PostgreSQL cannot even look it up: refuse it
        // before anything is read (JSON carries a NUL only as the escape `\u0000`).
        if crate::nul::json_may_hold_nul(&payload) || header.kid.as_deref().is_some_and(crate::nul::has_nul) {
            return Err(invalid("the token is malformed: a claim contains the NUL character"));
        }
        let peek: Peek = serde_json::from_slice(&payload).map_err(|_| invalid("the token is malformed"))?;
        let issuer = peek.iss.as_deref().ok_or_else(|| invalid("the token has no issuer"))?;

        if issuer == self.issuer {
            if header.alg != Algorithm::EdDSA {
                return Err(invalid("the token's algorithm does not match its key"));
            }
            let kid = header
                .kid
                .as_deref()
                .ok_or_else(|| invalid("the token has no key id"))?;
            let key = self
                .keys
                .verifying_key(kid)
                .await?
                .ok_or_else(|| invalid("the token's key is unknown"))?;
            let claims: Claims = jsonwebtoken::decode(token, &key, &validation(Algorithm::EdDSA, issuer, AUDIENCE))
                .map_err(|e| invalid(&describe(&e)))?
                .claims;
            let organisation_exists = self.db.organisation(claims.org).await?.is_some();
            if !organisation_exists {
                return Err(invalid("the token's organisation does not exist"));
            }
            return Ok(Cached {
                principal: Principal {
                    organisation_id: claims.org,
                    role: claims.role,
                    participant_id: claims.pid,
                    subject: claims.sub,
                },
                trusted_until: claims.exp + LEEWAY_SECONDS,
                not_before: claims.nbf,
            });
        }

        // A foreign token: its issuer and audience lead to at most one organisation's identity provider.
        let providers = self.db.identity_providers_by_issuer(issuer).await?;
        let provider = providers
            .into_iter()
            .find(|p| peek.aud.as_ref().is_some_and(|a| a.contains(&p.audience)))
            .ok_or_else(|| invalid("the token's issuer or audience is not trusted"))?;
        self.verify_foreign(token, &header, &provider).await
    }

    async fn verify_foreign(
        &self,
        token: &str,
        header: &Header,
        provider: &IdentityProvider,
    ) -> Result<Cached, AuthError> {
        let invalid = |m: &str| AuthError::InvalidToken(m.to_string());
        let key = self
            .providers
            .key(&provider.jwks_uri, header.kid.as_deref())
            .await
            .map_err(|e| {
                tracing::warn!(organisation_id = %provider.organisation_id, error = %e, "identity provider JWKS");
                invalid("the identity provider's keys could not be fetched")
            })?
            .ok_or_else(|| invalid("the token's key is unknown to the identity provider"))?;
        if !key.algorithms.contains(&header.alg) {
            return Err(invalid("the token's algorithm does not match its key"));
        }
        let claims: serde_json::Map<String, serde_json::Value> = jsonwebtoken::decode(
            token,
            &key.key,
            &validation(header.alg, &provider.issuer, &provider.audience),
        )
        .map_err(|e| invalid(&describe(&e)))?
        .claims;
        let exp = claims
            .get("exp")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| invalid("the token has no expiry"))?;
        let nbf = claims.get("nbf").and_then(|v| v.as_u64()).unwrap_or(0);
        let value = claims
            .get(&provider.claim)
            .and_then(|v| v.as_str())
            .ok_or_else(|| invalid(&format!("the token has no string claim `{}`", provider.claim)))?;
        let scope = Scope::new(self.db.reader(), provider.organisation_id);
        let participant = match provider.participant_attribute {
            ParticipantAttribute::Email => scope.participant_by_email(value).await?,
            ParticipantAttribute::ExternalId => scope.participant_by_external_id(value).await?,
        }
        .ok_or_else(|| invalid("no participant matches the token"))?;
        Ok(Cached {
            principal: Principal {
                organisation_id: provider.organisation_id,
                role: Role::Participant,
                participant_id: Some(participant.id),
                subject: format!("{}#{}", provider.issuer, value),
            },
            trusted_until: (exp + LEEWAY_SECONDS).min(now_unix() + FOREIGN_VERDICT_SECONDS),
            not_before: nbf,
        })
    }
}

fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECONDS;
    v
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet".into(),
        ErrorKind::InvalidSignature => "the token's signature is invalid".into(),
        ErrorKind::InvalidAudience => "the token's audience is wrong".into(),
        ErrorKind::InvalidIssuer => "the token's issuer is wrong".into(),
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        _ => "the token is malformed".into(),
    }
}
