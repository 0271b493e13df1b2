//! `/v1/hris-connections` (org_admin): the organisation's connections to its HR system. Secrets go in on create and
//! update and never come out: a connection shows their names only. Handlers call `domain::hris_connections`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

use super::extractors::{IdempotencyKey, IfMatch, Json, Page, PageParams};
use super::idempotency::{Written, transact};
use super::problem::{ApiResult, AuthErrors, BodyErrors, IdempotencyErrors, NotFoundError, PreconditionError};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::hris_connections::{self, CreateHrisConnection, HrisConnection, UpdateHrisConnection};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(update)
        .service(remove);
}

/// Create an HRIS connection
///
/// Names a ready `hris_connector` plugin release (`name@version`), its configuration (checked against the release's
/// schema; absent: the release's own), its secrets (write-only: sealed with the server's key, never returned or
/// logged) and an optional daily schedule. Emits `hris_connection.created` (secret names only).
#[utoipa::path(
    operation_id = "create_hris_connection",
    tag = "HRIS",
    request_body = CreateHrisConnection,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response instead of creating twice (kept 24 h)")),
    responses(
        (status = 201, description = "Created (secret names only)", body = HrisConnection, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, IdempotencyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/hris-connections")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Json<CreateHrisConnection>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let secrets = state.secrets.clone();
    transact(
        &req,
        &state,
        &principal,
        &key,
        &body.raw,
        StatusCode::CREATED,
        async |scope| {
            let created = hris_connections::create(scope, &secrets, body.value).await?;
            let location = format!("/v1/hris-connections/{}", created.id);
            let etag = created.etag();
            Ok(Written::new(created, etag).at(location))
        },
    )
    .await
}

/// List HRIS connections
#[utoipa::path(
    operation_id = "list_hris_connections",
    tag = "HRIS",
    params(PageParams),
    responses(
        (status = 200, description = "One page of connections", body = Page<HrisConnection>, headers(("ETag" = String))),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/hris-connections")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let scope = principal.scope(state.db.reader());
    let (rows, has_more) = hris_connections::list(&scope, page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |c| c.id))
}

/// Get an HRIS connection
#[utoipa::path(
    operation_id = "get_hris_connection",
    tag = "HRIS",
    params(("id" = Uuid, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "The connection (secret names only)", body = HrisConnection, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/hris-connections/{id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let connection = hris_connections::get(&principal.scope(state.db.reader()), id.into_inner()).await?;
    Ok(respond::with_etag(
        &req,
        StatusCode::OK,
        &connection,
        &connection.etag(),
    ))
}

/// Update an HRIS connection
///
/// Changes its name, connector release, configuration, schedule or state; `secrets` merges (a value sets one,
/// `null` removes it). Emits `hris_connection.updated`.
#[utoipa::path(
    operation_id = "update_hris_connection",
    tag = "HRIS",
    params(
        ("id" = Uuid, Path, description = "The connection's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = UpdateHrisConnection,
    responses(
        (status = 200, description = "The updated connection", body = HrisConnection, headers(("ETag" = String))),
        BodyErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/hris-connections/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<UpdateHrisConnection>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let connection = hris_connections::update(
        &principal.scope(&txn),
        &state.secrets,
        id.into_inner(),
        if_match.0.as_deref(),
        body.value,
    )
    .await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(respond::with_etag(
        &req,
        StatusCode::OK,
        &connection,
        &connection.etag(),
    ))
}

/// Delete an HRIS connection
///
/// Its secrets go with it. Emits `hris_connection.deleted`.
#[utoipa::path(
    operation_id = "delete_hris_connection",
    tag = "HRIS",
    params(
        ("id" = Uuid, Path, description = "The connection's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the deletion is based on"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/hris-connections/{id}")]
async fn remove(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    hris_connections::delete(&principal.scope(&txn), id.into_inner(), if_match.0.as_deref()).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::NoContent().finish())
}
