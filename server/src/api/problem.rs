//! The one map from errors to HTTP: every error any layer raises becomes an RFC 9457 `application/problem+json`
//! response here, with a stable `type` URI per `code`. Also the OpenAPI descriptions of those responses.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

use crate::auth::AuthError;
use crate::domain::{DomainError, FieldError};
use crate::store::StoreError;

pub const PROBLEM_BASE: &str = "https://upward.dev/problems/";
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://upward.dev/problems/validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "1 field is invalid",
    "code": "validation_failed",
    "errors": [{"field": "email", "code": "invalid_format", "message": "is not a valid email address"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem; stable, one per `code`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The last segment of `type`, for easy matching in code.
    pub code: String,
    /// For validation problems: every field that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For illegal transitions and refused methods: what is allowed instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// For `plugin_failed`: which plugin failed, and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginFailure>,
}

/// The plugin behind a `plugin_failed` problem.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "acme-matcher", "version": "1.2.0", "kind": "matcher", "outcome": "timeout"}))]
pub struct PluginFailure {
    pub name: String,
    pub version: String,
    pub kind: String,
    /// out_of_fuel, timeout, out_of_memory, trap, returned_error, malformed_output, invalid_component.
    pub outcome: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A malformed request: bad JSON syntax, a bad path or query parameter, a bad header.
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// Well-formed JSON that does not fit the schema (unknown field, wrong type, missing field).
    #[error("{detail}")]
    InvalidBody { detail: String, errors: Vec<FieldError> },
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// A body of a type this route does not take (the message says which it takes).
    #[error("{0}")]
    WrongMediaType(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyKeyInUse,
    #[error("{0}")]
    Conflict(String),
    /// Too many requests, or too many failed authentications: wait `retry_after` seconds.
    #[error("{detail}")]
    RateLimited {
        detail: String,
        retry_after: u64,
        /// The `RateLimit-Policy` and `RateLimit` fields of the quota that refused the request.
        policy: Option<(String, String)>,
    },
    /// None of the media types in `Accept` is offered (the message says which are).
    #[error("{0}")]
    NotAcceptable(&'static str),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Domain(DomainError::Store(e))
    }
}

impl ApiError {
    /// (status, code, title) — the table every error response is built from.
    fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::Domain(DomainError::NotFound(_)) | ApiError::RouteNotFound => {
                (S::NOT_FOUND, "not_found", "Not found")
            }
            ApiError::Domain(DomainError::Invalid(_)) => {
                (S::UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed")
            }
            ApiError::Domain(DomainError::Conflict { code, .. }) => (S::CONFLICT, code, "Conflict"),
            ApiError::Domain(DomainError::IllegalTransition { .. }) => {
                (S::CONFLICT, "illegal_transition", "Illegal transition")
            }
            ApiError::Domain(DomainError::RulesViolated(_)) => (
                S::UNPROCESSABLE_ENTITY,
                "rule_violated",
                "A business rule refused the change",
            ),
            ApiError::Domain(DomainError::Forbidden(_)) => (S::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::Domain(DomainError::PluginFailed { .. }) => {
                (S::UNPROCESSABLE_ENTITY, "plugin_failed", "The plugin failed")
            }
            ApiError::Domain(DomainError::PreconditionFailed) => {
                (S::PRECONDITION_FAILED, "precondition_failed", "Precondition failed")
            }
            ApiError::Domain(DomainError::Store(StoreError::Unavailable(_))) | ApiError::Unavailable(_) => {
                (S::SERVICE_UNAVAILABLE, "service_unavailable", "Service unavailable")
            }
            ApiError::Domain(DomainError::Store(_)) | ApiError::Internal(_) => {
                (S::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error")
            }
            ApiError::Auth(AuthError::Store(StoreError::Unavailable(_))) => {
                (S::SERVICE_UNAVAILABLE, "service_unavailable", "Service unavailable")
            }
            ApiError::Auth(AuthError::Store(_)) => {
                (S::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error")
            }
            ApiError::Auth(_) => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => (S::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed"),
            ApiError::BadRequest { code, .. } => (S::BAD_REQUEST, code, "Bad request"),
            ApiError::InvalidBody { .. } => (S::UNPROCESSABLE_ENTITY, "invalid_body", "Invalid request body"),
            ApiError::UnsupportedMediaType | ApiError::WrongMediaType(_) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            ApiError::PayloadTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large"),
            ApiError::NotAcceptable(_) => (S::NOT_ACCEPTABLE, "not_acceptable", "Not acceptable"),
            ApiError::IdempotencyKeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
            ),
            ApiError::IdempotencyKeyInUse => (S::CONFLICT, "idempotency_key_in_use", "Idempotency key in use"),
            ApiError::Conflict(_) => (S::CONFLICT, "conflict", "Conflict"),
            ApiError::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "rate_limited", "Too many requests"),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, code, title) = self.classify();
        let (detail, errors) = match self {
            ApiError::Domain(DomainError::Invalid(errors)) => {
                let n = errors.len();
                (
                    format!("{n} field{} invalid", if n == 1 { " is" } else { "s are" }),
                    Some(errors.clone()),
                )
            }
            ApiError::InvalidBody { detail, errors } => (detail.clone(), Some(errors.clone())),
            ApiError::Domain(DomainError::RulesViolated(errors)) => (
                format!(
                    "refused by {}: {}",
                    if errors.len() == 1 { "a rule" } else { "rules" },
                    errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>().join(", ")
                ),
                Some(errors.clone()),
            ),
            ApiError::Domain(DomainError::NotFound(what)) => (format!("no such {what}"), None),
            // Never leak internals (SQL, driver messages) to the caller; they are logged instead.
            ApiError::Domain(DomainError::Store(StoreError::Unavailable(_)))
            | ApiError::Auth(AuthError::Store(StoreError::Unavailable(_))) => {
                ("the database is unavailable; retry later".into(), None)
            }
            ApiError::Domain(DomainError::Store(_)) | ApiError::Auth(AuthError::Store(_)) | ApiError::Internal(_) => {
                ("an unexpected error occurred; it has been logged".into(), None)
            }
            other => (other.to_string(), None),
        };
        let allowed = match self {
            ApiError::Domain(DomainError::IllegalTransition { allowed, .. }) => Some(allowed.clone()),
            _ => None,
        };
        let plugin = match self {
            ApiError::Domain(DomainError::PluginFailed {
                plugin,
                version,
                kind,
                outcome,
                ..
            }) => Some(PluginFailure {
                name: plugin.clone(),
                version: version.clone(),
                kind: kind.to_string(),
                outcome: outcome.clone(),
            }),
            _ => None,
        };
        Problem {
            problem_type: format!("{PROBLEM_BASE}{code}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            code: code.into(),
            errors,
            allowed,
            plugin,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.classify().0
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
        if let ApiError::Auth(auth) = self {
            // RFC 6750 §3: say how to authenticate, and why the token was refused.
            let challenge = match auth {
                AuthError::Missing => "Bearer realm=\"upward\"".to_string(),
                other => format!(
                    "Bearer realm=\"upward\", error=\"invalid_token\", error_description=\"{}\"",
                    other.to_string().replace('"', "'")
                ),
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
        }
        if matches!(
            self,
            ApiError::Unavailable(_) | ApiError::Domain(DomainError::Store(StoreError::Unavailable(_)))
        ) {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        if let ApiError::RateLimited {
            retry_after, policy, ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            if let Some((policy, state)) = policy {
                response.insert_header(("RateLimit-Policy", policy.as_str()));
                response.insert_header(("RateLimit", state.as_str()));
            }
        }
        response.json(problem)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

// ---- OpenAPI descriptions of the error responses, shared by every route ----

fn problem_response(description: &str, code: &str, status: u16, detail: &str) -> RefOr<Response> {
    let example = json!({
        "type": format!("{PROBLEM_BASE}{code}"),
        "title": description,
        "status": status,
        "detail": detail,
        "code": code,
    });
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .example(Some(example))
                .build(),
        )
        .build()
        .into()
}

fn responses(items: &[(u16, &str, &str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    items
        .iter()
        .map(|(status, description, code, detail)| {
            (status.to_string(), problem_response(description, code, *status, detail))
        })
        .collect()
}

/// 401 and 403: every authenticated route.
pub struct AuthErrors;
impl IntoResponses for AuthErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                401,
                "The bearer token is missing, invalid or expired",
                "unauthorized",
                "the token has expired",
            ),
            (
                403,
                "The caller's role may not do this",
                "forbidden",
                "this requires the org_admin role",
            ),
            (
                429,
                "Too many requests from this client, or too many failed authentications from this address; wait \
                 for `Retry-After` seconds (the `RateLimit` and `RateLimit-Policy` headers describe the quota)",
                "rate_limited",
                "too many requests; retry in 3 seconds",
            ),
        ])
    }
}

/// 404: a route with a resource id. Another organisation's resource answers exactly like a missing one.
pub struct NotFoundError;
impl IntoResponses for NotFoundError {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                400,
                "A path or query parameter is malformed",
                "invalid_path_parameter",
                "`id` is not a UUID",
            ),
            (
                404,
                "No such resource in this organisation",
                "not_found",
                "no such participant",
            ),
        ])
    }
}

/// 400, 413, 415, 422: every route taking a JSON body.
pub struct BodyErrors;
impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = responses(&[
            (
                400,
                "The body is not well-formed JSON",
                "malformed_json",
                "expected value at line 1 column 1",
            ),
            (
                413,
                "The body is larger than the configured limit",
                "payload_too_large",
                "the request body is larger than 1048576 bytes",
            ),
            (
                415,
                "The body is not JSON",
                "unsupported_media_type",
                "the request body must be JSON (Content-Type: application/json)",
            ),
        ]);
        r.insert(
            "422".into(),
            ResponseBuilder::new()
                .description("The body does not fit the schema (`invalid_body`), breaks a rule (`validation_failed`), or reuses an Idempotency-Key with a different body (`idempotency_key_reused`)")
                .content(
                    PROBLEM_CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                        .example(Some(json!({
                            "type": format!("{PROBLEM_BASE}validation_failed"),
                            "title": "Validation failed",
                            "status": 422,
                            "detail": "2 fields are invalid",
                            "code": "validation_failed",
                            "errors": [
                                {"field": "email", "code": "invalid_format", "message": "is not a valid email address"},
                                {"field": "timezone", "code": "unknown_timezone", "message": "is not an IANA time zone name (e.g. Europe/London)"}
                            ]
                        })))
                        .build(),
                )
                .build()
                .into(),
        );
        r
    }
}

/// 412: routes honouring `If-Match`.
pub struct PreconditionError;
impl IntoResponses for PreconditionError {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[(
            412,
            "If-Match does not match the current ETag",
            "precondition_failed",
            "the resource has changed since it was read",
        )])
    }
}

/// 409 and 422 for `Idempotency-Key` (and unique fields).
pub struct IdempotencyErrors;
impl IntoResponses for IdempotencyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                409,
                "A unique field is taken (`email_taken`, `external_id_taken`), or a request with this Idempotency-Key is in flight (`idempotency_key_in_use`)",
                "email_taken",
                "another participant of this organisation has this email",
            ),
            (
                422,
                "The body does not fit the schema (`invalid_body`), breaks a rule (`validation_failed`), or an Idempotency-Key is reused with a different request (`idempotency_key_reused`)",
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ),
        ])
    }
}

/// 409: a state machine refused the move (`illegal_transition`, with `allowed`), or the resource's state refuses the
/// change (`programme_closed`, `pair_not_active`, `already_answered`, ...).
pub struct ConflictErrors;
impl IntoResponses for ConflictErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = BTreeMap::new();
        r.insert(
            "409".into(),
            ResponseBuilder::new()
                .description("The resource's state does not allow this: an illegal transition (`illegal_transition`, with the `allowed` states), a failed guard, or a closed programme")
                .content(
                    PROBLEM_CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                        .example(Some(json!({
                            "type": format!("{PROBLEM_BASE}illegal_transition"),
                            "title": "Illegal transition",
                            "status": 409,
                            "detail": "a programme cannot go from `draft` to `active`",
                            "code": "illegal_transition",
                            "allowed": ["enrolling", "archived"]
                        })))
                        .build(),
                )
                .build()
                .into(),
        );
        r
    }
}

/// 422 `plugin_failed`: a plugin trapped, ran out of time, fuel or memory, returned an error or malformed output.
pub struct PluginErrors;
impl IntoResponses for PluginErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = BTreeMap::new();
        r.insert(
            "422".into(),
            ResponseBuilder::new()
                .description("The input does not fit the plugin's kind (`validation_failed`), or the plugin failed (`plugin_failed`, with `plugin`: name, version, kind and outcome)")
                .content(
                    PROBLEM_CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                        .example(Some(json!({
                            "type": format!("{PROBLEM_BASE}plugin_failed"),
                            "title": "The plugin failed",
                            "status": 422,
                            "detail": "plugin acme-matcher@1.2.0 (matcher) failed: the plugin ran past its 2s deadline",
                            "code": "plugin_failed",
                            "plugin": {"name": "acme-matcher", "version": "1.2.0", "kind": "matcher", "outcome": "timeout"}
                        })))
                        .build(),
                )
                .build()
                .into(),
        );
        r
    }
}
