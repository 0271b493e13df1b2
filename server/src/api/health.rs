//! Liveness, readiness, Prometheus metrics and the published signing keys.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics).service(jwks);
}

/// The Prometheus scrape, for the separate metrics listener (`UPWARD_METRICS_LISTEN`), which has no other route.
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    match crate::telemetry::metrics::scrape(&state.db).await {
        Some(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        None => HttpResponse::ServiceUnavailable().body("metrics are off in this process"),
    }
}

/// Prometheus metrics
///
/// The text exposition format: requests by route template, method and status class; database pools; the webhook
/// backlog, attempts and delivery lag; plugin invocations; matching runs and HRIS syncs; time-based events; the
/// process (RSS, open file descriptors). Served here only to a bearer of `UPWARD_METRICS_TOKEN` (404 when none is
/// set); `UPWARD_METRICS_LISTEN` serves the same text, without a token, on a separate address.
#[utoipa::path(
    operation_id = "metrics",
    tag = "Operations",
    responses(
        (status = 200, description = "Every metric, in the Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "The metrics token is missing or wrong", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are not served on this address (no `UPWARD_METRICS_TOKEN`; a token is still required first)", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("metrics_token" = []))
)]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>, req: actix_web::HttpRequest) -> super::problem::ApiResult<HttpResponse> {
    use super::problem::ApiError;
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // A route that takes a token answers 401 without one, whether or not it is served here.
    if given.is_empty() {
        return Err(crate::auth::AuthError::Missing.into());
    }
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return Err(ApiError::RouteNotFound);
    };
    // Digests compared, not the tokens: how long the comparison takes says nothing about the token.
    use sha2::Digest;
    if sha2::Sha256::digest(given.as_bytes()) != sha2::Sha256::digest(expected.as_bytes()) {
        return Err(crate::auth::AuthError::InvalidToken("this is not the metrics token".into()).into());
    }
    Ok(scrape(state).await)
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every dependency answered.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// `ok`, or why the database did not answer.
    #[schema(example = "ok")]
    pub database: String,
    /// `ok`, `not_configured`, or why Redis did not answer.
    #[schema(example = "not_configured")]
    pub redis: String,
}

/// Liveness
///
/// Answers as long as the process serves HTTP; touches nothing else.
#[utoipa::path(
    operation_id = "healthz",tag = "Operations", responses((status = 200, description = "The process is alive", body = Health)), security(()))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness
///
/// Checks the database, and Redis when configured.
#[utoipa::path(
    operation_id = "readyz",
    tag = "Operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness),
    ),
    security(())
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let timeout = std::time::Duration::from_secs(2);
    let database = match tokio::time::timeout(timeout, state.db.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: timed out".to_string(),
    };
    let redis = match &state.redis {
        None => "not_configured".to_string(),
        Some(redis) => {
            let mut conn = redis.clone();
            let ping_cmd = redis::cmd("PING");
            let ping = ping_cmd.query_async::<String>(&mut conn);
            match tokio::time::timeout(timeout, ping).await {
                Ok(Ok(_)) => "ok".to_string(),
                Ok(Err(e)) => format!("error: {e}"),
                Err(_) => "error: timed out".to_string(),
            }
        }
    };
    let ready = database == "ok" && (redis == "ok" || redis == "not_configured");
    let body = Readiness {
        status: if ready { "ok" } else { "unavailable" },
        database,
        redis,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The server's token-verification keys
///
/// A JSON Web Key Set (RFC 7517) of the Ed25519 keys that sign Upward's tokens, the retiring ones included.
#[utoipa::path(
    operation_id = "get_jwks",
    tag = "Authentication",
    responses((status = 200, description = "The key set", body = Object,
        example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "3f2a9c4d1e0b7a6c5d4e3f2a", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}))),
    security(())
)]
#[get("/.well-known/jwks.json")]
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.auth.keys().jwks().as_ref())
}
