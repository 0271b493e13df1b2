//! "Me" over HTTP: `/v1/me` and its pairs, sessions, survey requests and enrolments, for a front end's home page
//! with a participant's token; and `/v1/pairs` (one person's pairs across programmes) for those who run them.
//! Handlers parse and authorise, call `domain::me`, and map the result.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::extractors::{Page, PageParams};
use super::problem::{ApiResult, AuthErrors, BodyErrors};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::enrolments::Enrolment;
use crate::domain::me::{self, SessionWindow};
use crate::domain::pairs::{Pair, PairState};
use crate::domain::participants::Participant;
use crate::domain::surveys::{self, RequestFilter, RequestState, SurveyRequest};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(profile)
        .service(my_pairs)
        .service(my_sessions)
        .service(my_survey_requests)
        .service(my_enrolments)
        .service(pairs_across_programmes);
}

/// Who I am
///
/// The participant behind the token (Upward's participant token or an identity provider's). An organisation's
/// client token acts for no person: 403.
#[utoipa::path(
    operation_id = "get_me",
    tag = "Me",
    responses(
        (status = 200, description = "The caller's participant record", body = Participant, headers(("ETag" = String))),
        (status = 304, description = "Not modified (the `If-None-Match` ETag is current)"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/me")]
async fn profile(req: HttpRequest, state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    let participant = me::profile(&principal.read_scope(&state.db), principal.actor()).await?;
    Ok(respond::with_etag(
        &req,
        StatusCode::OK,
        &participant,
        &participant.etag(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyPairFilters {
    /// Only pairs in this state.
    #[param(inline)]
    state: Option<PairState>,
}

/// My pairs
///
/// The caller's pairs in every programme, as mentor or mentee, each with its commitment figures and risk.
#[utoipa::path(
    operation_id = "list_my_pairs",
    tag = "Me",
    params(MyPairFilters, PageParams),
    responses(
        (status = 200, description = "One page of pairs", body = Page<Pair>, headers(("ETag" = String))),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/me/pairs")]
async fn my_pairs(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<MyPairFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = me::my_pairs(&scope, principal.actor(), filters.state, page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |p| p.id))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionWindowParams {
    /// The window's start (inclusive, RFC 3339). Default: 30 days ago (or 210 days before `to`).
    from: Option<DateTime<Utc>>,
    /// The window's end (exclusive, RFC 3339). Default: 180 days ahead (or 210 days after `from`). At most 400 days
    /// after `from`.
    to: Option<DateTime<Utc>>,
}

/// My sessions
///
/// The caller's sessions in every pair and programme that start in `[from, to)`, in start order — a calendar's or
/// a home page's "what is next". At most 1,000 (`truncated` says when there were more).
#[utoipa::path(
    operation_id = "list_my_sessions",
    tag = "Me",
    params(SessionWindowParams),
    responses(
        (status = 200, description = "The sessions in the window", body = SessionWindow, headers(("ETag" = String))),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/me/sessions")]
async fn my_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    window: web::Query<SessionWindowParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let sessions = me::sessions(&scope, principal.actor(), window.from, window.to).await?;
    respond::hashed(&req, &sessions)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyRequestFilters {
    /// Only pending or only answered requests.
    #[param(inline)]
    state: Option<RequestState>,
}

/// My survey requests
///
/// The surveys the caller is asked to answer (`state=pending`) or has answered, in every programme.
#[utoipa::path(
    operation_id = "list_my_survey_requests",
    tag = "Me",
    params(MyRequestFilters, PageParams),
    responses(
        (status = 200, description = "One page of survey requests", body = Page<SurveyRequest>, headers(("ETag" = String))),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/me/survey-requests")]
async fn my_survey_requests(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<MyRequestFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let id = me::me(principal.actor())?;
    let filter = RequestFilter {
        participant_id: None,
        programme_id: None,
        state: filters.state,
    };
    let scope = principal.read_scope(&state.db);
    let actor = crate::domain::Actor::Participant(id);
    let (rows, has_more) = surveys::list_requests(&scope, actor, filter, page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |r| r.id))
}

/// My enrolments
///
/// The caller's enrolments in every programme (as mentor or mentee, in any state).
#[utoipa::path(
    operation_id = "list_my_enrolments",
    tag = "Me",
    params(PageParams),
    responses(
        (status = 200, description = "One page of enrolments", body = Page<Enrolment>, headers(("ETag" = String))),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/me/enrolments")]
async fn my_enrolments(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = me::enrolments(&scope, principal.actor(), page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |e| e.id))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PairsAcrossFilters {
    /// Only pairs in which this participant is the mentor or the mentee.
    participant_id: Option<Uuid>,
    /// Only pairs in this state.
    #[param(inline)]
    state: Option<PairState>,
}

/// List pairs across programmes
///
/// Admins see the pairs of every programme, managers those of the programmes they manage, a participant only their
/// own (asking for another participant's finds none). With `participant_id`: one person's pairs, wherever they are
/// paired. For the at-risk filter, list one programme's pairs (`/v1/programmes/{id}/pairs?at_risk=true`).
#[utoipa::path(
    operation_id = "list_pairs_across_programmes",
    tag = "Pairs",
    params(PairsAcrossFilters, PageParams),
    responses(
        (status = 200, description = "One page of pairs", body = Page<Pair>, headers(("ETag" = String))),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pairs")]
async fn pairs_across_programmes(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<PairsAcrossFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = me::pairs(
        &scope,
        principal.actor(),
        filters.participant_id,
        filters.state,
        page.after()?,
        page.limit()?,
    )
    .await?;
    respond::hashed(&req, &Page::new(rows, has_more, |p| p.id))
}
