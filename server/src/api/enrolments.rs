//! Enrolments over HTTP: `/v1/programmes/{id}/enrolments` and `/v1/enrolments/{id}`. Handlers parse and authorise,
//! call `domain::enrolments`, and map the result.

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
use crate::domain::enrolments::{
    self, CreateEnrolment, Enrolment, EnrolmentFilter, EnrolmentRole, EnrolmentState, UpdateEnrolment, Withdraw,
};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(update)
        .service(withdraw);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrolmentFilters {
    /// Only mentors or only mentees.
    role: Option<EnrolmentRole>,
    /// Only active or only withdrawn enrolments.
    state: Option<EnrolmentState>,
}

/// List a programme's enrolments
///
/// Admins and the programme's managers see every enrolment; a participant sees only their own.
#[utoipa::path(
    operation_id = "list_enrolments",
    tag = "Enrolments",
    params(("id" = Uuid, Path, description = "The programme's id"), EnrolmentFilters, PageParams),
    responses(
        (status = 200, description = "One page of enrolments", body = Page<Enrolment>, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/enrolments")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    filters: web::Query<EnrolmentFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let filter = EnrolmentFilter {
        role: filters.role,
        state: filters.state,
        participant_id: None,
    };
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = enrolments::list(
        &scope,
        principal.actor(),
        id.into_inner(),
        filter,
        page.after()?,
        page.limit()?,
    )
    .await?;
    respond::hashed(&req, &Page::new(rows, has_more, |e| e.id))
}

/// Enrol in a programme
///
/// A participant enrols themselves (omitting `participant_id`) while the programme is `enrolling`; admins and the
/// programme's managers enrol anyone until the programme completes. One enrolment per participant per programme
/// (409 `already_enrolled`). Emits `enrolment.created`.
#[utoipa::path(
    operation_id = "create_enrolment",
    tag = "Enrolments",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = CreateEnrolment,
    responses(
        (status = 201, description = "Enrolled", body = Enrolment, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/programmes/{id}/enrolments")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<CreateEnrolment>,
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
            let e = enrolments::create(scope, actor, id, cmd).await?;
            let location = format!("/v1/enrolments/{}", e.id);
            Ok(Written::new(e.clone(), e.etag()).at(location))
        },
    )
    .await
}

/// Get an enrolment
#[utoipa::path(
    operation_id = "get_enrolment",
    tag = "Enrolments",
    params(("id" = Uuid, Path, description = "The enrolment's id")),
    responses(
        (status = 200, description = "The enrolment", body = Enrolment, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/enrolments/{id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (e, _) = enrolments::visible(&principal.read_scope(&state.db), principal.actor(), id.into_inner()).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &e, &e.etag()))
}

/// Update an enrolment
///
/// Topics (from the programme's catalogue), goals, capacity (not below the open pairs) and availability. The
/// participant themselves, admins, and the programme's managers.
#[utoipa::path(
    operation_id = "update_enrolment",
    tag = "Enrolments",
    params(
        ("id" = Uuid, Path, description = "The enrolment's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = UpdateEnrolment,
    responses(
        (status = 200, description = "The updated enrolment", body = Enrolment, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/enrolments/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<UpdateEnrolment>,
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
            let e = enrolments::update(scope, actor, id, cmd, if_match.0.as_deref()).await?;
            Ok(Written::new(e.clone(), e.etag()))
        },
    )
    .await
}

/// Withdraw an enrolment
///
/// With a reason. The participant's open pairs in the programme are dissolved (`pair.dissolved`, reason
/// `enrolment_withdrawn`). Emits `enrolment.withdrawn`.
#[utoipa::path(
    operation_id = "withdraw_enrolment",
    tag = "Enrolments",
    params(
        ("id" = Uuid, Path, description = "The enrolment's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = Withdraw,
    responses(
        (status = 200, description = "The withdrawn enrolment", body = Enrolment, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/enrolments/{id}/withdraw")]
async fn withdraw(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<Withdraw>,
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
            let e = enrolments::withdraw(scope, actor, id, cmd).await?;
            Ok(Written::new(e.clone(), e.etag()))
        },
    )
    .await
}
