//! `/v1/participant-imports`: bulk import of participants from a spreadsheet (CSV) or JSON lines, with a dry run,
//! and the import's report and diff. Handlers parse and authorise, call `domain::participant_imports`, and map the
//! result.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::extractors::{Page, PageParams};
use super::hris_connections::{ChangesQuery, SyncChangeEntry, changes_page};
use super::problem::{ApiError, ApiResult, AuthErrors, BodyErrors, NotFoundError};
use super::{AppState, require_admin};
use crate::auth::Principal;
use crate::domain::participant_imports::{self, ImportFile, ImportFormat, ParticipantImport};

/// The largest file an import takes (about 200,000 records of a wide spreadsheet).
pub const MAX_FILE: usize = 64 * 1024 * 1024;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create).service(list).service(get_one).service(changes);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Compute and store the diff, apply nothing (default false).
    #[serde(default)]
    dry_run: bool,
    /// Deactivate the participants with an external id the file does not list, as leavers (default false: the
    /// file's own records marked inactive are the only leavers).
    #[serde(default)]
    leavers: bool,
}

/// Import participants
///
/// A spreadsheet as `text/csv` (a header row naming the columns, then one record per row) or JSON lines
/// (`application/x-ndjson` or `application/jsonl`: one object per line), with the fields of the HRIS employee record:
/// `external_id`, `email`, `name` (required), `department`, `title`, `level`, `manager_external_id`, `location`,
/// `timezone`, `active` (true/false, yes/no, 1/0; default true). Up to 64 MiB and 200,000 records. The records go
/// through the same planner as HRIS syncs — matched by `external_id` (a participant with the email and no external id
/// yet is adopted), checked like an API write, managers linked in any order, reporting cycles refused — and every
/// record in error is reported with its `line` and left out. `dry_run=true` stores the diff and applies nothing
/// (200); otherwise the diff is applied in pages of 500, each page one transaction with its `participant.*` events,
/// the import's `progress` updated after each (201 when done). Emits `participant_import.completed`. A file that
/// cannot be read as a whole (no header, a missing required column, an unknown column, not UTF-8) is a 422.
#[utoipa::path(
    operation_id = "import_participants",
    tag = "Participants",
    params(ImportQuery),
    request_body(
        description = "The records",
        content(
            (String = "text/csv", example = "external_id,email,name,department,level,manager_external_id\nE-1,ada@acme.test,Ada Lovelace,Engineering,3,E-9\n"),
            (String = "application/x-ndjson"),
        ),
    ),
    responses(
        (status = 200, description = "The dry run's report (the diff: `GET …/{id}/changes`)", body = ParticipantImport),
        (status = 201, description = "Applied", body = ParticipantImport, headers(("Location" = String))),
        (status = 415, description = "Neither CSV nor JSON lines", body = super::problem::Problem, content_type = "application/problem+json"),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/participant-imports")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_admin(&principal)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match content_type.as_str() {
        "text/csv" => ImportFormat::Csv,
        "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => ImportFormat::JsonLines,
        _ => {
            return Err(ApiError::WrongMediaType(
                "an import is text/csv or JSON lines (application/x-ndjson)".into(),
            ));
        }
    };
    let body = super::plugins::read_limited(payload, MAX_FILE).await?;
    let file = ImportFile {
        format,
        dry_run: query.dry_run,
        leavers: query.leavers,
        body,
    };
    // The import runs on its own task: a client that hangs up does not cut it off between two pages.
    let (db, secrets, organisation_id) = (state.db.clone(), state.secrets.clone(), principal.organisation_id);
    let import = tokio::spawn(async move { participant_imports::import(&db, &secrets, organisation_id, file).await })
        .await
        .map_err(|e| ApiError::Internal(format!("the import task stopped: {e}")))??;
    state.webhooks.wake();
    let status = if import.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status)
        .insert_header((header::LOCATION, format!("/v1/participant-imports/{}", import.id)))
        .insert_header((header::ETAG, import.etag()))
        .json(import))
}

/// List participant imports
///
/// Newest first.
#[utoipa::path(
    operation_id = "list_participant_imports",
    tag = "Participants",
    params(PageParams),
    responses(
        (status = 200, description = "One page of imports", body = Page<ParticipantImport>),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/participant-imports")]
async fn list(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    require_admin(&principal)?;
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = participant_imports::list(&scope, page.after()?, page.limit()?).await?;
    Ok(HttpResponse::Ok().json(Page::new(rows, has_more, |i| i.id)))
}

/// Get a participant import
///
/// Its state (`running` with `progress` while pages are applied; `completed`; `interrupted` when its instance
/// stopped part-way — the pages applied stay, and importing the same file again applies only what is left), counts
/// and the first 100 record errors with their lines.
#[utoipa::path(
    operation_id = "get_participant_import",
    tag = "Participants",
    params(("id" = Uuid, Path, description = "The import's id")),
    responses(
        (status = 200, description = "The import", body = ParticipantImport, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/participant-imports/{id}")]
async fn get_one(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    require_admin(&principal)?;
    let import = participant_imports::get(&principal.read_scope(&state.db), id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, import.etag()))
        .json(import))
}

/// List an import's diff
///
/// Records in error (with their `line`), participants to create, update (field by field) or deactivate, manager
/// links to change — what the import changed or, in a dry run, would change.
#[utoipa::path(
    operation_id = "list_participant_import_changes",
    tag = "Participants",
    params(("id" = Uuid, Path, description = "The import's id"), ChangesQuery),
    responses(
        (status = 200, description = "One page of the diff", body = Page<SyncChangeEntry>),
        BodyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/participant-imports/{id}/changes")]
async fn changes(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<ChangesQuery>,
) -> ApiResult<HttpResponse> {
    require_admin(&principal)?;
    let (after, limit) = query.position()?;
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) =
        participant_imports::changes(&scope, id.into_inner(), query.kind.as_deref(), after, limit).await?;
    Ok(HttpResponse::Ok().json(changes_page(rows, has_more)))
}
