//! `POST /v1/oauth/token`: OAuth 2.0 client credentials (RFC 6749 §4.4). Errors follow §5.2 (`error`,
//! `error_description`), which OAuth client libraries parse; each also carries RFC 9457 members so that the rest of
//! our error handling reads them too.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::AppState;
use super::problem::PROBLEM_BASE;
use crate::auth::{IssuedToken, Principal, Role};
use crate::domain::organisations;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(token);
}

/// The form fields of a token request (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"grant_type": "client_credentials", "client_id": "upw_client_3q2n...", "client_secret": "upw_secret_Xk9..."}))]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: String,
    /// The organisation's client id (or send it with the secret as HTTP Basic credentials).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Optional; the only scope is `org_admin`.
    pub scope: Option<String>,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_client", "error_description": "client authentication failed", "type": "https://upward.dev/problems/invalid_client", "title": "Client authentication failed", "status": 401}))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type` or `invalid_scope`.
    pub error: &'static str,
    pub error_description: String,
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
}

fn oauth_error(status: StatusCode, error: &'static str, title: &'static str, description: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"upward\""));
    }
    response.json(OAuthError {
        error,
        error_description: description.to_string(),
        problem_type: format!("{PROBLEM_BASE}{error}"),
        title,
        status: status.as_u16(),
    })
}

fn invalid_request(description: &str) -> HttpResponse {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Invalid token request",
        description,
    )
}

/// Issue an access token
///
/// Exchanges the organisation's client credentials for a short-lived bearer token (`org_admin` role). Credentials go
/// in the form body or as HTTP Basic authentication, not both.
#[utoipa::path(
    operation_id = "issue_token",
    tag = "Authentication",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token", body = IssuedToken),
        (status = 400, description = "`invalid_request`, `unsupported_grant_type` or `invalid_scope`", body = OAuthError),
        (status = 401, description = "`invalid_client`: unknown client or wrong secret", body = OAuthError),
        (status = 413, description = "The body is larger than the configured limit", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed authentications for this client id or from this address: locked out for `Retry-After` seconds (longer after each further lock-out)",
         body = super::problem::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds until the lock-out ends"))),
    ),
    security(())
)]
#[post("/oauth/token")]
async fn token(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return invalid_request("the body must be application/x-www-form-urlencoded");
    }
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return invalid_request("the body is not a valid form");
    };
    let mut form = HashMap::new();
    for (name, value) in pairs {
        // RFC 6749 §3.2: parameters must not be repeated.
        if form.insert(name.clone(), value).is_some() {
            return invalid_request(&format!("the parameter `{name}` is repeated"));
        }
    }
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|encoded| {
            STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(id, secret)| (id.to_string(), secret.to_string()))
                })
        });
    let (client_id, client_secret) = match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(Some(_)), Some(_), _) | (Some(Some(_)), _, Some(_)) => {
            return invalid_request("send the client credentials either as HTTP Basic or in the body, not both");
        }
        (Some(None), _, _) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
                "the Basic credentials are malformed",
            );
        }
        (Some(Some(pair)), None, None) => pair,
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        (None, _, _) => return invalid_request("client_id and client_secret are required"),
    };
    match form.get("grant_type").map(String::as_str) {
        None => return invalid_request("grant_type is required"),
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
                "only the client_credentials grant is supported",
            );
        }
    }
    if let Some(scope) = form.get("scope")
        && scope.split_whitespace().any(|s| s != "org_admin")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid scope",
            "the only scope is org_admin",
        );
    }
    // A client id or an address that keeps failing is locked out for a while (longer each time), before any lookup.
    let address = req.peer_addr().map(|a| a.ip().to_string());
    if let Some(locked) = state.limiter.auth_locked(Some(&client_id), address.as_deref()).await {
        let refused = super::problem::ApiError::RateLimited {
            detail: format!(
                "too many failed authentications for this client or from this address; retry in {} seconds",
                locked.retry_after_seconds
            ),
            retry_after: locked.retry_after_seconds,
            policy: None,
        };
        return actix_web::ResponseError::error_response(&refused);
    }
    // No client id or secret holds a NUL (and PostgreSQL could not look one up): a failed authentication like any
    // other.
    let lookup = if crate::nul::has_nul(&client_id) || crate::nul::has_nul(&client_secret) {
        Ok(None)
    } else {
        organisations::authenticate(&state.db, &client_id, &client_secret).await
    };
    let organisation = match lookup {
        Ok(Some(o)) => {
            state.limiter.auth_succeeded(&client_id).await;
            o
        }
        Ok(None) => {
            // Who failed, never with what: the secret stays out of the log.
            let shown: String = client_id
                .chars()
                .take(128)
                .collect::<String>()
                .escape_debug()
                .to_string();
            tracing::warn!(
                target: "upward::auth",
                client_id = %shown,
                address = address.as_deref().unwrap_or("-"),
                "failed client authentication"
            );
            state.limiter.auth_failed(Some(&client_id), address.as_deref()).await;
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
                "client authentication failed",
            );
        }
        Err(e) => return super::problem::ApiError::from(e).into_response(),
    };
    let principal = Principal {
        organisation_id: organisation.id,
        role: Role::OrgAdmin,
        participant_id: None,
        subject: client_id,
    };
    match state.auth.issue(&principal, state.config.token_ttl_seconds).await {
        Ok(token) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(token),
        Err(e) => super::problem::ApiError::from(e).into_response(),
    }
}

trait IntoResponse {
    fn into_response(self) -> HttpResponse;
}

impl IntoResponse for super::problem::ApiError {
    fn into_response(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}
