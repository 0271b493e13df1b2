//! Matching runs over HTTP: `/v1/programmes/{id}/matching-runs`. Queuing answers 202 at once; the run proceeds in
//! the background (off the HTTP workers) and is polled with `GET`. Handlers parse and authorise, call
//! `domain::matching_runs`, and map the result.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use uuid::Uuid;

use super::extractors::IdempotencyKey;
use super::idempotency::{Written, transact};
use super::problem::{ApiResult, AuthErrors, BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::matching_runs::{self, AcceptRun, MatchingRun};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(queue).service(get_one).service(accept);
}

/// Start a matching run
///
/// Admins and the programme's managers. Answers `202` with the queued run at once; poll its `Location` until
/// `state` is `succeeded` (proposals and unmatched participants, with reasons) or `failed`. Candidates are every
/// mentor–mentee pair the pair service's hard rules allow and that was not dissolved before; the built-in policy
/// scores them with the programme's `matching.weights`; the assignment maximises the total score exactly (not
/// greedily), honouring each mentor's remaining capacity. Emits `matching_run.queued`, then `.succeeded` or
/// `.failed`.
#[utoipa::path(
    operation_id = "start_matching_run",
    tag = "Matching",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    responses(
        (status = 202, description = "Queued", body = MatchingRun, headers(("ETag" = String), ("Location" = String))),
        ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/programmes/{id}/matching-runs")]
async fn queue(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> ApiResult<HttpResponse> {
    let (actor, programme_id) = (principal.actor(), id.into_inner());
    let queued: Arc<Mutex<Option<Uuid>>> = Arc::default();
    let response = transact(
        &req,
        &state,
        &principal,
        &key,
        b"",
        StatusCode::ACCEPTED,
        async |scope| {
            let run = matching_runs::queue(scope, actor, programme_id).await?;
            if let Some(opt_in) = &run.special_category {
                super::state_purpose(&req, opt_in.audit_purpose());
            }
            if let Ok(mut slot) = queued.lock() {
                *slot = Some(run.id);
            }
            let location = format!("/v1/programmes/{programme_id}/matching-runs/{}", run.id);
            Ok(Written::new(run.clone(), run.etag()).at(location))
        },
    )
    .await?;
    // Started only once the run is committed (a replayed request started nothing new).
    if let Some(run) = queued.lock().ok().and_then(|slot| *slot) {
        tokio::spawn(matching_runs::execute(
            state.db.clone(),
            state.plugins.clone(),
            state.config.clone(),
            principal.organisation_id,
            run,
        ));
    }
    Ok(response)
}

/// Get a matching run
#[utoipa::path(
    operation_id = "get_matching_run",
    tag = "Matching",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("run_id" = Uuid, Path, description = "The run's id"),
    ),
    responses(
        (status = 200, description = "The run, its progress or its result", body = MatchingRun, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/matching-runs/{run_id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (programme_id, id) = path.into_inner();
    let run = matching_runs::get(&principal.read_scope(&state.db), principal.actor(), programme_id, id).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &run, &run.etag()))
}

/// Accept a matching run
///
/// Proposes the run's pairs — all of them, or those of the `mentee_ids` given — through the pair service (each
/// with its `pair.proposed`). A proposal the hard rules refuse now (someone withdrew, capacity was used meanwhile) is
/// reported in `accepted[].refused`, not created. A run is accepted once (409 `already_accepted`).
#[utoipa::path(
    operation_id = "accept_matching_run",
    tag = "Matching",
    params(
        ("id" = Uuid, Path, description = "The programme's id"),
        ("run_id" = Uuid, Path, description = "The run's id"),
    ),
    request_body(content = Option<AcceptRun>, description = "Optional: the mentees whose proposals to accept"),
    responses(
        (status = 200, description = "The run with what was created", body = MatchingRun, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/programmes/{id}/matching-runs/{run_id}/accept")]
async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let cmd: AcceptRun = super::extractors::optional_json(&req, &body)?;
    let (programme_id, id) = path.into_inner();
    let actor = principal.actor();
    transact(
        &req,
        &state,
        &principal,
        &IdempotencyKey(None),
        &body,
        StatusCode::OK,
        async |scope| {
            let run = matching_runs::accept(scope, actor, programme_id, id, cmd).await?;
            Ok(Written::new(run.clone(), run.etag()))
        },
    )
    .await
}
