//! `GET /v1/audit-log`: who read or changed what in the organisation, tamper-evident.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::AppState;
use super::extractors::{Page, PageParams};
use super::problem::{ApiResult, AuthErrors};
use crate::auth::Principal;
use crate::domain::audit::AuditEntry;
use crate::store::audit::AuditFilter;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilters {
    /// Only what this actor did: an API client's id, a participant's id, or an identity provider's subject.
    actor: Option<String>,
    /// Only entries about this resource, or about this participant's data.
    resource_id: Option<Uuid>,
    /// Only entries at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Only entries before this time (RFC 3339).
    until: Option<DateTime<Utc>>,
}

/// List the audit log
///
/// Every write, and every read of a person's data by anyone other than that person: who (role, token subject,
/// participant), what (the operation and the ids), when, from where (address, request id) and the outcome (the HTTP
/// status), in the order they were chained. Each entry carries the SHA-256 of its content chained to the previous
/// entry's hash; `upward audit verify` checks the chain. Entries never appear in events or webhooks.
#[utoipa::path(
    operation_id = "list_audit_log",
    tag = "Data protection",
    params(AuditFilters, PageParams),
    responses(
        (status = 200, description = "One page of entries, oldest first", body = Page<AuditEntry>),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/audit-log")]
async fn list(
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<AuditFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    // What this instance has queued is written first: a read sees every request answered before it.
    state.audit.flush().await;
    let limit = page.limit()?;
    let filters = filters.into_inner();
    let filter = AuditFilter {
        actor: filters.actor,
        resource_id: filters.resource_id,
        since: filters.since,
        until: filters.until,
    };
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = crate::domain::page(scope.list_audit(&filter, page.after()?, limit + 1).await?, limit);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(Page::new(rows, has_more, |e| e.id)))
}
