//! Sessions over HTTP: `/v1/pairs/{id}/sessions` and `/v1/sessions/{id}` (reschedule, complete, cancel, no-show).
//! Handlers parse and authorise, call `domain::sessions`, and map the result.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
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
use crate::domain::sessions::{
    self, CancelSession, CompleteSession, RecordNoShow, RescheduleSession, ScheduleSession, Session, SessionState,
};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(schedule)
        .service(get_one)
        .service(reschedule)
        .service(complete)
        .service(cancel)
        .service(no_show);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionFilters {
    /// Only sessions in this state.
    state: Option<SessionState>,
}

/// List a pair's sessions
#[utoipa::path(
    operation_id = "list_sessions",
    tag = "Sessions",
    params(("id" = Uuid, Path, description = "The pair's id"), SessionFilters, PageParams),
    responses(
        (status = 200, description = "One page of sessions, in the order they were planned", body = Page<Session>, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pairs/{id}/sessions")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    filters: web::Query<SessionFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = sessions::list(
        &scope,
        principal.actor(),
        id.into_inner(),
        filters.state,
        page.after()?,
        page.limit()?,
    )
    .await?;
    respond::hashed(&req, &Page::new(rows, has_more, |s| s.id))
}

/// Schedule a session
///
/// The pair's participants, admins and the programme's managers. The pair must be active and both sides must have
/// agreed to the current ground rules (409 `pair_not_active`, `ground_rules_not_agreed`); agenda topics on the
/// programme's off-limit list are refused (422 `off_limit_topic`). Emits `session.scheduled`.
#[utoipa::path(
    operation_id = "schedule_session",
    tag = "Sessions",
    params(
        ("id" = Uuid, Path, description = "The pair's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = ScheduleSession,
    responses(
        (status = 201, description = "Scheduled", body = Session, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/pairs/{id}/sessions")]
async fn schedule(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<ScheduleSession>,
) -> ApiResult<HttpResponse> {
    let (actor, id, cmd) = (principal.actor(), id.into_inner(), body.value);
    transact(
        &req,
        &state,
        &principal,
        &key,
        &body.raw,
        StatusCode::CREATED,
        async |scope| {
            let s = sessions::schedule(scope, actor, id, cmd).await?;
            let location = format!("/v1/sessions/{}", s.id);
            Ok(Written::new(s.clone(), s.etag()).at(location))
        },
    )
    .await
}

/// Get a session
#[utoipa::path(
    operation_id = "get_session",
    tag = "Sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session", body = Session, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/sessions/{id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (s, _, _) = sessions::visible(&principal.read_scope(&state.db), principal.actor(), id.into_inner()).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &s, &s.etag()))
}

/// Reschedule a session
///
/// Changes a scheduled session's time, length, mode, place or agenda. Emits `session.rescheduled`.
#[utoipa::path(
    operation_id = "reschedule_session",
    tag = "Sessions",
    params(
        ("id" = Uuid, Path, description = "The session's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = RescheduleSession,
    responses(
        (status = 200, description = "The rescheduled session", body = Session, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/sessions/{id}")]
async fn reschedule(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<RescheduleSession>,
) -> ApiResult<HttpResponse> {
    let (actor, id, cmd) = (principal.actor(), id.into_inner(), body.value);
    transact(
        &req,
        &state,
        &principal,
        &IdempotencyKey(None),
        &body.raw,
        StatusCode::OK,
        async |scope| {
            let s = sessions::reschedule(scope, actor, id, cmd, if_match.0.as_deref()).await?;
            Ok(Written::new(s.clone(), s.etag()))
        },
    )
    .await
}

/// Complete a session
///
/// Records that it took place (`held_at`, default the planned start, never in the future), how long, and what was
/// discussed. Updates the pair's commitment, sends `after_each_session` (and at half the target, `midpoint`)
/// surveys. Emits `session.completed`.
#[utoipa::path(
    operation_id = "complete_session",
    tag = "Sessions",
    params(
        ("id" = Uuid, Path, description = "The session's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = CompleteSession,
    responses(
        (status = 200, description = "The completed session", body = Session, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/sessions/{id}/complete")]
async fn complete(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<CompleteSession>,
) -> ApiResult<HttpResponse> {
    let (actor, id, cmd) = (principal.actor(), id.into_inner(), body.value);
    transact(
        &req,
        &state,
        &principal,
        &key,
        &body.raw,
        StatusCode::OK,
        async |scope| {
            let s = sessions::complete(scope, actor, id, cmd).await?;
            Ok(Written::new(s.clone(), s.etag()))
        },
    )
    .await
}

/// Cancel a session
///
/// A participant cancels for their own side; admins and managers say who cancels (`mentor`, `mentee`, `manager`).
/// Under 24 h before the start it is marked `late`. Emits `session.cancelled`.
#[utoipa::path(
    operation_id = "cancel_session",
    tag = "Sessions",
    params(
        ("id" = Uuid, Path, description = "The session's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = CancelSession,
    responses(
        (status = 200, description = "The cancelled session", body = Session, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/sessions/{id}/cancel")]
async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<CancelSession>,
) -> ApiResult<HttpResponse> {
    let (actor, id, cmd) = (principal.actor(), id.into_inner(), body.value);
    transact(
        &req,
        &state,
        &principal,
        &key,
        &body.raw,
        StatusCode::OK,
        async |scope| {
            let s = sessions::cancel(scope, actor, id, cmd).await?;
            Ok(Written::new(s.clone(), s.etag()))
        },
    )
    .await
}

/// Record a no-show
///
/// Once the start has passed: who did not come (`mentor`, `mentee`, `both`). Emits `session.no_show`.
#[utoipa::path(
    operation_id = "record_no_show",
    tag = "Sessions",
    params(
        ("id" = Uuid, Path, description = "The session's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = RecordNoShow,
    responses(
        (status = 200, description = "The session, marked no-show", body = Session, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/sessions/{id}/no-show")]
async fn no_show(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<RecordNoShow>,
) -> ApiResult<HttpResponse> {
    let (actor, id, cmd) = (principal.actor(), id.into_inner(), body.value);
    transact(
        &req,
        &state,
        &principal,
        &key,
        &body.raw,
        StatusCode::OK,
        async |scope| {
            let s = sessions::no_show(scope, actor, id, cmd).await?;
            Ok(Written::new(s.clone(), s.etag()))
        },
    )
    .await
}
