//! Liveness, readiness and the published signing keys.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(jwks);
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
