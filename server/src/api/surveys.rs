//! Surveys over HTTP: `/v1/programmes/{id}/surveys` (templates and scores) and `/v1/survey-requests` (what each
//! participant is asked, and their answers). Handlers parse and authorise, call `domain::surveys`, and map the result.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
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
use crate::domain::surveys::{
    self, BuiltinScorer, CreateSurvey, RequestFilter, RequestState, SubmitResponse, Survey, SurveyRequest,
    SurveyScores, UpdateSurvey,
};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(enable_role_reversion_pulse)
        .service(get_one)
        .service(update)
        .service(scores)
        .service(list_requests)
        .service(get_request)
        .service(respond_to);
}

/// List a programme's surveys
#[utoipa::path(
    operation_id = "list_surveys",
    tag = "Surveys",
    params(("id" = Uuid, Path, description = "The programme's id"), PageParams),
    responses(
        (status = 200, description = "One page of surveys", body = Page<Survey>, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/surveys")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) =
        surveys::list(&scope, principal.actor(), id.into_inner(), page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |s| s.id))
}

/// Create a survey
///
/// Admins and the programme's managers. From now on, each milestone (`after_each_session`, `midpoint`, `end`) sends
/// one request per participant of the audience. Emits `survey.created`.
#[utoipa::path(
    operation_id = "create_survey",
    tag = "Surveys",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = CreateSurvey,
    responses(
        (status = 201, description = "Created", body = Survey, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/programmes/{id}/surveys")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<CreateSurvey>,
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
            let s = surveys::create(scope, actor, id, cmd).await?;
            let location = format!("/v1/programmes/{}/surveys/{}", s.programme_id, s.id);
            Ok(Written::new(s.clone(), s.etag()).at(location))
        },
    )
    .await
}

/// Send the role-reversion pulse
///
/// Adds the built-in pulse to the programme (admins and its managers): after each held session the mentor is asked
/// who did most of the talking (`Me`, `About even`, `My mentee`) and whether the conversation kept to the agreed
/// topics. When the mentor answers `My mentee` in `risk.role_reversion_in_a_row` pulses running (default 2), the
/// pair is at risk with the reason `role_reversion`. Idempotent: the programme's active pulse is returned if it has
/// one (deactivate it with `PATCH …/surveys/{survey_id}` to stop it). Emits `survey.created` when it creates one.
#[utoipa::path(
    operation_id = "enable_role_reversion_pulse",
    tag = "Surveys",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    responses(
        (status = 200, description = "The programme's pulse survey", body = Survey, headers(("ETag" = String), ("Location" = String))),
        ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[put("/programmes/{id}/pulses/role-reversion")]
async fn enable_role_reversion_pulse(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> ApiResult<HttpResponse> {
    let (actor, id) = (principal.actor(), id.into_inner());
    transact(&req, &state, &principal, &key, b"", StatusCode::OK, async |scope| {
        let (s, _) = crate::domain::role_reversion::enable(scope, actor, id).await?;
        let location = format!("/v1/programmes/{}/surveys/{}", s.programme_id, s.id);
        Ok(Written::new(s.clone(), s.etag()).at(location))
    })
    .await
}

/// Get a survey
#[utoipa::path(
    operation_id = "get_survey",
    tag = "Surveys",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("survey_id" = Uuid, Path, description = "The survey's id"),
    ),
    responses(
        (status = 200, description = "The survey", body = Survey, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/surveys/{survey_id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (programme_id, id) = path.into_inner();
    let s = surveys::get(&principal.read_scope(&state.db), principal.actor(), programme_id, id).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &s, &s.etag()))
}

/// Update a survey
///
/// The title, or `active: false` to stop sending it. Questions never change once answers may refer to them.
#[utoipa::path(
    operation_id = "update_survey",
    tag = "Surveys",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("survey_id" = Uuid, Path, description = "The survey's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = UpdateSurvey,
    responses(
        (status = 200, description = "The updated survey", body = Survey, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/programmes/{id}/surveys/{survey_id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
    body: Json<UpdateSurvey>,
) -> ApiResult<HttpResponse> {
    let (programme_id, id) = path.into_inner();
    let (actor, cmd) = (principal.actor(), body.value);
    transact(
        &req,
        &state,
        &principal,
        &IdempotencyKey(None),
        &body.raw,
        StatusCode::OK,
        async |scope| {
            let s = surveys::update(scope, actor, programme_id, id, cmd, if_match.0.as_deref()).await?;
            Ok(Written::new(s.clone(), s.etag()))
        },
    )
    .await
}

/// Get a survey's scores
///
/// Named scores from the programme's scorer (today the built-in one: NPS and "would recommend" share per `nps`
/// question, mean per `likert` question, share per option), computed from database aggregates.
#[utoipa::path(
    operation_id = "get_survey_scores",
    tag = "Surveys",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("survey_id" = Uuid, Path, description = "The survey's id"),
    ),
    responses(
        (status = 200, description = "The scores", body = SurveyScores),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/surveys/{survey_id}/scores")]
async fn scores(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (programme_id, id) = path.into_inner();
    let s = surveys::scores(
        &principal.read_scope(&state.db),
        principal.actor(),
        programme_id,
        id,
        &BuiltinScorer,
    )
    .await?;
    Ok(HttpResponse::Ok().json(s))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestFilters {
    /// Only requests of this programme (required for managers).
    programme_id: Option<Uuid>,
    /// Only pending or only answered requests.
    state: Option<RequestState>,
}

/// List survey requests
///
/// A participant lists the surveys they are asked to answer; admins every request; managers those of one of their
/// programmes (`programme_id`).
#[utoipa::path(
    operation_id = "list_survey_requests",
    tag = "Surveys",
    params(RequestFilters, PageParams),
    responses(
        (status = 200, description = "One page of survey requests", body = Page<SurveyRequest>, headers(("ETag" = String))),
        BodyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/survey-requests")]
async fn list_requests(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<RequestFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let filter = RequestFilter {
        participant_id: None,
        programme_id: filters.programme_id,
        state: filters.state,
    };
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) =
        surveys::list_requests(&scope, principal.actor(), filter, page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |r| r.id))
}

/// Get a survey request
///
/// With the survey's title and questions, to render the form.
#[utoipa::path(
    operation_id = "get_survey_request",
    tag = "Surveys",
    params(("id" = Uuid, Path, description = "The survey request's id")),
    responses(
        (status = 200, description = "The survey request", body = SurveyRequest),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/survey-requests/{id}")]
async fn get_request(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let r = surveys::get_request(&principal.read_scope(&state.db), principal.actor(), id.into_inner()).await?;
    respond::hashed(&req, &r)
}

/// Answer a survey request
///
/// The participant asked answers once (a second answer is 409 `already_answered`): integers for `nps` (0–10) and
/// `likert` (1–5), an option for `single_choice`, text for `text`; every required question. Emits
/// `survey.response_submitted` (without the answers).
#[utoipa::path(
    operation_id = "submit_survey_response",
    tag = "Surveys",
    params(
        ("id" = Uuid, Path, description = "The survey request's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = SubmitResponse,
    responses(
        (status = 201, description = "Recorded", body = SurveyRequest),
        BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/survey-requests/{id}/response")]
async fn respond_to(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<SubmitResponse>,
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
            let r = surveys::respond(scope, actor, id, cmd).await?;
            let etag = crate::domain::etag(r.id, 2);
            Ok(Written::new(r, etag))
        },
    )
    .await
}
