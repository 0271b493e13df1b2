//! `Idempotency-Key` for `POST`: the first response is stored in the same transaction as the change it reports, so a
//! retry either finds it (and gets it again, byte for byte) or finds nothing (and the change never happened).

use actix_web::HttpRequest;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

use super::problem::ApiError;
use crate::auth::Principal;
use crate::store::idempotency::StoredResponse;
use crate::store::{Scope, StoreError};

/// What makes two requests "the same": who sends it, the method, the path with query, and the body.
pub fn fingerprint(req: &HttpRequest, principal: &Principal, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(principal.subject.as_bytes());
    h.update([0]);
    h.update(req.method().as_str().as_bytes());
    h.update([0]);
    h.update(req.uri().path_and_query().map_or("", |p| p.as_str()).as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

/// The remembered response for this key, if any; a remembered response to a different request is an error.
pub async fn lookup<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    key: &str,
    fingerprint: &str,
    retention: chrono::Duration,
) -> Result<Option<StoredResponse>, ApiError> {
    match scope.idempotent_response(key).await? {
        Some(stored) if stored.created_at + retention < chrono::Utc::now() => Ok(None),
        Some(stored) if stored.request_hash == fingerprint => Ok(Some(stored)),
        Some(_) => Err(ApiError::IdempotencyKeyReused),
        None => Ok(None),
    }
}

/// Stores the response in the caller's transaction. Losing a race to a concurrent request with the same key is
/// reported as [`ApiError::IdempotencyKeyInUse`]; the caller rolls back and the client's retry gets the winner's
/// response.
pub async fn remember<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    key: &str,
    response: &StoredResponse,
    retention: chrono::Duration,
) -> Result<(), ApiError> {
    scope
        .forget_expired_response(key, chrono::Utc::now() - retention)
        .await?;
    match scope.remember_response(key, response).await {
        Ok(()) => Ok(()),
        Err(StoreError::UniqueViolation(_)) => Err(ApiError::IdempotencyKeyInUse),
        Err(e) => Err(e.into()),
    }
}

/// Runs a write in one transaction and answers with the resource, its ETag and (for creations) its Location. With an
/// `Idempotency-Key`, a retry replays the first response; the record is written in the same transaction as the
/// change.
#[allow(clippy::too_many_arguments)]
pub async fn transact<T, F>(
    req: &HttpRequest,
    state: &super::AppState,
    principal: &Principal,
    key: &super::extractors::IdempotencyKey,
    raw: &[u8],
    status: actix_web::http::StatusCode,
    change: F,
) -> Result<actix_web::HttpResponse, ApiError>
where
    T: serde::Serialize,
    F: AsyncFnOnce(&Scope<'_, sea_orm::DatabaseTransaction>) -> Result<Written<T>, ApiError>,
{
    let retention = state.idempotency_retention();
    let fingerprint = fingerprint(req, principal, raw);
    if let Some(key) = &key.0
        && let Some(previous) = lookup(&principal.read_scope(&state.db), key, &fingerprint, retention).await?
    {
        return Ok(super::respond::replay(&previous, true));
    }
    let txn = state.db.begin().await?;
    let scope = principal.scope(&txn);
    let written = change(&scope).await?;
    let mut headers = vec![(actix_web::http::header::ETAG.to_string(), written.etag)];
    if let Some(location) = written.location {
        headers.push((actix_web::http::header::LOCATION.to_string(), location));
    }
    let response = super::respond::stored(status, &written.body, headers, fingerprint)?;
    if let Some(key) = &key.0 {
        remember(&scope, key, &response, retention).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(super::respond::replay(&response, false))
}

/// What a write answers with.
pub struct Written<T> {
    pub body: T,
    pub etag: String,
    pub location: Option<String>,
}

impl<T> Written<T> {
    pub fn new(body: T, etag: String) -> Written<T> {
        Written {
            body,
            etag,
            location: None,
        }
    }

    pub fn at(mut self, location: String) -> Written<T> {
        self.location = Some(location);
        self
    }
}
