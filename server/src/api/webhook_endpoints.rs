//! `/v1/webhook-endpoints` (org_admin): where the organisation's events are delivered, and each endpoint's delivery
//! log with its recovery tools (re-send one delivery, replay a window of events, send a test event). The signing
//! secret is in the answer to creating an endpoint or rotating its secret, and nowhere else. Handlers check the
//! target URL (DNS included) before opening a transaction, then call `domain::webhook_endpoints` or
//! `domain::webhook_deliveries` and map the result.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::extractors::{IdempotencyKey, IfMatch, Json, Page, PageParams};
use super::idempotency::{Written, transact};
use super::problem::{
    ApiResult, AuthErrors, BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, PreconditionError,
};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::webhook_deliveries::{self, Delivery, DeliveryStatus, ReplayRequest, ReplayResult};
use crate::domain::webhook_endpoints::{
    self, CreateWebhookEndpoint, EndpointWithSecret, UpdateWebhookEndpoint, WebhookEndpoint,
};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(update)
        .service(rotate_secret)
        .service(remove)
        .service(list_deliveries)
        .service(get_delivery)
        .service(retry_delivery)
        .service(replay)
        .service(send_test);
}

/// Create a webhook endpoint
///
/// Registers a URL for the organisation's events (all of them, or those `event_types` names: exact types or
/// wildcards such as `pair.*`). The URL must be `https` and resolve only to public addresses (`422 url_refused`
/// otherwise). The answer holds the signing `secret`, shown this once. At most 100 endpoints per organisation
/// (`409 too_many_endpoints`). Emits `webhook_endpoint.created`.
#[utoipa::path(
    operation_id = "create_webhook_endpoint",
    tag = "Webhooks",
    request_body = CreateWebhookEndpoint,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response instead of creating twice (kept 24 h)")),
    responses(
        (status = 201, description = "Created, with its signing secret", body = EndpointWithSecret, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, ConflictErrors, IdempotencyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Json<CreateWebhookEndpoint>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let checked = webhook_endpoints::check_create(body.value, &crate::net::Guard::for_webhooks(&state.config)).await?;
    transact(
        &req,
        &state,
        &principal,
        &key,
        &body.raw,
        StatusCode::CREATED,
        async |scope| {
            let created = webhook_endpoints::create(scope, checked).await?;
            let location = format!("/v1/webhook-endpoints/{}", created.endpoint.id);
            let etag = created.endpoint.etag();
            Ok(Written::new(created, etag).at(location))
        },
    )
    .await
}

/// List webhook endpoints
///
/// The organisation's endpoints, oldest first (without their secrets).
#[utoipa::path(
    operation_id = "list_webhook_endpoints",
    tag = "Webhooks",
    params(PageParams),
    responses(
        (status = 200, description = "One page of endpoints", body = Page<WebhookEndpoint>, headers(("ETag" = String))),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/webhook-endpoints")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = webhook_endpoints::list(&scope, page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |e| e.id))
}

/// Get a webhook endpoint
#[utoipa::path(
    operation_id = "get_webhook_endpoint",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = WebhookEndpoint, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/webhook-endpoints/{id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let endpoint = webhook_endpoints::get(&principal.read_scope(&state.db), id.into_inner()).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &endpoint, &endpoint.etag()))
}

/// Update a webhook endpoint
///
/// Changes its URL (checked like a new one), description, event types, rate limit or metadata, or disables and
/// enables it (enabling clears `disabled_reason`). Emits `webhook_endpoint.updated`.
#[utoipa::path(
    operation_id = "update_webhook_endpoint",
    tag = "Webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = UpdateWebhookEndpoint,
    responses(
        (status = 200, description = "The updated endpoint", body = WebhookEndpoint, headers(("ETag" = String))),
        BodyErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/webhook-endpoints/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<UpdateWebhookEndpoint>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let checked = webhook_endpoints::check_update(body.value, &crate::net::Guard::for_webhooks(&state.config)).await?;
    let txn = state.db.begin().await?;
    let endpoint =
        webhook_endpoints::update(&principal.scope(&txn), id.into_inner(), if_match.0.as_deref(), checked).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(respond::with_etag(&req, StatusCode::OK, &endpoint, &endpoint.etag()))
}

/// Rotate a webhook endpoint's secret
///
/// A new secret signs from now on and is returned this once; the previous one keeps signing alongside it for 24
/// hours (both signatures in `webhook-signature`), so receivers can switch without missing a delivery. Emits
/// `webhook_endpoint.secret_rotated`.
#[utoipa::path(
    operation_id = "rotate_webhook_endpoint_secret",
    tag = "Webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the rotation is based on"),
    ),
    responses(
        (status = 200, description = "The endpoint with its new secret", body = EndpointWithSecret, headers(("ETag" = String))),
        PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints/{id}/secret/rotate")]
async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let rotated =
        webhook_endpoints::rotate_secret(&principal.scope(&txn), id.into_inner(), if_match.0.as_deref()).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    let etag = rotated.endpoint.etag();
    Ok(respond::with_etag(&req, StatusCode::OK, &rotated, &etag))
}

/// Delete a webhook endpoint
///
/// Stops every delivery to it. Emits `webhook_endpoint.deleted`.
#[utoipa::path(
    operation_id = "delete_webhook_endpoint",
    tag = "Webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the deletion is based on"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/webhook-endpoints/{id}")]
async fn remove(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    webhook_endpoints::delete(&principal.scope(&txn), id.into_inner(), if_match.0.as_deref()).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilters {
    /// Only deliveries in this state.
    status: Option<DeliveryStatus>,
    /// Only deliveries of this event type, e.g. `pair.activated`.
    event_type: Option<String>,
}

/// List an endpoint's deliveries
///
/// The delivery log, newest first: each delivery with every attempt (time, the receiver's status, latency, the first
/// 4 KiB of its answer, the error). Finished deliveries are kept for the retention period (30 days by default).
#[utoipa::path(
    operation_id = "list_webhook_deliveries",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id"), DeliveryFilters, PageParams),
    responses(
        (status = 200, description = "One page of deliveries", body = Page<Delivery>),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/webhook-endpoints/{id}/deliveries")]
async fn list_deliveries(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    filters: web::Query<DeliveryFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = webhook_deliveries::list(
        &scope,
        id.into_inner(),
        filters.status,
        filters.event_type.as_deref(),
        page.after()?,
        page.limit()?,
    )
    .await?;
    respond::hashed(&req, &Page::new(rows, has_more, |d| d.id))
}

/// Get a delivery
#[utoipa::path(
    operation_id = "get_webhook_delivery",
    tag = "Webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("delivery_id" = Uuid, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 200, description = "The delivery with its attempts", body = Delivery),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/webhook-endpoints/{id}/deliveries/{delivery_id}")]
async fn get_delivery(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let (endpoint_id, id) = path.into_inner();
    let delivery = webhook_deliveries::get(&principal.read_scope(&state.db), endpoint_id, id).await?;
    Ok(HttpResponse::Ok().json(delivery))
}

/// Re-send a delivery
///
/// Sends it again now, with the same `webhook-id`. A pending delivery keeps its retry schedule; a succeeded or
/// failed one gets one more attempt. `409 endpoint_disabled` while the endpoint is disabled.
#[utoipa::path(
    operation_id = "retry_webhook_delivery",
    tag = "Webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("delivery_id" = Uuid, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "Queued; poll the delivery for its new attempt", body = Delivery),
        ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints/{id}/deliveries/{delivery_id}/retry")]
async fn retry_delivery(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let (endpoint_id, id) = path.into_inner();
    let txn = state.db.begin().await?;
    let delivery = webhook_deliveries::retry(&principal.scope(&txn), endpoint_id, id).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::Accepted().json(delivery))
}

/// Replay a window of events
///
/// After a receiver's outage: queues a new delivery to this endpoint of every event it subscribes to that occurred
/// in `[since, until)`, oldest first, each with its original `webhook-id` (receivers that deduplicate skip the ones
/// they have). At most 10,000 events per replay (`422 window_too_large`).
#[utoipa::path(
    operation_id = "replay_webhook_events",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "Queued", body = ReplayResult),
        BodyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints/{id}/replay")]
async fn replay(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: Json<ReplayRequest>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let result = webhook_deliveries::replay(&principal.scope(&txn), id.into_inner(), body.value).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::Accepted().json(result))
}

/// Send a test event
///
/// Records a `webhook.test` event and delivers it to this endpoint only (one attempt, no retries): check that the
/// receiver is reachable and verifies signatures, then read the attempt in the returned delivery.
#[utoipa::path(
    operation_id = "test_webhook_endpoint",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 202, description = "Queued; poll the delivery for its attempt", body = Delivery),
        ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints/{id}/test")]
async fn send_test(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let delivery = webhook_deliveries::send_test(&principal.scope(&txn), id.into_inner()).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::Accepted().json(delivery))
}
