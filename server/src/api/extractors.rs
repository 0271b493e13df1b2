//! Request extractors: the authenticated [`Principal`], a strict JSON body, `If-Match`, `Idempotency-Key` and
//! cursor pagination. Each turns bad input into an [`ApiError`], so handlers only ever see well-formed values.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::problem::ApiError;
use crate::auth::{AuthError, Principal};
use crate::domain::FieldError;

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .expect("AppState is registered on the app")
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Principal, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let header = req.headers().get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| AuthError::InvalidToken("the Authorization header must be `Bearer <token>`".into()))?;
            let state = state(&req);
            let principal = match state.auth.authenticate(token).await {
                Ok(principal) => principal,
                Err(e @ AuthError::Store(_)) => return Err(e.into()),
                // A refused token counts against its source address; an address that keeps presenting them is locked
                // out for a while (valid tokens never touch the limiter on this path).
                Err(e) => {
                    let address = req.peer_addr().map(|a| a.ip().to_string());
                    state.limiter.auth_failed(None, address.as_deref()).await;
                    if let Some(locked) = state.limiter.auth_locked(None, address.as_deref()).await {
                        return Err(ApiError::RateLimited {
                            detail: format!(
                                "too many failed authentications from this address; retry in {} seconds",
                                locked.retry_after_seconds
                            ),
                            retry_after: locked.retry_after_seconds,
                            policy: None,
                        });
                    }
                    return Err(e.into());
                }
            };
            if let Some(decision) = state
                .limiter
                .request(principal.organisation_id, &principal.subject)
                .await
            {
                // The response carries the quota's state (see `request_context`).
                req.extensions_mut().insert(decision);
                if !decision.allowed {
                    return Err(ApiError::RateLimited {
                        detail: format!(
                            "too many requests from this client; retry in {} seconds",
                            decision.retry_after_seconds
                        ),
                        retry_after: decision.retry_after_seconds,
                        policy: state.limiter.headers(&decision),
                    });
                }
            }
            // The access log reads it from here.
            req.extensions_mut().insert(principal.clone());
            Ok(principal)
        })
    }
}

/// A JSON body, strictly parsed: the content type must be JSON, the size within the configured cap, and the JSON must
/// fit the schema exactly (unknown fields refused). Keeps the raw bytes for idempotency fingerprints.
pub struct Json<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Json<T>, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let limit = state(req).config.max_body_bytes;
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            let raw = bytes.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge(limit),
                _ => match e.as_error::<actix_web::error::PayloadError>() {
                    Some(_) => ApiError::BadRequest {
                        code: "unreadable_body",
                        detail: "the body could not be read".into(),
                    },
                    None => ApiError::PayloadTooLarge(limit),
                },
            })?;
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let value = parse_json(&raw)?;
            Ok(Json { value, raw })
        })
    }
}

/// Whether the request declares a JSON body: `application/json` or any `application/*+json`.
pub fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// An optional JSON body: empty means `T::default()`; anything else must be JSON that fits `T`.
pub fn optional_json<T: DeserializeOwned + Default>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    // No body, or the JSON `null` the spec allows in its place.
    if body.is_empty() || (is_json(req) && body.trim_ascii() == b"null") {
        return Ok(T::default());
    }
    if !is_json(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    parse_json(body)
}

pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    // Syntax first (without building anything), so broken JSON is a 400 whatever its shape; then the schema.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(raw) {
        return Err(ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("the body is not valid JSON: {e}"),
        });
    }
    // Every body this API takes is an object: `["archived"]` must not fill a struct's fields by position.
    if raw.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::InvalidBody {
            detail: "the body must be a JSON object".into(),
            errors: vec![FieldError::new("", "invalid_type", "must be a JSON object")],
        });
    }
    if let Some(field) = crate::nul::in_json(raw) {
        return Err(ApiError::InvalidBody {
            detail: format!("`{field}` contains the NUL character (U+0000), which no text accepts"),
            errors: vec![FieldError::new(
                field,
                "nul_character",
                "must not contain the NUL character (U+0000)",
            )],
        });
    }
    let mut de = serde_json::Deserializer::from_slice(raw);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { String::new() } else { path };
                let message = inner.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                let code = if message.starts_with("unknown field") {
                    "unknown_field"
                } else if message.starts_with("missing field") {
                    "required"
                } else {
                    "invalid_type"
                };
                // For an unknown field the path already ends at it; for a missing one it stops at its parent.
                let field = match (code, message.split('`').nth(1)) {
                    ("required", Some(name)) if field.is_empty() => name.to_string(),
                    ("required", Some(name)) => format!("{field}.{name}"),
                    _ => field,
                };
                ApiError::InvalidBody {
                    detail: format!("the body does not match the schema: {message}"),
                    errors: vec![FieldError::new(field, code, message)],
                }
            }
            _ => ApiError::BadRequest {
                code: "malformed_json",
                detail: format!("the body is not valid JSON: {inner}"),
            },
        }
    })
}

/// `If-Match`: the ETag the client last saw. Absent means "write unconditionally".
pub struct IfMatch(pub Option<String>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<IfMatch, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(match req.headers().get(header::IF_MATCH) {
            None => Ok(IfMatch(None)),
            Some(v) => match v.to_str() {
                Ok(s) if !s.trim().is_empty() => Ok(IfMatch(Some(s.trim().to_string()))),
                _ => Err(ApiError::BadRequest {
                    code: "invalid_header",
                    detail: "If-Match is not a valid ETag list".into(),
                }),
            },
        })
    }
}

/// `Idempotency-Key`: 1–255 visible ASCII characters; a retry with the same key replays the first response.
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<IdempotencyKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(match req.headers().get("idempotency-key") {
            None => Ok(IdempotencyKey(None)),
            Some(v) => match v.to_str() {
                Ok(s) if (1..=255).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic()) => {
                    Ok(IdempotencyKey(Some(s.to_string())))
                }
                _ => Err(ApiError::BadRequest {
                    code: "invalid_header",
                    detail: "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
                }),
            },
        })
    }
}

/// Cursor pagination parameters shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page; omit for the first page.
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

impl PageParams {
    pub fn limit(&self) -> Result<u64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::BadRequest {
                code: "invalid_query_parameter",
                detail: format!("`limit` must be between 1 and {MAX_LIMIT}"),
            }),
        }
    }

    /// The id after which the page starts. The cursor is opaque to clients: base64url of the last id seen.
    pub fn after(&self) -> Result<Option<Uuid>, ApiError> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| Uuid::from_slice(&bytes).ok())
            .map(Some)
            .ok_or(ApiError::BadRequest {
                code: "invalid_cursor",
                detail: "`cursor` is not a cursor this API issued".into(),
            })
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// One page of a list.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub data: Vec<T>,
    /// Whether another page follows.
    pub has_more: bool,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    pub fn new(data: Vec<T>, has_more: bool, id: impl Fn(&T) -> Uuid) -> Page<T> {
        let next_cursor = if has_more {
            data.last().map(|last| encode_cursor(id(last)))
        } else {
            None
        };
        Page {
            data,
            has_more,
            next_cursor,
        }
    }
}

/// Error handlers for actix's own extractors, so their failures are problems too.
pub fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest {
        code: "invalid_path_parameter",
        detail: format!("a path parameter is malformed: {err}"),
    }
    .into()
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        actix_web::error::QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::BadRequest {
        code: "invalid_query_parameter",
        detail: format!("a query parameter is malformed: {detail}"),
    }
    .into()
}
