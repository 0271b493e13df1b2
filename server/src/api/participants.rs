//! `/v1/participants`: the organisation's employee directory over HTTP. Handlers parse and authorise, call
//! `domain::participants`, and map the result.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extractors::{IdempotencyKey, IfMatch, Json, Page, PageParams};
use super::problem::{
    ApiError, ApiResult, AuthErrors, BodyErrors, IdempotencyErrors, NotFoundError, PreconditionError,
};
use super::{AppState, idempotency, respond};
use crate::auth::{IssuedToken, Principal, Role};
use crate::domain::participants::{self, CreateParticipant, Participant, ParticipantFilter, UpdateParticipant};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(update)
        .service(deactivate)
        .service(reporting_line)
        .service(mint_token);
}

/// Admins and programme managers read the directory; a participant reads only their own record.
fn authorise_read(principal: &Principal, id: Option<Uuid>) -> ApiResult<()> {
    match principal.role {
        Role::OrgAdmin | Role::ProgrammeManager => Ok(()),
        Role::Participant if id.is_some() && id == principal.participant_id => Ok(()),
        Role::Participant => Err(ApiError::Forbidden(
            "participants may only read their own record".into(),
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilters {
    /// Only participants of this department (exact match).
    department: Option<String>,
    /// Only active (`true`) or inactive (`false`) participants.
    active: Option<bool>,
    /// Only participants at or above this level.
    level_min: Option<i32>,
    /// Only participants at or below this level.
    level_max: Option<i32>,
    /// Only direct reports of this manager.
    manager_id: Option<Uuid>,
    /// Case-insensitive search in display name and email.
    q: Option<String>,
}

/// List participants
///
/// Pages through the directory in a stable order (creation order), narrowed by any of the filters.
#[utoipa::path(
    operation_id = "list_participants",
    tag = "Participants",
    params(ListFilters, PageParams),
    responses(
        (status = 200, description = "One page of participants", body = Page<Participant>,
            headers(("ETag" = String, description = "A digest of the page, for `If-None-Match`"))),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The filters contradict each other (`level_min` above `level_max`)", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/participants")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<ListFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    authorise_read(&principal, None)?;
    let filters = filters.into_inner();
    let filter = ParticipantFilter {
        department: filters.department,
        active: filters.active,
        level_min: filters.level_min,
        level_max: filters.level_max,
        manager_id: filters.manager_id,
        q: filters.q,
    };
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = participants::list(&scope, &filter, page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |p| p.id))
}

/// Create a participant
///
/// Adds an employee to the directory and emits `participant.created`. Send an `Idempotency-Key` to retry safely.
#[utoipa::path(
    operation_id = "create_participant",
    tag = "Participants",
    request_body = CreateParticipant,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response instead of creating twice (kept 24 h)")),
    responses(
        (status = 201, description = "Created", body = Participant,
            headers(("ETag" = String), ("Location" = String))),
        BodyErrors, IdempotencyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/participants")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Json<CreateParticipant>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let retention = state.idempotency_retention();
    let fingerprint = idempotency::fingerprint(&req, &principal, &body.raw);
    if let Some(key) = &key.0
        && let Some(previous) =
            idempotency::lookup(&principal.read_scope(&state.db), key, &fingerprint, retention).await?
    {
        return Ok(respond::replay(&previous, true));
    }
    let txn = state.db.begin().await?;
    let scope = principal.scope(&txn);
    let participant = participants::create(&scope, body.value).await?;
    let headers = vec![
        (header::ETAG.to_string(), participant.etag()),
        (
            header::LOCATION.to_string(),
            format!("/v1/participants/{}", participant.id),
        ),
    ];
    let response = respond::stored(StatusCode::CREATED, &participant, headers, fingerprint)?;
    if let Some(key) = &key.0 {
        idempotency::remember(&scope, key, &response, retention).await?;
    }
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(respond::replay(&response, false))
}

/// Get a participant
#[utoipa::path(
    operation_id = "get_participant",
    tag = "Participants",
    params(("id" = Uuid, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "The participant", body = Participant, headers(("ETag" = String))),
        (status = 304, description = "Not modified (the `If-None-Match` ETag is current)"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/participants/{id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    authorise_read(&principal, Some(id))?;
    let participant = participants::get(&principal.read_scope(&state.db), id).await?;
    Ok(respond::with_etag(
        &req,
        StatusCode::OK,
        &participant,
        &participant.etag(),
    ))
}

/// Update a participant
///
/// Changes only the fields sent; `null` clears an optional field. Send `If-Match` with the ETag you read to refuse
/// the write if someone changed the participant meanwhile. Emits `participant.updated` (or `.deactivated` /
/// `.reactivated` when `active` flips; deactivating pauses their active pairs as `DELETE` does); an update that
/// changes nothing emits nothing.
#[utoipa::path(
    operation_id = "update_participant",
    tag = "Participants",
    params(
        ("id" = Uuid, Path, description = "The participant's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = UpdateParticipant,
    responses(
        (status = 200, description = "The updated participant", body = Participant, headers(("ETag" = String))),
        BodyErrors, IdempotencyErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/participants/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<UpdateParticipant>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let participant = participants::update(
        &principal.scope(&txn),
        id.into_inner(),
        body.value,
        if_match.0.as_deref(),
    )
    .await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(respond::with_etag(
        &req,
        StatusCode::OK,
        &participant,
        &participant.etag(),
    ))
}

/// Deactivate a participant
///
/// Participants are never erased by this call: they are deactivated (their tokens stop working at once, their
/// history stays) and `participant.deactivated` is emitted. Their active pairs pause (`pair.paused`, `state_reason:
/// participant_left`) and none of their pairs can start or resume until they are reactivated with
/// `PATCH {"active": true}`.
#[utoipa::path(
    operation_id = "deactivate_participant",
    tag = "Participants",
    params(
        ("id" = Uuid, Path, description = "The participant's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    responses(
        (status = 200, description = "The deactivated participant", body = Participant, headers(("ETag" = String))),
        PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/participants/{id}")]
async fn deactivate(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let participant = participants::deactivate(&principal.scope(&txn), id.into_inner(), if_match.0.as_deref()).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(respond::with_etag(
        &req,
        StatusCode::OK,
        &participant,
        &participant.etag(),
    ))
}

/// The reporting line of a participant.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ReportingLine {
    /// Managers from the participant's own manager up to the top of the organisation.
    pub data: Vec<Participant>,
}

/// Get a participant's reporting line
///
/// The chain of managers above the participant, nearest first. Used to keep mentors out of their mentee's line.
#[utoipa::path(
    operation_id = "get_reporting_line",
    tag = "Participants",
    params(("id" = Uuid, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "The managers, nearest first", body = ReportingLine, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/participants/{id}/reporting-line")]
async fn reporting_line(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    authorise_read(&principal, Some(id))?;
    let line = participants::reporting_line(&principal.read_scope(&state.db), id).await?;
    respond::hashed(&req, &ReportingLine { data: line })
}

/// The body of `POST /v1/participants/{id}/tokens`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "participant", "expires_in": 3600}))]
pub struct MintToken {
    /// `participant` (default) or `programme_manager`.
    pub role: Option<Role>,
    /// Lifetime in seconds, 60 to the configured maximum (default 3600).
    pub expires_in: Option<u64>,
}

/// Mint a participant token
///
/// Lets an integrator's front end act as the signed-in employee: the token carries the participant's id and the
/// `participant` (or `programme_manager`) role. The participant must be active.
#[utoipa::path(
    operation_id = "mint_participant_token",
    tag = "Authentication",
    params(("id" = Uuid, Path, description = "The participant's id")),
    request_body(content = Option<MintToken>, description = "Optional: role and lifetime"),
    responses(
        (status = 201, description = "A token acting as this participant", body = IssuedToken),
        (status = 409, description = "The participant is inactive", body = super::problem::Problem, content_type = "application/problem+json"),
        BodyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/participants/{id}/tokens")]
async fn mint_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    // The body is optional: empty means the defaults.
    let request: MintToken = super::extractors::optional_json(&req, &body)?;
    let role = request.role.unwrap_or(Role::Participant);
    if role == Role::OrgAdmin {
        return Err(crate::domain::DomainError::Invalid(vec![crate::domain::FieldError::new(
            "role",
            "not_allowed",
            "participant tokens carry the participant or programme_manager role",
        )])
        .into());
    }
    let max = state.config.participant_token_max_ttl_seconds;
    let ttl = request.expires_in.unwrap_or(3600.min(max));
    if !(60..=max).contains(&ttl) {
        return Err(crate::domain::DomainError::Invalid(vec![crate::domain::FieldError::new(
            "expires_in",
            "out_of_range",
            format!("must be between 60 and {max}"),
        )])
        .into());
    }
    let participant = participants::get(&principal.read_scope(&state.db), id.into_inner()).await?;
    if !participant.active {
        return Err(ApiError::Conflict("the participant is inactive".into()));
    }
    let acting = Principal {
        organisation_id: principal.organisation_id,
        role,
        participant_id: Some(participant.id),
        subject: participant.id.to_string(),
    };
    let token = state.auth.issue(&acting, ttl).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(token))
}
