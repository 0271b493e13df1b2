//! `/v1/hris-connections` (org_admin): the organisation's connections to its HR system, and their syncs. Secrets go
//! in on create and update and never come out: a connection shows their names only. Handlers call
//! `domain::hris_connections` and `domain::hris_syncs`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extractors::{IdempotencyKey, IfMatch, Json, Page, PageParams};
use super::idempotency::{Written, transact};
use super::problem::{
    ApiResult, AuthErrors, BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, PreconditionError,
};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::hris_connections::{self, CreateHrisConnection, HrisConnection, UpdateHrisConnection};
use crate::domain::hris_plan::SyncChange;
use crate::domain::hris_syncs::{self, HrisSync, Services, SyncTrigger};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(update)
        .service(remove)
        .service(start_sync)
        .service(list_syncs)
        .service(get_sync)
        .service(sync_changes);
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
    let scope = principal.read_scope(&state.db);
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
    let connection = hris_connections::get(&principal.read_scope(&state.db), id.into_inner()).await?;
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// `true`: compute the diff and apply nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl Services {
    pub fn of(state: &AppState) -> Services {
        Services {
            db: state.db.clone(),
            host: state.plugins.clone(),
            config: state.config.clone(),
            secrets: state.secrets.clone(),
            wake: state.webhooks.clone(),
        }
    }
}

/// Sync the directory
///
/// Reads the whole directory through the connection's connector and brings the organisation's participants in line:
/// new joiners created, changed fields updated, managers linked by external id (in any order; a cycle or an unknown
/// manager is reported and the old link kept), leavers — records marked inactive, or no longer listed —
/// deactivated and their active pairs paused (`pair.paused`, reason `participant_left`). A record in error (a bad
/// email, say) is reported and left out; it never fails the sync. Participants without an `external_id` are never
/// touched (one with the email of a new record is adopted).
///
/// With `dry_run=true` nothing is applied: the sync's diff (`GET …/changes`) lists what would change, field by field.
/// Otherwise pages of 500 participants apply atomically with their `participant.*` events; a sync interrupted by a
/// stopped instance is taken over and finishes without applying anything twice, and running it again changes
/// nothing. The sync runs in the background: `202` and its `Location`; with `Prefer: wait=N` (N ≤ 60) the call
/// waits up to N seconds and answers `201` with the finished report. One sync per connection at a time (`409
/// sync_in_progress`). Emits `hris.sync_completed` or `hris.sync_failed`.
#[utoipa::path(
    operation_id = "start_hris_sync",
    tag = "HRIS",
    params(
        ("id" = Uuid, Path, description = "The connection's id"),
        SyncQuery,
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N seconds (≤ 60) for the sync to finish"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response instead of starting twice (kept 24 h)"),
    ),
    responses(
        (status = 201, description = "Finished (with `Prefer: wait`): the report", body = HrisSync, headers(("Location" = String))),
        (status = 202, description = "Queued: poll the `Location`", body = HrisSync, headers(("Location" = String))),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        IdempotencyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/hris-connections/{id}/syncs")]
async fn start_sync(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    id: web::Path<Uuid>,
    query: web::Query<SyncQuery>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let connection_id = id.into_inner();
    let queued = std::sync::Arc::new(std::sync::Mutex::new(None::<Uuid>));
    let slot = queued.clone();
    let fingerprint = format!("{connection_id} {}", query.dry_run);
    let first = transact(
        &req,
        &state,
        &principal,
        &key,
        fingerprint.as_bytes(),
        StatusCode::ACCEPTED,
        async |scope| {
            let sync = hris_syncs::queue(scope, connection_id, query.dry_run, SyncTrigger::Api, None).await?;
            if let Ok(mut s) = slot.lock() {
                *s = Some(sync.id);
            }
            let location = format!("/v1/hris-connections/{connection_id}/syncs/{}", sync.id);
            let etag = sync.etag();
            Ok(Written::new(sync, etag).at(location))
        },
    )
    .await?;
    // Run only once the sync committed (a replayed request starts nothing).
    let Some(sync_id) = queued.lock().ok().and_then(|s| *s) else {
        return Ok(first);
    };
    let (services, organisation_id) = (Services::of(&state), principal.organisation_id);
    let running = tokio::spawn(async move {
        if let Err(e) = hris_syncs::run(&services, organisation_id, sync_id).await {
            tracing::error!(sync = %sync_id, error = %e, "an HRIS sync stopped");
        }
    });
    let Some(wait) = super::plugins::prefer_wait(&req) else {
        return Ok(first);
    };
    if tokio::time::timeout(wait, running).await.is_err() {
        return Ok(first);
    }
    let sync = hris_syncs::get(&principal.read_scope(&state.db), connection_id, sync_id).await?;
    let status = if sync.is_finished() {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok(HttpResponse::build(status)
        .insert_header((
            header::LOCATION,
            format!("/v1/hris-connections/{connection_id}/syncs/{sync_id}"),
        ))
        .insert_header(("Preference-Applied", "wait"))
        .json(sync))
}

/// List a connection's syncs
///
/// Newest first.
#[utoipa::path(
    operation_id = "list_hris_syncs",
    tag = "HRIS",
    params(("id" = Uuid, Path, description = "The connection's id"), PageParams),
    responses(
        (status = 200, description = "One page of syncs", body = Page<HrisSync>),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/hris-connections/{id}/syncs")]
async fn list_syncs(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = hris_syncs::list(&scope, id.into_inner(), page.after()?, page.limit()?).await?;
    Ok(HttpResponse::Ok().json(Page::new(rows, has_more, |s| s.id)))
}

/// Get a sync's report
///
/// State, counts, the first record errors, duration and the connector's usage. While it runs, the counts grow page
/// by page.
#[utoipa::path(
    operation_id = "get_hris_sync",
    tag = "HRIS",
    params(
        ("id" = Uuid, Path, description = "The connection's id"),
        ("sync_id" = Uuid, Path, description = "The sync's id"),
    ),
    responses(
        (status = 200, description = "The sync", body = HrisSync),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/hris-connections/{id}/syncs/{sync_id}")]
async fn get_sync(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let (connection_id, sync_id) = path.into_inner();
    let sync = hris_syncs::get(&principal.read_scope(&state.db), connection_id, sync_id).await?;
    Ok(HttpResponse::Ok().json(sync))
}

/// One entry of a sync's diff, in order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"seq": 3, "kind": "update", "external_id": "E-1001",
    "participant_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b",
    "changes": [{"field": "job_title", "from": "Engineer", "to": "Senior Engineer"}]}))]
pub struct SyncChangeEntry {
    pub seq: i32,
    #[serde(flatten)]
    pub change: SyncChange,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Only entries of this kind: `create`, `update`, `deactivate`, `manager_link` or `error`.
    #[param(pattern = "^(create|update|deactivate|manager_link|error)$")]
    pub kind: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// List a sync's diff
///
/// What the sync changed — or, in a dry run, would change: participants to create (with their fields), to update
/// (field by field: `from`, `to`), to deactivate (why, and the pairs to pause), manager links to change, and records
/// in error with every problem found. A dry run and the sync applied after it list the same entries.
#[utoipa::path(
    operation_id = "list_hris_sync_changes",
    tag = "HRIS",
    params(
        ("id" = Uuid, Path, description = "The connection's id"),
        ("sync_id" = Uuid, Path, description = "The sync's id"),
        ChangesQuery,
    ),
    responses(
        (status = 200, description = "One page of the diff", body = Page<SyncChangeEntry>),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        BodyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/hris-connections/{id}/syncs/{sync_id}/changes")]
async fn sync_changes(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
    query: web::Query<ChangesQuery>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let (connection_id, sync_id) = path.into_inner();
    let (after, limit) = query.position()?;
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) =
        hris_syncs::changes(&scope, connection_id, sync_id, query.kind.as_deref(), after, limit).await?;
    Ok(HttpResponse::Ok().json(changes_page(rows, has_more)))
}

impl ChangesQuery {
    /// The sequence number after which the page starts, and its size. The cursor is the same opaque one as every
    /// other list's (16 bytes, base64url), carrying the last sequence number seen; one past every sequence number
    /// gives an empty page, as an id after the last one does in other lists.
    pub fn position(&self) -> ApiResult<(Option<i32>, u64)> {
        let page = PageParams {
            limit: self.limit,
            cursor: self.cursor.clone(),
        };
        let after = page.after()?.map(|id| i32::try_from(id.as_u128()).unwrap_or(i32::MAX));
        Ok((after, page.limit()?))
    }
}

/// One page of a diff (a sync's or an import's), with the cursor to the next.
pub fn changes_page(rows: Vec<(i32, SyncChange)>, has_more: bool) -> Page<SyncChangeEntry> {
    let next_cursor = if has_more {
        rows.last()
            .map(|(seq, _)| super::extractors::encode_cursor(Uuid::from_u128(*seq as u32 as u128)))
    } else {
        None
    };
    Page {
        data: rows
            .into_iter()
            .map(|(seq, change)| SyncChangeEntry { seq, change })
            .collect(),
        has_more,
        next_cursor,
    }
}
