//! Data protection over HTTP: a participant's erasure and export, lifting the erasure suppression list, and the
//! organisation's retention policy. Handlers
//! authorise and call `domain::privacy`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::extractors::Json;
use super::problem::{ApiError, ApiResult, AuthErrors, BodyErrors, NotFoundError};
use crate::auth::{Principal, Role};
use crate::domain::privacy::{self, ErasureReport, PersonalDataExport};
use crate::domain::retention::{self, RetentionPolicy, RetentionReport, RetentionSettings};
use crate::domain::special_category::{self, SensitiveAttributes, WriteSensitiveAttributes};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(erase)
        .service(export)
        .service(lift_suppression)
        .service(get_retention)
        .service(set_retention)
        .service(apply_retention)
        .service(get_sensitive)
        .service(put_sensitive)
        .service(delete_sensitive);
}

/// Erase a participant
///
/// Removes or irreversibly redacts every copy of the person's personal data: their directory record becomes an
/// anonymised stub (the id stays, so pairs, sessions and programme figures keep their shape), the notes and learnings
/// they wrote are deleted, the free text of their survey answers goes (numbers stay, so aggregates do not move),
/// their enrolments' goals and their sessions' places and agendas are cleared, and the payloads of the events about
/// them are redacted in place (ids and types stay, so replay and deduplication still work); HRIS sync diffs, plugin
/// invocation records, idempotency records and webhook receivers' responses that mention them are deleted or
/// cleared. An active participant is deactivated first (their active pairs pause). Keyed hashes of their email and
/// external id go on the suppression list, so an HRIS sync does not recreate them. Emits `participant.erased` (ids
/// only). Not reversible. The answer says what was removed, table by table.
#[utoipa::path(
    operation_id = "erase_participant",
    tag = "Data protection",
    params(("id" = Uuid, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "Erased: what was removed and redacted", body = ErasureReport),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/participants/{id}/erasure")]
async fn erase(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let digester = state.db.suppression_digester(&state.secrets).await?;
    let txn = state.db.begin().await?;
    let report = privacy::erase(&principal.scope(&txn), id.into_inner(), "request", &digester).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    // The erasure stands once committed; the bytes leave the files now (or at the next checkpoint or vacuum).
    if let Err(e) = state.db.settle_erasure().await {
        tracing::warn!(error = %e, "an erasure committed but its bytes are not yet compacted away");
    }
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header(("Cache-Control", "no-store"))
        .json(report))
}

/// Export a participant's data
///
/// Everything Upward holds about the person in one JSON document (GDPR Art. 15 and 20): their record, enrolments,
/// pairs, the sessions of those pairs, the notes and learnings they wrote, their survey answers, the events about
/// them, and the audit entries of who read or changed their record. The person can fetch their own with a participant token; an org_admin can fetch anyone's.
#[utoipa::path(
    operation_id = "export_participant",
    tag = "Data protection",
    params(("id" = Uuid, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "The export", body = PersonalDataExport),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/participants/{id}/export")]
async fn export(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    own_or_admin(&principal, id, "an export")?;
    state.audit.flush().await;
    let document = privacy::export(&principal.read_scope(&state.db), &state.secrets, id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"participant-{id}.json\""),
        ))
        .json(document))
}

/// The body of `POST /v1/erasure-suppressions/lift`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada.lovelace@example.com", "external_id": "E-10442"}))]
pub struct LiftSuppression {
    /// The email of the erased person who may be created again.
    pub email: Option<String>,
    /// Their HRIS external id.
    pub external_id: Option<String>,
}

/// How many suppression entries were lifted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Lifted {
    pub lifted: u64,
}

/// Lift an erasure suppression
///
/// An erased person's email and external id are kept only as keyed hashes, so that an HRIS sync does not create
/// them again from the same directory record. When they rejoin (or the erasure was a mistake), lift the suppression
/// by naming the email and/or external id: the next sync may create them afresh.
#[utoipa::path(
    operation_id = "lift_erasure_suppression",
    tag = "Data protection",
    request_body = LiftSuppression,
    responses(
        (status = 200, description = "Lifted (`lifted` is 0 when nothing was suppressed)", body = Lifted),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/erasure-suppressions/lift")]
async fn lift_suppression(
    state: web::Data<AppState>,
    principal: Principal,
    body: Json<LiftSuppression>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let digester = state.db.suppression_digester(&state.secrets).await?;
    let txn = state.db.begin().await?;
    let lifted = privacy::lift(
        &principal.scope(&txn),
        &digester,
        body.value.email.as_deref(),
        body.value.external_id.as_deref(),
    )
    .await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::Ok().json(Lifted { lifted }))
}

/// Read the retention policy
///
/// How long the organisation keeps what. An organisation that never set one has the defaults (`default: true`).
#[utoipa::path(
    operation_id = "get_data_retention",
    tag = "Data protection",
    responses(
        (status = 200, description = "The policy", body = RetentionSettings),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/data-retention")]
async fn get_retention(state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let settings = retention::settings(&principal.read_scope(&state.db)).await?;
    Ok(HttpResponse::Ok().json(settings))
}

/// Set the retention policy
///
/// Replaces the policy whole (a period of `null` keeps that data until erased by hand). A housekeeping round applies
/// it within the hour, on one instance however many run; `POST /v1/data-retention/apply` applies it now. Emits
/// `data_retention.updated`.
#[utoipa::path(
    operation_id = "set_data_retention",
    tag = "Data protection",
    request_body = RetentionPolicy,
    responses(
        (status = 200, description = "The policy as saved", body = RetentionSettings),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[put("/data-retention")]
async fn set_retention(
    state: web::Data<AppState>,
    principal: Principal,
    body: Json<RetentionPolicy>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let settings = retention::set(&principal.scope(&txn), body.value).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::Ok().json(settings))
}

/// Apply the retention policy now
///
/// Runs the organisation's housekeeping round at once instead of waiting for the next one: deletes what the policy no
/// longer keeps, erases leavers past their period, and emits `data_retention.applied` with what it removed (when it
/// removed anything).
#[utoipa::path(
    operation_id = "apply_data_retention",
    tag = "Data protection",
    responses(
        (status = 200, description = "What the round removed", body = RetentionReport),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/data-retention/apply")]
async fn apply_retention(state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let digester = state.db.suppression_digester(&state.secrets).await?;
    let report = retention::apply(&state.db, principal.organisation_id, &digester).await?;
    if let Err(e) = state.db.settle_erasure().await {
        tracing::warn!(error = %e, "a retention round committed but its bytes are not yet compacted away");
    }
    Ok(HttpResponse::Ok().json(report))
}

/// An export and special-category attributes are the person's own and the org_admin's to handle; nobody else's.
fn own_or_admin(principal: &Principal, id: Uuid, what: &str) -> ApiResult<()> {
    let own = principal.role == Role::Participant && principal.participant_id == Some(id);
    if own || principal.is(Role::OrgAdmin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{what} is for the person themselves or an org_admin"
        )))
    }
}

/// Read special-category attributes
///
/// A participant's protected characteristics and the consent they are kept under (empty, with no consent, while
/// nothing is recorded). Only the person and org_admins read them; they are never part of the participant resource,
/// events, webhooks or plugin inputs.
#[utoipa::path(
    operation_id = "get_sensitive_attributes",
    tag = "Data protection",
    params(("id" = Uuid, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "The attributes and their consent", body = SensitiveAttributes),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/participants/{id}/sensitive-attributes")]
async fn get_sensitive(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    own_or_admin(&principal, id, "special-category data")?;
    let found = special_category::read(&principal.read_scope(&state.db), &state.secrets, id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(found))
}

/// Record special-category attributes
///
/// Replaces a participant's protected characteristics (ethnicity, disability, gender identity, age band, …). A
/// consent record is required: when the person gave it and for what purpose. Sealed at rest; readable only by the
/// person and org_admins; no event is emitted (that someone recorded such an attribute is itself sensitive), but the
/// write is in the audit trail.
#[utoipa::path(
    operation_id = "set_sensitive_attributes",
    tag = "Data protection",
    params(("id" = Uuid, Path, description = "The participant's id")),
    request_body = WriteSensitiveAttributes,
    responses(
        (status = 200, description = "Recorded", body = SensitiveAttributes),
        BodyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[put("/participants/{id}/sensitive-attributes")]
async fn put_sensitive(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: Json<WriteSensitiveAttributes>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    own_or_admin(&principal, id, "special-category data")?;
    let txn = state.db.begin().await?;
    let saved = special_category::write(&principal.scope(&txn), &state.secrets, id, body.value).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(saved))
}

/// Remove special-category attributes
///
/// The person withdrew their consent (or the organisation no longer needs them): the attributes are deleted.
/// Removing what is not there is no error.
#[utoipa::path(
    operation_id = "delete_sensitive_attributes",
    tag = "Data protection",
    params(("id" = Uuid, Path, description = "The participant's id")),
    responses(
        (status = 204, description = "Removed"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/participants/{id}/sensitive-attributes")]
async fn delete_sensitive(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    own_or_admin(&principal, id, "special-category data")?;
    let txn = state.db.begin().await?;
    special_category::remove(&principal.scope(&txn), id).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::NoContent().finish())
}
