//! The HTTP edge: one file per resource, the extractors, the one error-to-problem map, the OpenAPI document, and the
//! assembly of the actix-web app from them.

pub mod audit;
pub mod calendar;
pub mod enrolments;
pub mod events;
pub mod extractors;
pub mod health;
pub mod hris_connections;
pub mod idempotency;
pub mod identity_provider;
pub mod journal;
pub mod matching;
pub mod me;
pub mod oauth;
pub mod outcomes;
pub mod pairs;
pub mod participant_imports;
pub mod participants;
pub mod plugins;
pub mod privacy;
pub mod problem;
pub mod programmes;
pub mod report;
pub mod respond;
pub mod sessions;
pub mod surveys;
pub mod webhook_endpoints;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use tracing::Instrument;
use utoipa::openapi::security::{ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::auth::{Authenticator, Principal};
use crate::config::Config;
use crate::store::Db;
use events::EventCatalogue;
use problem::{ApiError, PROBLEM_CONTENT_TYPE};

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub auth: Arc<Authenticator>,
    pub config: Arc<Config>,
    pub redis: Option<redis::aio::ConnectionManager>,
    /// The plugin host: engine, compiled-component cache, outbound HTTP for connectors.
    pub plugins: Arc<crate::plugins::Host>,
    /// Wakes the webhook dispatchers after a write.
    pub webhooks: crate::webhooks::Wake,
    /// Seals and opens secrets kept at rest.
    pub secrets: Arc<crate::secrets::SecretBox>,
    /// Failed-authentication lock-outs and per-client quotas.
    pub limiter: Arc<crate::rate_limit::Limiter>,
    /// The audit trail's writer.
    pub audit: crate::domain::audit::AuditTrail,
}

/// The check every administrative route makes.
pub fn require_admin(principal: &Principal) -> problem::ApiResult<()> {
    if principal.is(crate::auth::Role::OrgAdmin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("this requires the org_admin role".into()))
    }
}

impl AppState {
    pub fn idempotency_retention(&self) -> chrono::Duration {
        chrono::Duration::hours(self.config.idempotency_retention_hours as i64)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Upward API",
        description = "Upward runs reverse-mentoring programmes: junior or under-represented employees (mentors) \
mentor senior leaders (mentees). This API owns the organisation's participants, programmes, enrolments, pairs and \
sessions, and emits an event for every change.\n\n\
**Authentication.** Exchange your organisation's client credentials at `POST /v1/oauth/token` for a short-lived \
bearer token (role `org_admin`). Mint participant tokens with `POST /v1/participants/{id}/tokens`, or register your \
own identity provider with `PUT /v1/identity-provider` so its tokens act as your participants.\n\n\
**Errors** are RFC 9457 problem documents (`application/problem+json`) with a stable `type` and `code`.\n\n\
**Concurrency and retries.** Resources carry an `ETag`; send it back in `If-Match` to make a write conditional \
(412 when it no longer matches). Send an `Idempotency-Key` with a `POST` to retry it safely.\n\n\
**Tenancy.** Another organisation's resources are indistinguishable from missing ones (404).",
        license(name = "Apache-2.0"),
    ),
    servers((url = "/", description = "The server that serves this document")),
    components(schemas(
        problem::Problem,
        crate::domain::FieldError,
        crate::domain::webhook_deliveries::WebhookTest,
        crate::domain::privacy::ErasureNotice,
        crate::domain::retention::RetentionSettings,
        crate::domain::retention::RetentionReport,
        crate::plugins::matcher::MatcherInput,
        crate::plugins::matcher::MatcherOutput,
        crate::plugins::scorer::ScorerInput,
        crate::plugins::scorer::ScorerOutput,
        crate::plugins::connector::ConnectorInput,
        crate::plugins::connector::PageDoc,
    )),
    modifiers(&SecuritySchemes, &EventCatalogue),
    tags(
        (name = "Authentication", description = "Tokens: client credentials, participant tokens, the server's keys"),
        (name = "Me", description = "A participant's own view across programmes: profile, pairs, sessions, survey requests, enrolments"),
        (name = "Participants", description = "The organisation's employee directory"),
        (name = "Programmes", description = "Reverse-mentoring programmes, their state machine and their health"),
        (name = "Enrolments", description = "Participants joining a programme as mentor (junior) or mentee (senior)"),
        (name = "Pairs", description = "Mentor and mentee pairs: hard rules, agreement to the ground rules, commitment and risk"),
        (name = "Matching", description = "The matching engine: optimal proposals for a programme's mentors and mentees"),
        (name = "Plugins", description = "The organisation's WebAssembly plugins (matching policies, survey scorers, HRIS connectors): upload, configure, dry-run, limits"),
        (name = "Sessions", description = "A pair's meetings: schedule, reschedule, complete, cancel, no-show"),
        (name = "Notes and learnings", description = "Private notes of a pair; learnings, actions and stories"),
        (name = "Surveys", description = "Survey templates, milestone requests, answers and scores"),
        (name = "Outcomes", description = "Whether a programme works: retention against a comparison group, the would-recommend curve"),
        (name = "HRIS", description = "Connections to the organisation's HR system through an hris-connector plugin: configuration, write-only secrets, schedule"),
        (name = "Webhooks", description = "Endpoints that receive the organisation's events, signed the Standard Webhooks way"),
        (name = "Identity provider", description = "Bring your own identity provider"),
        (name = "Events", description = "The event log: every change, in order"),
        (name = "Data protection", description = "Erasure, export, retention and the audit trail of people's data"),
        (name = "Operations", description = "Health and readiness"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A token from `/v1/oauth/token`, a minted participant token, or a token of the organisation's \
                         registered identity provider.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator's `UPWARD_METRICS_TOKEN`, for `GET /metrics` only."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    "/v1/oauth/token",
                    Scopes::from_iter([("org_admin", "Manage the whole organisation")]),
                ))],
                "OAuth 2.0 client credentials (RFC 6749 §4.4)",
            )),
        );
    }
}

/// Every route, declared with its OpenAPI description.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.configure(health::routes).service(
        utoipa_actix_web::scope("/v1")
            .configure(oauth::routes)
            .configure(me::routes)
            .configure(calendar::routes)
            .configure(participants::routes)
            .configure(participant_imports::routes)
            .configure(programmes::routes)
            .configure(outcomes::routes)
            .configure(report::routes)
            .configure(enrolments::routes)
            .configure(pairs::routes)
            .configure(sessions::routes)
            .configure(journal::routes)
            .configure(surveys::routes)
            .configure(matching::routes)
            .configure(plugins::routes)
            .configure(webhook_endpoints::routes)
            .configure(hris_connections::routes)
            .configure(identity_provider::routes)
            .configure(events::routes)
            .configure(privacy::routes)
            .configure(audit::routes),
    );
}

/// The OpenAPI document, assembled from the route declarations, then the `webhooks` section (last: its examples come
/// from the schemas the routes bring).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    events::add_webhooks(&mut spec);
    constrain_parameters(&mut spec);
    refine_for_generators(&mut spec);
    spec
}

/// What client generators (openapi-typescript, openapi-python-client) need to type everything without casts: free-form
/// objects say `additionalProperties: true` (a bare `type: object` becomes `Record<string, never>`); the event list is
/// a union discriminated by `type`; a sync's diff entries are a union of whole objects (an `allOf` over a `oneOf` is
/// refused); the token endpoint needs no credentials (`security: []`, not "optional" `[{}]`).
fn refine_for_generators(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Discriminator, OneOf, Schema, SchemaType, Type};
    use utoipa::openapi::{Ref, RefOr};

    fn free_form(schema: &mut Schema) {
        match schema {
            Schema::Object(object) => {
                let is_object = match &object.schema_type {
                    SchemaType::Type(Type::Object) => true,
                    SchemaType::Array(types) => types.contains(&Type::Object),
                    _ => false,
                };
                if is_object && object.properties.is_empty() && object.additional_properties.is_none() {
                    object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(true)));
                }
                for property in object.properties.values_mut() {
                    if let RefOr::T(schema) = property {
                        free_form(schema);
                    }
                }
                if let Some(extra) = object.additional_properties.as_deref_mut()
                    && let AdditionalProperties::RefOr(RefOr::T(schema)) = extra
                {
                    free_form(schema);
                }
            }
            Schema::Array(array) => {
                if let ArrayItems::RefOrSchema(items) = &mut array.items
                    && let RefOr::T(schema) = items.as_mut()
                {
                    free_form(schema);
                }
            }
            Schema::OneOf(one) => one.items.iter_mut().for_each(|i| {
                if let RefOr::T(s) = i {
                    free_form(s)
                }
            }),
            Schema::AllOf(all) => all.items.iter_mut().for_each(|i| {
                if let RefOr::T(s) = i {
                    free_form(s)
                }
            }),
            Schema::AnyOf(any) => any.items.iter_mut().for_each(|i| {
                if let RefOr::T(s) = i {
                    free_form(s)
                }
            }),
            _ => {}
        }
    }

    let Some(components) = spec.components.as_mut() else {
        return;
    };
    for schema in components.schemas.values_mut() {
        if let RefOr::T(schema) = schema {
            free_form(schema);
        }
    }
    // Events: every `<Type>Event` schema pins `type` to one name; the list's items are their union. (Their titles,
    // the event names, would become class names and collide with the payloads': the component names serve.)
    let mut variants: Vec<(String, String)> = Vec::new();
    for (name, schema) in components.schemas.iter_mut() {
        if let RefOr::T(Schema::Object(object)) = schema
            && name.ends_with("Event")
            && let Some(RefOr::T(Schema::Object(kind))) = object.properties.get("type")
            && let Some([serde_json::Value::String(value)]) = kind.enum_values.as_deref()
        {
            variants.push((value.clone(), name.clone()));
            object.title = None;
        }
    }
    // Pages inline their item schema: point them at the component instead, so each type is generated once.
    let names: Vec<String> = components.schemas.keys().cloned().collect();
    for name in &names {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        if !components.schemas.contains_key(item) {
            continue;
        }
        if let Some(RefOr::T(Schema::Object(page))) = components.schemas.get_mut(name)
            && let Some(RefOr::T(Schema::Array(data))) = page.properties.get_mut("data")
            && matches!(&data.items, ArrayItems::RefOrSchema(inner) if matches!(inner.as_ref(), RefOr::T(_)))
        {
            data.items = ArrayItems::RefOrSchema(Box::new(RefOr::Ref(Ref::from_schema_name(item))));
        }
    }
    // A created participant's fields: one named schema, shared by the change and the entry.
    if let Some(RefOr::T(Schema::OneOf(changes))) = components.schemas.get_mut("SyncChange") {
        let mut fields = None;
        for variant in changes.items.iter_mut() {
            if let RefOr::T(Schema::Object(object)) = variant
                && let Some(property) = object.properties.get_mut("fields")
                && let RefOr::T(_) = property
            {
                fields = Some(std::mem::replace(
                    property,
                    RefOr::Ref(Ref::from_schema_name("SyncFields")),
                ));
            }
        }
        if let Some(fields) = fields {
            components.schemas.insert("SyncFields".into(), fields);
        }
    }
    if !variants.is_empty()
        && let Some(RefOr::T(Schema::Object(page))) = components.schemas.get_mut("Page_Event")
        && let Some(RefOr::T(Schema::Array(data))) = page.properties.get_mut("data")
    {
        let mut union = OneOf::new();
        let mut discriminator = Discriminator::new("type");
        for (value, name) in &variants {
            union.items.push(RefOr::Ref(Ref::from_schema_name(name.clone())));
            discriminator
                .mapping
                .insert(value.clone(), format!("#/components/schemas/{name}"));
        }
        union.discriminator = Some(discriminator);
        data.items = ArrayItems::RefOrSchema(Box::new(RefOr::T(Schema::OneOf(union))));
    }
    // A sync's diff entry: each kind of change as one object with its `seq`.
    let entry_variants = match components.schemas.get("SyncChange") {
        Some(RefOr::T(Schema::OneOf(changes))) => changes
            .items
            .iter()
            .filter_map(|variant| match variant {
                RefOr::T(Schema::Object(object)) => {
                    let mut object = object.clone();
                    object.properties.insert(
                        "seq".into(),
                        RefOr::T(Schema::Object(
                            utoipa::openapi::schema::ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                                    utoipa::openapi::schema::KnownFormat::Int32,
                                )))
                                .description(Some("The entry's place in the diff (also its cursor)."))
                                .build(),
                        )),
                    );
                    object.required.push("seq".into());
                    Some(RefOr::T(Schema::Object(object)))
                }
                _ => None,
            })
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    if !entry_variants.is_empty()
        && let Some(RefOr::T(entry)) = components.schemas.get_mut("SyncChangeEntry")
    {
        let example = match entry {
            Schema::AllOf(all) => all.example.clone(),
            _ => None,
        };
        let mut union = OneOf::new();
        union.items = entry_variants;
        union.description = Some("One entry of a sync's diff, in order: a change and its `seq`.".into());
        union.example = example;
        *entry = Schema::OneOf(union);
    }
    // Inline bodies (the JWKS, …) too.
    for operation in operations_mut(spec) {
        let mut contents: Vec<&mut utoipa::openapi::content::Content> = Vec::new();
        if let Some(body) = operation.request_body.as_mut() {
            contents.extend(body.content.values_mut());
        }
        for response in operation.responses.responses.values_mut() {
            if let RefOr::T(response) = response {
                contents.extend(response.content.values_mut());
            }
        }
        for content in contents {
            if let Some(RefOr::T(schema)) = content.schema.as_mut() {
                free_form(schema);
            }
        }
    }
    // The token endpoint takes client credentials in its body, a calendar feed its secret in the address: no
    // bearer token.
    if let Some(item) = spec.paths.paths.get_mut("/v1/oauth/token")
        && let Some(operation) = item.post.as_mut()
    {
        operation.security = Some(Vec::new());
    }
    if let Some(item) = spec.paths.paths.get_mut("/v1/calendar-feeds/{secret}")
        && let Some(operation) = item.get.as_mut()
    {
        operation.security = Some(Vec::new());
    }
}

/// Every operation of the spec, for the passes that refine them.
fn operations_mut(spec: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    spec.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
    })
}

/// The rules the extractors enforce on parameters, stated once for every operation that takes them, so a client (or a
/// fuzzer) reads them from the spec instead of learning them from refusals: `Idempotency-Key` is 1–255 visible ASCII
/// characters; `If-Match` is not blank; `cursor` is the 22-character base64url string (16 bytes) a page's
/// `next_cursor` gave; no text parameter holds a NUL (see `nul`).
fn constrain_parameters(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
    use utoipa::openapi::{RefOr, path::ParameterIn};
    let string = |min: usize, max: Option<usize>, pattern: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(min))
            .max_length(max)
            .pattern(Some(pattern))
            .build()
    };
    for operation in operations_mut(spec) {
        for parameter in operation.parameters.iter_mut().flatten() {
            let replacement = match parameter.name.as_str() {
                "Idempotency-Key" => Some(string(1, Some(255), "^[!-~]+$")),
                "If-Match" => Some(string(1, None, "\\S")),
                "cursor" => Some(string(22, Some(22), "^[A-Za-z0-9_-]{21}[AQgw]$")),
                _ => None,
            };
            if let Some(schema) = replacement {
                parameter.schema = Some(schema.into());
                continue;
            }
            if !matches!(parameter.parameter_in, ParameterIn::Query | ParameterIn::Path) {
                continue;
            }
            if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema {
                let text = match &object.schema_type {
                    SchemaType::Type(Type::String) => true,
                    SchemaType::Array(types) => types.contains(&Type::String),
                    _ => false,
                };
                if text && object.pattern.is_none() && object.format.is_none() && object.enum_values.is_none() {
                    object.pattern = Some("^[^\\u0000]*$".into());
                }
            }
        }
    }
}

/// The OpenAPI document as served, built once and shared by every HTTP worker: the rendered JSON (`/openapi.json`)
/// and the route table told from it. Each worker holding its own copy of the document (and Swagger UI serialising it
/// on every request) cost tens of megabytes of resident memory for no gain.
#[derive(Clone)]
pub struct PublishedSpec {
    json: web::Bytes,
    routes: web::Data<RouteTable>,
}

impl PublishedSpec {
    pub fn new(spec: &utoipa::openapi::OpenApi) -> PublishedSpec {
        PublishedSpec {
            json: web::Bytes::from(spec.to_json().unwrap_or_default()),
            routes: web::Data::new(RouteTable::new(spec)),
        }
    }
}

/// The whole application, as each HTTP worker builds it.
pub fn app(
    state: web::Data<AppState>,
    published: PublishedSpec,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_limit = state.config.max_body_bytes;
    let PublishedSpec {
        json,
        routes: route_table,
    } = published;
    let (app, _) = actix_web::App::new()
        .app_data(state)
        .app_data(route_table)
        .app_data(web::PayloadConfig::new(body_limit))
        .app_data(web::PathConfig::default().error_handler(extractors::path_error))
        .app_data(web::QueryConfig::default().error_handler(extractors::query_error))
        .wrap(
            ErrorHandlers::new()
                .handler(actix_web::http::StatusCode::NOT_FOUND, as_problem)
                .handler(actix_web::http::StatusCode::METHOD_NOT_ALLOWED, as_problem)
                .handler(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE, as_problem)
                .handler(actix_web::http::StatusCode::BAD_REQUEST, as_problem),
        )
        .wrap(actix_web::middleware::from_fn(request_context))
        .into_utoipa_app()
        .configure(routes)
        .split_for_parts();
    app.service(web::redirect("/docs", "/docs/"))
        .route(
            "/openapi.json",
            web::get().to(move || {
                let json = json.clone();
                async move {
                    HttpResponse::Ok()
                        .insert_header((header::CONTENT_TYPE, "application/json"))
                        .body(json)
                }
            }),
        )
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .config(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none")),
        )
        .default_service(web::to(unmatched))
}

/// The documented routes, as path templates with their methods: lets an unmatched request be told apart as an
/// unknown route (404) or a known route with the wrong method (405 with `Allow`). Built from the same spec the app
/// serves, so it cannot drift from the routes.
struct RouteTable(Vec<(Vec<String>, Vec<&'static str>)>);

impl RouteTable {
    fn new(spec: &utoipa::openapi::OpenApi) -> RouteTable {
        RouteTable(
            spec.paths
                .paths
                .iter()
                .map(|(template, item)| {
                    let segments = template.split('/').map(str::to_string).collect();
                    let methods = [
                        ("GET", &item.get),
                        ("POST", &item.post),
                        ("PUT", &item.put),
                        ("PATCH", &item.patch),
                        ("DELETE", &item.delete),
                    ]
                    .into_iter()
                    .filter_map(|(name, operation)| operation.as_ref().map(|_| name))
                    .collect();
                    (segments, methods)
                })
                .collect(),
        )
    }

    fn methods_for(&self, path: &str) -> Option<&[&'static str]> {
        let parts: Vec<&str> = path.split('/').collect();
        self.0.iter().find_map(|(segments, methods)| {
            let matches = segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| (s.starts_with('{') && !p.is_empty()) || s == p);
            matches.then_some(methods.as_slice())
        })
    }
}

async fn unmatched(req: actix_web::HttpRequest, routes: web::Data<RouteTable>) -> HttpResponse {
    match routes.methods_for(req.path()) {
        Some(methods) if !methods.is_empty() => {
            let mut response = ApiError::MethodNotAllowed.error_response();
            if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            response
        }
        _ => ApiError::RouteNotFound.error_response(),
    }
}

/// Turns actix's own plain-text 400/404/405/413 answers (an extractor's, a route's) into problem documents; our
/// handlers' problems, and the token endpoint's OAuth errors, pass through. (431 and 414 are answered by the HTTP
/// layer before any of this runs.)
fn as_problem<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == PROBLEM_CONTENT_TYPE);
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("application/json")));
    if is_problem || is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let limit = res
        .request()
        .app_data::<web::Data<AppState>>()
        .map_or(0, |s| s.config.max_body_bytes);
    let error = match res.status() {
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(limit),
        actix_web::http::StatusCode::BAD_REQUEST => ApiError::BadRequest {
            code: "bad_request",
            detail: "the request could not be read".into(),
        },
        _ => ApiError::RouteNotFound,
    };
    let (req, _) = res.into_parts();
    let response: HttpResponse = error.error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// States in the request's audit entry why it uses special-category data.
pub(crate) fn state_purpose(req: &actix_web::HttpRequest, purpose: String) {
    use actix_web::HttpMessage;
    req.extensions_mut().insert(crate::domain::audit::AuditPurpose(purpose));
}

/// Queues the request's audit entry when the rule says it is one to keep.
async fn audit(
    state: &web::Data<AppState>,
    req: &actix_web::HttpRequest,
    principal: &Principal,
    method: &str,
    route: Option<&str>,
    request_id: &str,
    outcome: u16,
) {
    use crate::domain::audit::{AuditActor, AuditRecord, audited};
    let template = route.unwrap_or_else(|| req.path());
    // The first id in the path is the resource; under /participants/{id} it is also whose data it is.
    let resource_id = req
        .path()
        .split('/')
        .find_map(|segment| segment.parse::<uuid::Uuid>().ok());
    let subject_id = resource_id.filter(|_| template.starts_with("/v1/participants/{id}"));
    let role = principal.role.as_str();
    if !audited(method, template, role, principal.participant_id, subject_id) {
        return;
    }
    let purpose = req
        .extensions()
        .get::<crate::domain::audit::AuditPurpose>()
        .map(|p| p.0.clone());
    state
        .audit
        .record(AuditRecord {
            organisation_id: principal.organisation_id,
            id: uuid::Uuid::now_v7(),
            at: crate::store::now(),
            actor: AuditActor {
                role: role.to_string(),
                subject: principal.subject.clone(),
                participant_id: principal.participant_id,
            },
            operation: format!("{method} {template}"),
            resource_id,
            subject_id,
            address: req.peer_addr().map(|a| a.ip().to_string()),
            request_id: request_id.to_string(),
            outcome,
            purpose,
        })
        .await;
}

/// Gives every request an id (the caller's `X-Request-Id`, or a new one), echoes it, and writes one access-log line
/// with the organisation, status and latency.
async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().clone();
    let method = method.as_str();
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} unmatched"),
        otel.kind = "server",
        request_id = %request_id,
        http.request.method = %method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    crate::telemetry::traces::continue_trace(&span, req.headers());
    // A NUL in the path or the query string is refused before any handler sees it (see `nul`).
    let refused = if crate::nul::in_path(req.path()) {
        Some(ApiError::BadRequest {
            code: "invalid_path_parameter",
            detail: "the path contains the NUL character (U+0000)".into(),
        })
    } else {
        crate::nul::in_query(req.query_string()).map(|name| ApiError::BadRequest {
            code: "invalid_query_parameter",
            detail: format!("the query parameter `{name}` contains the NUL character (U+0000), which no text accepts"),
        })
    };
    // A test clock, when this server allows them and the request names one.
    let clock = match (refused, req.app_data::<web::Data<AppState>>()) {
        (None, Some(state)) if state.config.test_clock => {
            match crate::clock::requested(req.headers().get(crate::clock::HEADER).and_then(|v| v.to_str().ok())) {
                Ok(offset) => Ok(offset),
                Err(detail) => Err(ApiError::BadRequest {
                    code: "invalid_header",
                    detail,
                }),
            }
        }
        (None, _) => Ok(None),
        (Some(error), _) => Err(error),
    };
    let mut res = match clock {
        Err(error) => req.into_response(error.error_response()).map_into_right_body(),
        Ok(None) => next.call(req).instrument(span.clone()).await?.map_into_left_body(),
        Ok(Some(offset)) => crate::clock::shifted(offset, next.call(req).instrument(span.clone()))
            .await?
            .map_into_left_body(),
    };
    // Matching the path against the routes again is not free: once per request.
    let route = res.request().match_pattern();
    if let Some(route) = &route {
        crate::telemetry::traces::rename(&span, method, route);
        span.record("http.route", route.as_str());
    }
    span.record("http.response.status_code", res.status().as_u16());
    // A successful write committed events, and with them deliveries: wake the dispatchers.
    if method != "GET"
        && method != "HEAD"
        && res.status().as_u16() < 400
        && let Some(state) = res.request().app_data::<web::Data<AppState>>()
    {
        state.webhooks.wake();
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    // The client's request quota, when one is configured, on every answer (a refusal already carries it).
    let quota = res.request().extensions().get::<crate::rate_limit::Decision>().copied();
    if let (Some(decision), false) = (quota, res.headers().contains_key("ratelimit"))
        && let Some(state) = res.request().app_data::<web::Data<AppState>>()
        && let Some((policy, current)) = state.limiter.headers(&decision)
    {
        for (name, value) in [("ratelimit-policy", policy), ("ratelimit", current)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(header::HeaderName::from_static(name), value);
            }
        }
    }
    crate::telemetry::metrics::request(
        route.as_deref().unwrap_or("unmatched"),
        method,
        res.status().as_u16(),
        started.elapsed(),
    );
    let principal = res.request().extensions().get::<Principal>().cloned();
    if let Some(principal) = &principal
        && let Some(state) = res.request().app_data::<web::Data<AppState>>()
    {
        audit(
            state,
            res.request(),
            principal,
            method,
            route.as_deref(),
            &request_id,
            res.status().as_u16(),
        )
        .await;
    }
    if !tracing::enabled!(target: "upward::access", tracing::Level::INFO) {
        return Ok(res);
    }
    let organisation = principal.as_ref().map(|p| p.organisation_id.to_string());
    tracing::info!(
        target: "upward::access",
        request_id = %request_id,
        method = %method,
        path = %loggable_path(res.request().path()),
        status = res.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        organisation_id = organisation.as_deref().unwrap_or("-"),
        "request"
    );
    Ok(res)
}

/// The path as the access log shows it: a calendar feed's address is its credential, so its secret is left out.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const FEEDS: &str = "/v1/calendar-feeds/";
    if path.starts_with(FEEDS) && path.len() > FEEDS.len() {
        std::borrow::Cow::Owned(format!("{FEEDS}{{secret}}"))
    } else {
        std::borrow::Cow::Borrowed(path)
    }
}
