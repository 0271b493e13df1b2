//! `/v1/identity-provider`: the organisation's own identity provider, whose tokens then act as its participants.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};

use super::extractors::Json;
use super::problem::{ApiResult, AuthErrors, BodyErrors};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::identity_providers::{self, IdentityProvider, PutIdentityProvider};
use crate::store::StoreError;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_one).service(put_one).service(delete_one);
}

fn etag(idp: &IdentityProvider) -> String {
    format!("\"idp-{}\"", idp.version)
}

/// Get the identity provider
#[utoipa::path(
    operation_id = "get_identity_provider",
    tag = "Identity provider",
    responses(
        (status = 200, description = "The registered identity provider", body = IdentityProvider, headers(("ETag" = String))),
        (status = 404, description = "None is registered", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/identity-provider")]
async fn get_one(req: HttpRequest, state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let idp = identity_providers::get(&principal.read_scope(&state.db)).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &idp, &etag(&idp)))
}

/// Register or replace the identity provider
///
/// From then on, bearer tokens issued by `issuer` for `audience`, signed by a key published at `jwks_uri`, are
/// accepted as the participant whose `participant_attribute` equals the token's `claim` (role `participant`).
/// Emits `identity_provider.updated`.
#[utoipa::path(
    operation_id = "put_identity_provider",
    tag = "Identity provider",
    request_body = PutIdentityProvider,
    responses(
        (status = 200, description = "Replaced", body = IdentityProvider, headers(("ETag" = String))),
        (status = 201, description = "Registered", body = IdentityProvider, headers(("ETag" = String))),
        (status = 409, description = "Another registration already uses this issuer and audience", body = super::problem::Problem, content_type = "application/problem+json"),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[put("/identity-provider")]
async fn put_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    body: Json<PutIdentityProvider>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let guard = crate::net::Guard::for_integrations(&state.config);
    identity_providers::check_jwks_uri(&body.value, &guard).await?;
    let txn = state.db.begin().await?;
    let (idp, created) = identity_providers::put(&principal.scope(&txn), body.value, &guard).await?;
    txn.commit().await.map_err(StoreError::from)?;
    state.auth.forget_organisation(principal.organisation_id);
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(respond::with_etag(&req, status, &idp, &etag(&idp)))
}

/// Remove the identity provider
///
/// Its tokens stop being accepted. Emits `identity_provider.deleted`.
#[utoipa::path(
    operation_id = "delete_identity_provider",
    tag = "Identity provider",
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "None is registered", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/identity-provider")]
async fn delete_one(state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    identity_providers::delete(&principal.scope(&txn)).await?;
    txn.commit().await.map_err(StoreError::from)?;
    state.auth.forget_organisation(principal.organisation_id);
    Ok(HttpResponse::NoContent().finish())
}
