//! `/v1/plugins` and `/v1/plugin-limits` (org_admin): the organisation's plugin registry over HTTP. Uploading takes
//! the component as an `application/wasm` body (manifest in the query) or as `multipart/form-data` (`manifest` and
//! `component` parts), checks it at once and compiles it in the background; `Prefer: wait=N` waits for the outcome.
//! Handlers parse and authorise, call `domain::plugins`, and map the result.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extractors::{IdempotencyKey, IfMatch, Json, Page, PageParams};
use super::idempotency::{Written, transact};
use super::problem::{
    ApiError, ApiResult, AuthErrors, BodyErrors, ConflictErrors, IdempotencyErrors, NotFoundError, PluginErrors,
    PreconditionError,
};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::domain::plugins::{
    self, DryRun, DryRunResult, Manifest, Plugin, PluginFilter, PluginInvocation, PluginLimitsView, PluginState,
    SetPluginLimits, UpdatePlugin,
};
use crate::plugins::Kind;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upload)
        .service(list)
        .service(get_one)
        .service(update)
        .service(remove)
        .service(download)
        .service(dry_run)
        .service(invocations)
        .service(get_limits)
        .service(put_limits);
}

/// The manifest in the query string, for `application/wasm` uploads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ManifestQuery {
    /// The plugin's name (with `application/wasm`; multipart uploads send a `manifest` part instead).
    name: Option<String>,
    /// Its semantic version.
    version: Option<String>,
    /// matcher, survey_scorer or hris_connector.
    kind: Option<String>,
    description: Option<String>,
    /// HRIS connectors: comma-separated hosts it may reach.
    allowed_hosts: Option<String>,
}

/// Reads the body up to `limit` bytes (a 413 beyond).
pub(super) async fn read_limited(mut payload: web::Payload, limit: usize) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest {
            code: "unreadable_body",
            detail: "the body could not be read".into(),
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The manifest and the component's bytes, from either upload form.
async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    query: ManifestQuery,
    limit: usize,
) -> ApiResult<(Manifest, Vec<u8>)> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/wasm") {
        let missing: Vec<_> = [
            ("name", &query.name),
            ("version", &query.version),
            ("kind", &query.kind),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| crate::domain::FieldError::new(n, "required", "a query parameter of an application/wasm upload"))
        .collect();
        if !missing.is_empty() {
            return Err(crate::domain::DomainError::Invalid(missing).into());
        }
        let manifest = Manifest {
            name: query.name.unwrap_or_default(),
            version: query.version.unwrap_or_default(),
            kind: query.kind.unwrap_or_default(),
            description: query.description,
            allowed_hosts: query
                .allowed_hosts
                .map(|h| {
                    h.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            config_schema: None,
            config: None,
        };
        return Ok((manifest, read_limited(payload, limit).await?));
    }
    if content_type.starts_with("multipart/form-data") {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        let (mut manifest, mut component) = (None, None);
        while let Some(field) = form.next().await {
            let mut field = field.map_err(|e| ApiError::BadRequest {
                code: "malformed_multipart",
                detail: format!("the multipart body is malformed: {e}"),
            })?;
            let name = field.name().unwrap_or_default().to_string();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| ApiError::BadRequest {
                    code: "malformed_multipart",
                    detail: format!("the multipart body is malformed: {e}"),
                })?;
                if bytes.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                bytes.extend_from_slice(&chunk);
            }
            match name.as_str() {
                "manifest" => manifest = Some(super::extractors::parse_json::<Manifest>(&bytes)?),
                "component" => component = Some(bytes),
                other => {
                    return Err(ApiError::BadRequest {
                        code: "malformed_multipart",
                        detail: format!("unexpected part `{other}`: send `manifest` (JSON) and `component` (wasm)"),
                    });
                }
            }
        }
        return match (manifest, component) {
            (Some(m), Some(c)) => Ok((m, c)),
            _ => Err(ApiError::BadRequest {
                code: "malformed_multipart",
                detail: "a multipart upload needs a `manifest` part (JSON) and a `component` part (wasm)".into(),
            }),
        };
    }
    Err(ApiError::WrongMediaType(
        "upload the component as application/wasm (manifest in the query) or multipart/form-data".into(),
    ))
}

/// `Prefer: wait=N` (RFC 7240): how long the caller will wait for compiling to finish, at most a minute.
pub(crate) fn prefer_wait(req: &HttpRequest) -> Option<Duration> {
    let value = req.headers().get("prefer")?.to_str().ok()?;
    value.split([',', ';']).find_map(|p| {
        let seconds = p.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok()?;
        Some(Duration::from_secs(seconds.min(60)))
    })
}

/// The bytes of a WebAssembly component (the `application/wasm` body of an upload).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, content_media_type = "application/wasm")]
pub struct PluginComponent(#[allow(dead_code)] Vec<u8>);

/// An upload as `multipart/form-data`: the manifest (JSON) and the component, and no other part.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PluginUploadForm {
    manifest: Manifest,
    /// The component (`application/wasm`).
    #[schema(value_type = String, format = Binary, content_media_type = "application/wasm")]
    component: Vec<u8>,
}

/// Upload a plugin
///
/// Uploads one release of a plugin: a WebAssembly component implementing one world of the `upward:plugin` contract
/// (`plugin-sdk/wit/upward.wit`). Send it either as an `application/wasm` body with the manifest in the query
/// (`?name=acme-matcher&version=1.2.0&kind=matcher`), or as `multipart/form-data` with a `manifest` part (JSON:
/// name, version, kind, description, allowed_hosts, config_schema, config) and a `component` part. Up to 64 MiB.
///
/// The component is checked at once: it must be a component (not a core module) exporting the declared kind's
/// interface of a supported contract version, and importing nothing the host does not provide; otherwise `422` with
/// every problem under `errors` (field `component`). It is then compiled off the request workers: the answer is
/// `202` with `state: compiling`; poll the `Location` until `ready` (or `failed`, with `error`). With
/// `Prefer: wait=N` (N ≤ 60) the call waits up to N seconds and answers `201` once ready. Emits `plugin.uploaded`,
/// then `plugin.ready` or `plugin.failed`. `name@version` is unique: releases are immutable.
#[utoipa::path(
    operation_id = "upload_plugin",
    tag = "Plugins",
    params(
        ManifestQuery,
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N seconds (≤ 60) for compiling to finish"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    request_body(
        description = "The component (`application/wasm`), or `manifest` + `component` parts (`multipart/form-data`)",
        content(
            (PluginComponent = "application/wasm"),
            (PluginUploadForm = "multipart/form-data", encoding(
                ("manifest" = (content_type = "application/json")),
                ("component" = (content_type = "application/wasm")),
            )),
        )
    ),
    responses(
        (status = 201, description = "Compiled and ready (with `Prefer: wait`)", body = Plugin, headers(("ETag" = String), ("Location" = String))),
        (status = 202, description = "Accepted and compiling: poll the `Location`", body = Plugin, headers(("ETag" = String), ("Location" = String))),
        BodyErrors, IdempotencyErrors, ConflictErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/plugins")]
async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    query: web::Query<ManifestQuery>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let (manifest, bytes) =
        read_upload(&req, payload, query.into_inner(), state.config.plugin_max_upload_bytes).await?;
    let fingerprint_source = [format!("{manifest:?}").as_bytes(), &bytes].concat();
    let uploaded = std::sync::Arc::new(std::sync::Mutex::new(None::<Uuid>));
    let slot = uploaded.clone();
    let first = transact(
        &req,
        &state,
        &principal,
        &key,
        &fingerprint_source,
        StatusCode::ACCEPTED,
        async |scope| {
            let plugin = plugins::upload(scope, manifest, &bytes).await?;
            if let Ok(mut s) = slot.lock() {
                *s = Some(plugin.id);
            }
            Ok(Written::new(plugin.clone(), plugin.etag()).at(format!("/v1/plugins/{}", plugin.id)))
        },
    )
    .await?;
    // Compiled only once the upload committed (a replayed request compiles nothing).
    let Some(id) = uploaded.lock().ok().and_then(|s| *s) else {
        return Ok(first);
    };
    let (db, host, organisation_id) = (state.db.clone(), state.plugins.clone(), principal.organisation_id);
    let compiling = tokio::spawn(async move {
        if let Err(e) = plugins::compile(&db, host, organisation_id, id).await {
            tracing::error!(plugin = %id, error = %e, "compiling a plugin failed");
        }
    });
    let Some(wait) = prefer_wait(&req) else {
        return Ok(first);
    };
    if tokio::time::timeout(wait, compiling).await.is_err() {
        return Ok(first);
    }
    let plugin = plugins::get(&principal.read_scope(&state.db), id).await?;
    let status = match plugin.state {
        PluginState::Ready => StatusCode::CREATED,
        _ => StatusCode::ACCEPTED,
    };
    Ok(HttpResponse::build(status)
        .insert_header((header::ETAG, plugin.etag()))
        .insert_header((header::LOCATION, format!("/v1/plugins/{}", plugin.id)))
        .insert_header(("Preference-Applied", "wait"))
        .json(plugin))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PluginListFilters {
    /// Only plugins of this kind.
    kind: Option<Kind>,
    /// Only releases of this name.
    name: Option<String>,
    /// Only plugins in this state.
    state: Option<PluginState>,
}

/// List plugins
///
/// The organisation's plugin releases, oldest first.
#[utoipa::path(
    operation_id = "list_plugins",
    tag = "Plugins",
    params(PluginListFilters, PageParams),
    responses(
        (status = 200, description = "One page of plugins", body = Page<Plugin>, headers(("ETag" = String))),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/plugins")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<PluginListFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let f = filters.into_inner();
    let filter = PluginFilter {
        kind: f.kind,
        name: f.name,
        state: f.state,
    };
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = plugins::list(&scope, &filter, page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |p| p.id))
}

/// Get a plugin
#[utoipa::path(
    operation_id = "get_plugin",
    tag = "Plugins",
    params(("id" = Uuid, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "The plugin", body = Plugin, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/plugins/{id}")]
async fn get_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let plugin = plugins::get(&principal.read_scope(&state.db), id.into_inner()).await?;
    Ok(respond::with_etag(&req, StatusCode::OK, &plugin, &plugin.etag()))
}

/// Update a plugin's configuration
///
/// Sets its `config` (checked against the manifest's `config_schema`; every violation is listed) or description.
/// The component itself is immutable: upload a new version to change it. Emits `plugin.updated`.
#[utoipa::path(
    operation_id = "update_plugin",
    tag = "Plugins",
    params(
        ("id" = Uuid, Path, description = "The plugin's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on"),
    ),
    request_body = UpdatePlugin,
    responses(
        (status = 200, description = "The updated plugin", body = Plugin, headers(("ETag" = String))),
        BodyErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/plugins/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Json<UpdatePlugin>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let plugin = plugins::update(
        &principal.scope(&txn),
        &state.config,
        id.into_inner(),
        if_match.0.as_deref(),
        body.value,
    )
    .await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(respond::with_etag(&req, StatusCode::OK, &plugin, &plugin.etag()))
}

/// Delete a plugin
///
/// Deletes the release, its component and its invocation records, and emits `plugin.deleted`. Refused with `409
/// plugin_in_use` while a programme (not archived) names it in `matching.policy` or `survey_scorer`.
#[utoipa::path(
    operation_id = "delete_plugin",
    tag = "Plugins",
    params(
        ("id" = Uuid, Path, description = "The plugin's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the deletion is based on"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        ConflictErrors, PreconditionError, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/plugins/{id}")]
async fn remove(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let plugin = plugins::delete(&principal.scope(&txn), id.into_inner(), if_match.0.as_deref()).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    state.plugins.cache.forget(&plugin.sha256);
    Ok(HttpResponse::NoContent().finish())
}

/// Download a plugin's component
///
/// The component exactly as uploaded (`application/wasm`); its SHA-256 is the plugin's `sha256`.
#[utoipa::path(
    operation_id = "download_plugin",
    tag = "Plugins",
    params(("id" = Uuid, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "The component", content_type = "application/wasm", body = Vec<u8>,
            headers(("ETag" = String, description = "The component's SHA-256"))),
        (status = 304, description = "Not modified"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/plugins/{id}/component")]
async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let scope = principal.read_scope(&state.db);
    let plugin = plugins::get(&scope, id.into_inner()).await?;
    let etag = format!("\"{}\"", plugin.sha256);
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    let bytes = plugins::component(&scope, plugin.id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .insert_header((header::CONTENT_TYPE, "application/wasm"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}-{}.wasm\"", plugin.name, plugin.version),
        ))
        .body(bytes))
}

/// Dry-run a plugin
///
/// Invokes the plugin once on your input, through the real host with the organisation's limits, and returns its
/// output and what it spent (duration, fuel, log lines). For authors testing a release before a programme uses it.
/// `input` is the kind's input: a `MatcherInput` (profiles, candidates as index pairs, `explain`), a `ScorerInput`
/// (questions and responses) or a `ConnectorInput` (cursor). `config` tries another configuration. Every invocation
/// is recorded; a failing plugin answers `422 plugin_failed` naming the plugin, its version, kind and outcome.
#[utoipa::path(
    operation_id = "dry_run_plugin",
    tag = "Plugins",
    params(("id" = Uuid, Path, description = "The plugin's id")),
    request_body = DryRun,
    responses(
        (status = 200, description = "The plugin's output and usage", body = DryRunResult),
        BodyErrors, PluginErrors, ConflictErrors, NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[post("/plugins/{id}/dry-run")]
async fn dry_run(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: Json<DryRun>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let result = plugins::dry_run(
        &state.db,
        state.plugins.clone(),
        &state.config,
        principal.organisation_id,
        id.into_inner(),
        body.value,
    )
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// List a plugin's invocations
///
/// Every invocation of the plugin (dry runs, matching-run batches, …), newest first: purpose, outcome, message,
/// duration, fuel used, items and log lines.
#[utoipa::path(
    operation_id = "list_plugin_invocations",
    tag = "Plugins",
    params(("id" = Uuid, Path, description = "The plugin's id"), PageParams),
    responses(
        (status = 200, description = "One page of invocations", body = Page<PluginInvocation>, headers(("ETag" = String))),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/plugins/{id}/invocations")]
async fn invocations(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = plugins::invocations(&scope, id.into_inner(), page.after()?, page.limit()?).await?;
    respond::hashed(&req, &Page::new(rows, has_more, |r| r.id))
}

/// Get the plugin limits
///
/// The organisation's per-invocation limits for its plugins, and the platform's maximums.
#[utoipa::path(
    operation_id = "get_plugin_limits",
    tag = "Plugins",
    responses(
        (status = 200, description = "The limits", body = PluginLimitsView),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/plugin-limits")]
async fn get_limits(state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let view = plugins::limits(&principal.read_scope(&state.db), &state.config).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Set the plugin limits
///
/// Sets the per-invocation limits of every plugin of the organisation: wall-clock timeout, memory, fuel per item,
/// output size, log volume. Omitted fields take the platform default; a value above the platform maximum is a
/// `422`. Emits `plugin_limits.updated`.
#[utoipa::path(
    operation_id = "set_plugin_limits",
    tag = "Plugins",
    request_body = SetPluginLimits,
    responses(
        (status = 200, description = "The new limits", body = PluginLimitsView),
        BodyErrors, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[put("/plugin-limits")]
async fn put_limits(
    state: web::Data<AppState>,
    principal: Principal,
    body: Json<SetPluginLimits>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let txn = state.db.begin().await?;
    let view = plugins::set_limits(&principal.scope(&txn), &state.config, body.value).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(HttpResponse::Ok().json(view))
}
