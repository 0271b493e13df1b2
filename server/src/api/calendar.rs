//! Calendars over HTTP: issue and revoke a participant's feed (`/v1/me/calendar-feed`, or an admin's
//! `/v1/participants/{id}/calendar-feed`), read a feed by its secret address with no bearer token
//! (`/v1/calendar-feeds/{secret}`, what calendar apps subscribe to), and one session as an `.ics`
//! (`/v1/sessions/{id}/event.ics`). Handlers parse and authorise, call `domain::calendar`, and map the result.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::problem::{ApiResult, AuthErrors, ConflictErrors, NotFoundError};
use super::{AppState, require_admin};
use crate::auth::Principal;
use crate::domain::calendar::{self, CalendarFeed};
use crate::domain::me;
use crate::store::StoreError;

pub const CALENDAR_CONTENT_TYPE: &str = "text/calendar; charset=utf-8";

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_mine)
        .service(revoke_mine)
        .service(issue_for)
        .service(revoke_for)
        .service(read_feed)
        .service(session_ics);
}

/// Issues the feed and answers its address (absolute, from the request's scheme and host).
async fn issue(
    req: &HttpRequest,
    state: &AppState,
    principal: &Principal,
    participant_id: Uuid,
) -> ApiResult<HttpResponse> {
    let txn = state.db.begin().await?;
    let scope = principal.scope(&txn);
    let (secret, created_at) = calendar::issue(&scope, participant_id).await?;
    txn.commit().await.map_err(StoreError::from)?;
    let info = req.connection_info();
    let feed = CalendarFeed {
        url: format!("{}://{}/v1/calendar-feeds/{secret}", info.scheme(), info.host()),
        participant_id,
        created_at,
    };
    // The address is a secret shown once: never cached, never replayed from an idempotency record.
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(feed))
}

async fn revoke(state: &AppState, principal: &Principal, participant_id: Uuid) -> ApiResult<HttpResponse> {
    let txn = state.db.begin().await?;
    let scope = principal.scope(&txn);
    calendar::revoke(&scope, participant_id).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issue my calendar feed
///
/// A secret address for Outlook, Google or Apple Calendar to subscribe to (they send no bearer token): the caller's
/// sessions in every pair, from 180 days ago to 400 days ahead. Shown once; issuing again revokes the previous
/// address. A participant who leaves stops being published.
#[utoipa::path(
    operation_id = "issue_my_calendar_feed",
    tag = "Me",
    responses(
        (status = 201, description = "The feed's secret address", body = CalendarFeed),
        ConflictErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/me/calendar-feed")]
async fn issue_mine(req: HttpRequest, state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    let id = me::me(principal.actor())?;
    issue(&req, &state, &principal, id).await
}

/// Revoke my calendar feed
///
/// The address stops working at once (404). Nothing to do when there is none.
#[utoipa::path(
    operation_id = "revoke_my_calendar_feed",
    tag = "Me",
    responses((status = 204, description = "Revoked"), AuthErrors),
    security(("bearer" = []))
)]
#[delete("/me/calendar-feed")]
async fn revoke_mine(state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    let id = me::me(principal.actor())?;
    revoke(&state, &principal, id).await
}

/// Issue a participant's calendar feed
///
/// For a front end that provisions feeds with the organisation's token (org_admin); as `POST /v1/me/calendar-feed`.
#[utoipa::path(
    operation_id = "issue_calendar_feed",
    tag = "Participants",
    params(("id" = Uuid, Path, description = "The participant's id")),
    responses(
        (status = 201, description = "The feed's secret address", body = CalendarFeed),
        ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/participants/{id}/calendar-feed")]
async fn issue_for(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    require_admin(&principal)?;
    issue(&req, &state, &principal, id.into_inner()).await
}

/// Revoke a participant's calendar feed
#[utoipa::path(
    operation_id = "revoke_calendar_feed",
    tag = "Participants",
    params(("id" = Uuid, Path, description = "The participant's id")),
    responses((status = 204, description = "Revoked"), NotFoundError, AuthErrors),
    security(("bearer" = []))
)]
#[delete("/participants/{id}/calendar-feed")]
async fn revoke_for(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    require_admin(&principal)?;
    revoke(&state, &principal, id.into_inner()).await
}

/// An iCalendar document with a strong ETag of its bytes (calendar apps poll; a 304 saves them the body).
fn ics(req: &HttpRequest, body: String, filename: Option<&str>) -> HttpResponse {
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(body.as_bytes())[..12]));
    if super::respond::if_none_match(req, &etag) {
        return HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish();
    }
    let mut response = HttpResponse::build(StatusCode::OK);
    response
        .insert_header((header::CONTENT_TYPE, CALENDAR_CONTENT_TYPE))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    if let Some(name) = filename {
        response.insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")));
    }
    response.body(body)
}

/// Read a calendar feed
///
/// What a calendar app subscribes to: no bearer token — the secret in the address is the credential. Each session
/// is an event with a stable `UID`, a `SEQUENCE` raised by every reschedule and by the cancellation,
/// `STATUS:CANCELLED` once cancelled, UTC times, the other side as `ATTENDEE` and the agenda in the description
/// (never a note). An unknown or revoked address, or one of a participant who left, is 404.
#[utoipa::path(
    operation_id = "read_calendar_feed",
    tag = "Me",
    params(("secret" = String, Path, description = "The feed's secret, from its address")),
    responses(
        (status = 200, description = "The participant's sessions (RFC 5545)", body = String, content_type = "text/calendar",
         headers(("ETag" = String))),
        (status = 304, description = "Not modified (the `If-None-Match` ETag is current)"),
        (status = 404, description = "No such feed (unknown, revoked, or its participant left)", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[get("/calendar-feeds/{secret}")]
async fn read_feed(req: HttpRequest, state: web::Data<AppState>, secret: web::Path<String>) -> ApiResult<HttpResponse> {
    let body = calendar::feed(&state.db, &secret).await?;
    Ok(ics(&req, body, None))
}

/// Download a session as `.ics`
///
/// One session as an iCalendar file to add to a calendar, for whoever may see the session; the same event (same
/// `UID`) as in the feeds.
#[utoipa::path(
    operation_id = "get_session_ics",
    tag = "Sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session (RFC 5545)", body = String, content_type = "text/calendar",
         headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/sessions/{id}/event.ics")]
async fn session_ics(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let body = calendar::session_ics(&principal.read_scope(&state.db), principal.actor(), id).await?;
    Ok(ics(&req, body, Some(&format!("session-{id}.ics"))))
}
