//! Pairs over HTTP: `/v1/programmes/{id}/pairs` and `/v1/pairs/{id}` (agreement, transitions). Handlers parse and
//! authorise, call `domain::pairs`, and map the result.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
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
use crate::domain::pairs::{self, Pair, PairFilter, PairState, PairTransition, ProposePair, RecordAgreement};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(propose)
        .service(get_one)
        .service(agree)
        .service(transition);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PairFilters {
    /// Only pairs in this state.
    state: Option<PairState>,
    /// Only pairs in which this participant is the mentor or the mentee.
    participant_id: Option<Uuid>,
    /// Only pairs at risk (`true`) or not at risk (`false`).
    at_risk: Option<bool>,
}

/// List a programme's pairs
///
/// Admins and the programme's managers see every pair; a participant sees only their own. Each pair carries its
/// commitment figures and risk.
#[utoipa::path(
    operation_id = "list_pairs",
    tag = "Pairs",
    params(("id" = Uuid, Path, description = "The programme's id"), PairFilters, PageParams),
    responses(
        (status = 200, description = "One page of pairs", body = Page<Pair>, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/pairs")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    filters: web::Query<PairFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let filter = PairFilter {
        state: filters.state,
        participant_id: filters.participant_id,
        at_risk: filters.at_risk,
        programme_ids: None,
    };
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = pairs::list(
        &scope,
        principal.actor(),
        id.into_inner(),
        filter,
        page.after()?,
        page.limit()?,
    )
    .await?;
    respond::hashed(&req, &Page::new(rows, has_more, |p| p.id))
}

/// Propose a pair
///
/// Admins and the programme's managers pair a mentor (the junior side) with a mentee (the senior side). Refused with
/// 422 `rule_violated`, naming every broken rule in `errors[].code`: `mentor_reports_to_mentee` (directly or further
/// down the line), `insufficient_level_gap`, `not_enrolled`, `enrolment_withdrawn`, `wrong_role`,
/// `mentor_at_capacity`, `mentee_at_capacity`, `same_department` / `department_unknown` (when cross-department pairs
/// are required), `participant_inactive`, `same_participant`, `already_paired`. Emits `pair.proposed`.
#[utoipa::path(
    operation_id = "propose_pair",
    tag = "Pairs",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = ProposePair,
    responses(
        (status = 201, description = "Proposed", body = Pair, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/programmes/{id}/pairs")]
async fn propose(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<ProposePair>,
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
            let p = pairs::propose(scope, actor, id, cmd).await?;
            let location = format!("/v1/pairs/{}", p.id);
            Ok(Written::new(p.clone(), p.etag()).at(location))
        },
    )
    .await
}

/// Get a pair
///
/// With its agreements, commitment figures and risk. Another pair's participant gets a 404.
#[utoipa::path(
    operation_id = "get_pair",
    tag = "Pairs",
    params(("id" = Uuid, Path, description = "The pair's id")),
    responses(
        (status = 200, description = "The pair", body = Pair, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pairs/{id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (p, _) = pairs::visible(&principal.read_scope(&state.db), principal.actor(), id.into_inner()).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &p, &p.etag()))
}

/// Agree to the ground rules
///
/// Each participant agrees with their own token; an admin may record it on their behalf (`side`). When both sides
/// have agreed to the current version, a proposed pair becomes active (`pair.activated`, exactly once even when both
/// agreements arrive together). After a ground-rules change, active pairs agree again the same way. Agreeing twice
/// changes nothing. A pair with an inactive member takes no agreement (409 `participant_inactive`).
#[utoipa::path(
    operation_id = "record_agreement",
    tag = "Pairs",
    params(("id" = Uuid, Path, description = "The pair's id")),
    request_body(content = Option<RecordAgreement>, description = "Optional: the version read; for admins, the side"),
    responses(
        (status = 200, description = "The pair with the agreement recorded", body = Pair, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/pairs/{id}/agreement")]
async fn agree(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let cmd: RecordAgreement = super::extractors::optional_json(&req, &body)?;
    let (actor, id) = (principal.actor(), id.into_inner());
    transact(
        &req,
        &state,
        &principal,
        &IdempotencyKey(None),
        &body,
        StatusCode::OK,
        async |scope| {
            let p = pairs::record_agreement(scope, actor, id, cmd).await?;
            Ok(Written::new(p.clone(), p.etag()))
        },
    )
    .await
}

/// Move a pair to another state
///
/// Admins and the programme's managers: `active → paused` (reason optional), `paused → active`, `active →
/// completed`, and `dissolved` (reason required) from any open state. Ending a pair cancels its remaining scheduled
/// sessions. An illegal move is a 409 listing the `allowed` states; resuming a pair with an inactive member is a 409
/// `participant_inactive`.
#[utoipa::path(
    operation_id = "transition_pair",
    tag = "Pairs",
    params(
        ("id" = Uuid, Path, description = "The pair's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the move is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = PairTransition,
    responses(
        (status = 200, description = "The pair in its new state", body = Pair, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/pairs/{id}/transitions")]
async fn transition(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    key: IdempotencyKey,
    body: Json<PairTransition>,
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
            let p = pairs::transition(scope, actor, id, cmd, if_match.0.as_deref()).await?;
            Ok(Written::new(p.clone(), p.etag()))
        },
    )
    .await
}
