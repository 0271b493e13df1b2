//! Notes and learnings over HTTP: `/v1/pairs/{id}/notes`, `/v1/notes/{id}`, `/v1/pairs/{id}/learnings`,
//! `/v1/learnings/{id}` (and publishing). Handlers parse and authorise, call `domain::journal`, and map the result.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

use super::extractors::{IdempotencyKey, IfMatch, Json, Page, PageParams};
use super::idempotency::{Written, transact};
use super::problem::{
    ApiResult, AuthErrors, BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, PreconditionError,
};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::journal::{
    self, Learning, Note, PublishLearning, UpdateLearning, UpdateNote, WriteLearning, WriteNote,
};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_notes)
        .service(write_note)
        .service(get_note)
        .service(update_note)
        .service(delete_note)
        .service(list_learnings)
        .service(write_learning)
        .service(get_learning)
        .service(update_learning)
        .service(publish_learning)
        .service(consent_to_publication)
        .service(decline_publication);
}

/// List a pair's notes
///
/// A participant lists their own notes and those the other side shared. Admins and the programme's managers see
/// that notes exist (author, session, dates) but never their `body`.
#[utoipa::path(
    operation_id = "list_notes",
    tag = "Notes and learnings",
    params(("id" = Uuid, Path, description = "The pair's id"), PageParams),
    responses(
        (status = 200, description = "One page of notes", body = Page<Note>, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pairs/{id}/notes")]
async fn list_notes(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) =
        journal::list_notes(&scope, principal.actor(), id.into_inner(), page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |n| n.id))
}

/// Write a note
///
/// Only the pair's two participants write notes (private unless `shared`). Emits `note.created`, without the text.
#[utoipa::path(
    operation_id = "write_note",
    tag = "Notes and learnings",
    params(
        ("id" = Uuid, Path, description = "The pair's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = WriteNote,
    responses(
        (status = 201, description = "Written", body = Note, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/pairs/{id}/notes")]
async fn write_note(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<WriteNote>,
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
            let n = journal::write_note(scope, actor, id, cmd).await?;
            let location = format!("/v1/notes/{}", n.id);
            Ok(Written::new(n.clone(), n.etag()).at(location))
        },
    )
    .await
}

/// Get a note
///
/// The author reads it; the other side once it is shared (before that it does not exist for them); admins and
/// managers see it without its `body`.
#[utoipa::path(
    operation_id = "get_note",
    tag = "Notes and learnings",
    params(("id" = Uuid, Path, description = "The note's id")),
    responses(
        (status = 200, description = "The note", body = Note, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/notes/{id}")]
async fn get_note(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let n = journal::get_note(&principal.read_scope(&state.db), principal.actor(), id.into_inner()).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &n, &n.etag()))
}

/// Update a note
///
/// The author changes the text or shares it (`shared: true`). Emits `note.updated`, without the text.
#[utoipa::path(
    operation_id = "update_note",
    tag = "Notes and learnings",
    params(
        ("id" = Uuid, Path, description = "The note's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the note as its author read it"),
    ),
    request_body = UpdateNote,
    responses(
        (status = 200, description = "The updated note", body = Note, headers(("ETag" = String))),
        BodyErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/notes/{id}")]
async fn update_note(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<UpdateNote>,
) -> ApiResult<HttpResponse> {
    let (actor, id, cmd) = (principal.actor(), id.into_inner(), body.value);
    transact(
        &req,
        &state,
        &principal,
        &IdempotencyKey(None),
        &body.raw,
        StatusCode::OK,
        async |scope| {
            let n = journal::update_note(scope, actor, id, cmd, if_match.0.as_deref()).await?;
            Ok(Written::new(n.clone(), n.etag()))
        },
    )
    .await
}

/// Delete a note
///
/// The author only. Emits `note.deleted`, without the text.
#[utoipa::path(
    operation_id = "delete_note",
    tag = "Notes and learnings",
    params(("id" = Uuid, Path, description = "The note's id")),
    responses(
        (status = 204, description = "Deleted"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/notes/{id}")]
async fn delete_note(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let txn = state.db.begin().await?;
    journal::delete_note(&principal.scope(&txn), principal.actor(), id.into_inner()).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a pair's learnings
///
/// The pair's participants, admins and the programme's managers.
#[utoipa::path(
    operation_id = "list_learnings",
    tag = "Notes and learnings",
    params(("id" = Uuid, Path, description = "The pair's id"), PageParams),
    responses(
        (status = 200, description = "One page of learnings", body = Page<Learning>, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pairs/{id}/learnings")]
async fn list_learnings(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) =
        journal::list_learnings(&scope, principal.actor(), id.into_inner(), page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |l| l.id))
}

/// Record a learning
///
/// The pair's mentee records what they learnt and the actions they will take. Emits `learning.created`.
#[utoipa::path(
    operation_id = "write_learning",
    tag = "Notes and learnings",
    params(
        ("id" = Uuid, Path, description = "The pair's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = WriteLearning,
    responses(
        (status = 201, description = "Recorded", body = Learning, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/pairs/{id}/learnings")]
async fn write_learning(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<WriteLearning>,
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
            let l = journal::write_learning(scope, actor, id, cmd).await?;
            let location = format!("/v1/learnings/{}", l.id);
            Ok(Written::new(l.clone(), l.etag()).at(location))
        },
    )
    .await
}

/// Get a learning
#[utoipa::path(
    operation_id = "get_learning",
    tag = "Notes and learnings",
    params(("id" = Uuid, Path, description = "The learning's id")),
    responses(
        (status = 200, description = "The learning", body = Learning, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/learnings/{id}")]
async fn get_learning(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let l = journal::get_learning(&principal.read_scope(&state.db), principal.actor(), id.into_inner()).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &l, &l.etag()))
}

/// Update a learning
///
/// The author changes the text or the actions (and their status). Emits `learning.updated`.
#[utoipa::path(
    operation_id = "update_learning",
    tag = "Notes and learnings",
    params(
        ("id" = Uuid, Path, description = "The learning's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = UpdateLearning,
    responses(
        (status = 200, description = "The updated learning", body = Learning, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/learnings/{id}")]
async fn update_learning(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<UpdateLearning>,
) -> ApiResult<HttpResponse> {
    let (actor, id, cmd) = (principal.actor(), id.into_inner(), body.value);
    transact(
        &req,
        &state,
        &principal,
        &IdempotencyKey(None),
        &body.raw,
        StatusCode::OK,
        async |scope| {
            let l = journal::update_learning(scope, actor, id, cmd, if_match.0.as_deref()).await?;
            Ok(Written::new(l.clone(), l.etag()))
        },
    )
    .await
}

/// Ask to publish a learning as a story
///
/// The author (mentor or mentee) asks, with a title, to publish it to the programme's stories. A story tells what
/// the pair discussed in confidence, so it is published only once the other side consents
/// (`POST /v1/learnings/{id}/consent`); until then `story_title` is set, `publication_consents` holds the author's
/// side and `published` is false. Emits `learning.publication_requested`; 409 `consent_awaited` when already asked.
#[utoipa::path(
    operation_id = "publish_learning",
    tag = "Notes and learnings",
    params(
        ("id" = Uuid, Path, description = "The learning's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body = PublishLearning,
    responses(
        (status = 200, description = "The learning, awaiting the other side's consent", body = Learning, headers(("ETag" = String))),
        BodyErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/learnings/{id}/publish")]
async fn publish_learning(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Json<PublishLearning>,
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
            let l = journal::publish(scope, actor, id, cmd).await?;
            Ok(Written::new(l.clone(), l.etag()))
        },
    )
    .await
}

/// Consent to publishing a learning
///
/// The other side of the pair (not the author) agrees to the author's request: the learning becomes a programme
/// story. Emits `learning.published`. 409 `publication_not_requested` when nobody asked, `already_published`.
#[utoipa::path(
    operation_id = "consent_to_learning_publication",
    tag = "Notes and learnings",
    params(("id" = Uuid, Path, description = "The learning's id")),
    responses(
        (status = 200, description = "The published learning", body = Learning, headers(("ETag" = String))),
        ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/learnings/{id}/consent")]
async fn consent_to_publication(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    answer_publication(&req, &state, &principal, id.into_inner(), true).await
}

/// Decline publishing a learning
///
/// The other side of the pair declines the author's request: the learning stays the pair's (`story_title` cleared)
/// and the author may ask again. Emits `learning.publication_declined`.
#[utoipa::path(
    operation_id = "decline_learning_publication",
    tag = "Notes and learnings",
    params(("id" = Uuid, Path, description = "The learning's id")),
    responses(
        (status = 200, description = "The learning, unpublished", body = Learning, headers(("ETag" = String))),
        ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/learnings/{id}/decline")]
async fn decline_publication(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    answer_publication(&req, &state, &principal, id.into_inner(), false).await
}

async fn answer_publication(
    req: &HttpRequest,
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    consent: bool,
) -> ApiResult<HttpResponse> {
    let actor = principal.actor();
    transact(
        req,
        state,
        principal,
        &IdempotencyKey(None),
        &[],
        StatusCode::OK,
        async |scope| {
            let l = journal::answer_publication(scope, actor, id, consent).await?;
            Ok(Written::new(l.clone(), l.etag()))
        },
    )
    .await
}
