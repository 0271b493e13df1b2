//! `/v1/programmes`: programmes, their state transitions, their health metrics and their stories. Handlers parse and
//! authorise, call `domain::programmes` (and `metrics`, `journal`), and map the result.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extractors::{IdempotencyKey, IfMatch, Json, Page, PageParams};
use super::idempotency::{Written, transact};
use super::problem::{
    ApiResult, AuthErrors, BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, PreconditionError,
};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::journal::{self, Story};
use crate::domain::metrics::{self, ProgrammeMetrics};
use crate::domain::programmes::{self, CloneProgramme, CreateProgramme, Programme, ProgrammeState, UpdateProgramme};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(clone_programme)
        .service(get_one)
        .service(update)
        .service(transition)
        .service(get_metrics)
        .service(get_breakdown)
        .service(stories);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgrammeFilters {
    /// Only programmes in this state.
    state: Option<ProgrammeState>,
    /// Only templates (`true`) or only programmes to run (`false`).
    template: Option<bool>,
}

/// List programmes
///
/// Admins see every programme; managers the programmes that list them; participants those open for enrolment and
/// those they are enrolled in.
#[utoipa::path(
    operation_id = "list_programmes",
    tag = "Programmes",
    params(ProgrammeFilters, PageParams),
    responses(
        (status = 200, description = "One page of programmes", body = Page<Programme>, headers(("ETag" = String))),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<ProgrammeFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = programmes::list(
        &scope,
        principal.actor(),
        filters.state,
        filters.template,
        page.after()?,
        page.limit()?,
    )
    .await?;
    respond::hashed(&req, &Page::new(rows, has_more, |p| p.id))
}

/// Create a programme
///
/// Creates a programme in `draft` (org_admin) and emits `programme.created`. Ground rules, matching and risk
/// settings take their defaults where omitted.
#[utoipa::path(
    operation_id = "create_programme",
    tag = "Programmes",
    request_body = CreateProgramme,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response instead of creating twice (kept 24 h)")),
    responses(
        (status = 201, description = "Created", body = Programme, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, IdempotencyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/programmes")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Json<CreateProgramme>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let cmd = body.value;
    transact(
        &req,
        &state,
        &principal,
        &key,
        &body.raw,
        StatusCode::CREATED,
        async |scope| {
            let p = programmes::create(scope, cmd).await?;
            if let Some(opt_in) = &p.matching.special_category {
                super::state_purpose(&req, opt_in.audit_purpose());
            }
            let location = format!("/v1/programmes/{}", p.id);
            Ok(Written::new(p.clone(), p.etag()).at(location))
        },
    )
    .await
}

/// Clone a programme
///
/// A new `draft` programme with the source's description, goals, topics, ground rules, matching settings (and policy
/// plugin), risk settings, survey scorer and surveys — and nothing about people: no enrolments, pairs or sessions.
/// The body names it and gives its dates. Clone a template (`"template": true`) or last year's programme. Admins and
/// the source's managers (a manager becomes the clone's manager). Emits `programme.created` and a `survey.created`
/// per survey copied.
#[utoipa::path(
    operation_id = "clone_programme",
    tag = "Programmes",
    request_body = CloneProgramme,
    params(
        ("id" = Uuid, Path, description = "The programme to clone"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response instead of cloning twice (kept 24 h)"),
    ),
    responses(
        (status = 201, description = "Created", body = Programme, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/programmes/{id}/clone")]
async fn clone_programme(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<CloneProgramme>,
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
            let p = programmes::clone_programme(scope, actor, id, cmd).await?;
            let location = format!("/v1/programmes/{}", p.id);
            Ok(Written::new(p.clone(), p.etag()).at(location))
        },
    )
    .await
}

/// Get a programme
#[utoipa::path(
    operation_id = "get_programme",
    tag = "Programmes",
    params(("id" = Uuid, Path, description = "The programme's id")),
    responses(
        (status = 200, description = "The programme", body = Programme, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let p = programmes::visible(&principal.read_scope(&state.db), principal.actor(), id.into_inner()).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &p, &p.etag()))
}

/// Update a programme
///
/// Admins and the programme's managers change its settings (only admins change `managers`). A change to the ground
/// rules after a pair agreed to them makes a new `ground_rules_version` (and a `programme.ground_rules_changed`
/// event): every pair must agree again before planning more sessions.
#[utoipa::path(
    operation_id = "update_programme",
    tag = "Programmes",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = UpdateProgramme,
    responses(
        (status = 200, description = "The updated programme", body = Programme, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/programmes/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<UpdateProgramme>,
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
            let p = programmes::update(scope, actor, id, cmd, if_match.0.as_deref()).await?;
            if let Some(opt_in) = &p.matching.special_category {
                super::state_purpose(&req, opt_in.audit_purpose());
            }
            Ok(Written::new(p.clone(), p.etag()))
        },
    )
    .await
}

/// The body of `POST /v1/programmes/{id}/transitions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "enrolling"}))]
pub struct ProgrammeTransition {
    pub to: ProgrammeState,
}

/// Move a programme to another state
///
/// `draft → enrolling → matching → active → completed → archived`, and `draft → archived`. Guards: `enrolling`
/// needs a topic, `matching` a mentor and a mentee enrolled, `active` an active pair. Completing a programme
/// completes its running pairs and dissolves those still proposed. An illegal move is a 409 listing the `allowed`
/// states; of two racing moves one wins and the other gets 409.
#[utoipa::path(
    operation_id = "transition_programme",
    tag = "Programmes",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the move is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = ProgrammeTransition,
    responses(
        (status = 200, description = "The programme in its new state", body = Programme, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/programmes/{id}/transitions")]
async fn transition(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    key: IdempotencyKey,
    body: Json<ProgrammeTransition>,
) -> ApiResult<HttpResponse> {
    let (actor, id, to) = (principal.actor(), id.into_inner(), body.value.to);
    transact(
        &req,
        &state,
        &principal,
        &key,
        &body.raw,
        StatusCode::OK,
        async |scope| {
            let p = programmes::transition(scope, actor, id, to, if_match.0.as_deref()).await?;
            Ok(Written::new(p.clone(), p.etag()))
        },
    )
    .await
}

/// Get a programme's health
///
/// Pairs by state, sessions held, scheduled and cancelled (by side, late ones apart), pairs that reached the target,
/// pairs at risk, survey response rate, NPS, "would recommend" share and likert means. Admins and the programme's
/// managers.
#[utoipa::path(
    operation_id = "get_programme_metrics",
    tag = "Programmes",
    params(("id" = Uuid, Path, description = "The programme's id")),
    responses(
        (status = 200, description = "The programme's metrics", body = ProgrammeMetrics),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/metrics")]
async fn get_metrics(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let m = metrics::programme(&principal.read_scope(&state.db), principal.actor(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(m))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    /// The special-category attribute to break the figures down by (1 to 100 characters).
    #[param(example = "first_generation_graduate")]
    attribute: String,
}

/// Break a programme's figures down by a special-category attribute
///
/// Who took part, was paired, reached the target and left, by the values of one sensitive attribute (only people
/// who recorded it with consent count under a value; the rest form the `null` group). A group of fewer than
/// `min_group_size` people (`UPWARD_MIN_GROUP_SIZE`, default 5) is suppressed — all its figures `null` — and when
/// that leaves one group suppressed among several, the next smallest is suppressed too, so no group can be worked
/// out from the totals. Admins and the programme's managers; every read is in the audit trail.
#[utoipa::path(
    operation_id = "get_programme_breakdown",
    tag = "Programmes",
    params(("id" = Uuid, Path, description = "The programme's id"), BreakdownQuery),
    responses(
        (status = 200, description = "The figures by group", body = crate::domain::inclusion::Breakdown),
        (status = 400, description = "The `attribute` query parameter is missing or malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The attribute name is empty or too long", body = super::problem::Problem, content_type = "application/problem+json"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/metrics/breakdown")]
async fn get_breakdown(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<BreakdownQuery>,
) -> ApiResult<HttpResponse> {
    let b = crate::domain::inclusion::breakdown(
        &principal.read_scope(&state.db),
        principal.actor(),
        id.into_inner(),
        &query.attribute,
        state.config.min_group_size,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(b))
}

/// List a programme's stories
///
/// Learnings their authors published, oldest first; visible to everyone who can see the programme.
#[utoipa::path(
    operation_id = "list_stories",
    tag = "Notes and learnings",
    params(("id" = Uuid, Path, description = "The programme's id"), PageParams),
    responses(
        (status = 200, description = "One page of stories", body = Page<Story>, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/stories")]
async fn stories(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) =
        journal::stories(&scope, principal.actor(), id.into_inner(), page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |s| s.learning_id))
}
