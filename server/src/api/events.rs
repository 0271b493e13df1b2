//! `GET /v1/events`: the organisation's event log, the same events webhooks deliver.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extractors::{Page, PageParams};
use super::problem::{ApiResult, AuthErrors};
use super::{AppState, respond};
use crate::auth::Principal;
use crate::events::Event;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilters {
    /// Only events of this type, e.g. `participant.created`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// Only events that occurred at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
}

/// List events
///
/// Every change in the organisation, oldest first, each with the resource as it stood after the change.
#[utoipa::path(
    operation_id = "list_events",
    tag = "Events",
    params(EventFilters, PageParams),
    responses(
        (status = 200, description = "One page of events", body = Page<Event>),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/events")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    filters: web::Query<EventFilters>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    super::require_admin(&principal)?;
    let limit = page.limit()?;
    let scope = principal.read_scope(&state.db);
    let (rows, has_more) = crate::domain::page(
        scope
            .list_events(filters.event_type.as_deref(), filters.since, page.after()?, limit + 1)
            .await?,
        limit,
    );
    respond::hashed(&req, &Page::new(rows, has_more, |e| e.id))
}

/// Documents the event catalogue in the spec: an `EventType` enum of every name, and one `<Name>Event` schema per
/// type whose `data` refers to the resource it carries.
pub struct EventCatalogue;

impl utoipa::Modify for EventCatalogue {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
        use utoipa::openapi::{Ref, RefOr, Schema};
        let components = openapi.components.get_or_insert_with(Default::default);
        let lines = crate::events::CATALOGUE
            .iter()
            .map(|e| format!("- `{}` ({}): {}", e.name, e.schema, e.description))
            .collect::<Vec<_>>()
            .join("\n");
        components.schemas.insert(
            "EventType".into(),
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(format!("Every event type Upward emits:\n{lines}")))
                    .enum_values(Some(crate::events::CATALOGUE.iter().map(|e| e.name)))
                    .build(),
            )),
        );
        for e in crate::events::CATALOGUE {
            let name: String = e
                .name
                .split(['.', '_'])
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect();
            let string = |format: Option<utoipa::openapi::schema::SchemaFormat>| {
                ObjectBuilder::new().schema_type(Type::String).format(format).build()
            };
            let schema: Object = ObjectBuilder::new()
                .title(Some(e.name))
                .description(Some(e.description))
                .property(
                    "id",
                    string(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                        utoipa::openapi::schema::KnownFormat::Uuid,
                    ))),
                )
                .property(
                    "type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([e.name]))
                        .build(),
                )
                .property(
                    "occurred_at",
                    string(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                        utoipa::openapi::schema::KnownFormat::DateTime,
                    ))),
                )
                .property(
                    "organisation_id",
                    string(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                        utoipa::openapi::schema::KnownFormat::Uuid,
                    ))),
                )
                .property("data", Ref::from_schema_name(e.schema))
                .required("id")
                .required("type")
                .required("occurred_at")
                .required("organisation_id")
                .required("data")
                .build();
            components
                .schemas
                .insert(format!("{name}Event"), RefOr::T(Schema::Object(schema)));
        }
    }
}

/// Adds the `webhooks` section to a finished document.
pub fn add_webhooks(openapi: &mut utoipa::openapi::OpenApi) {
    let webhooks = match &openapi.components {
        Some(components) => webhooks_section(components),
        None => return,
    };
    openapi
        .extensions
        .get_or_insert_with(Default::default)
        .insert("webhooks".into(), webhooks);
}

/// The OpenAPI 3.1 `webhooks` section: one POST per event type, with the Standard Webhooks headers, the body
/// (`type`, `timestamp`, `data`) and an example built from the carried resource's own example. utoipa has no
/// webhooks model, so the section is JSON placed at the top level of the document.
fn webhooks_section(components: &utoipa::openapi::Components) -> serde_json::Value {
    use serde_json::json;
    let header = |name: &str, description: &str, example: serde_json::Value| {
        json!({"name": name, "in": "header", "required": true, "description": description,
            "schema": {"type": "string"}, "example": example})
    };
    let parameters = json!([
        header(
            "webhook-id",
            "The event's id: the same on every attempt, so receivers can deduplicate.",
            json!("01936b2e-9000-7000-8000-000000000001")
        ),
        header(
            "webhook-timestamp",
            "When this attempt was sent, in Unix seconds; reject old ones (e.g. > 5 minutes).",
            json!("1795253400")
        ),
        header(
            "webhook-signature",
            "`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the endpoint's secret \
             (the base64 after `whsec_`); space-separated, several during a secret rotation. Verify with any Standard \
             Webhooks library.",
            json!("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        ),
    ]);
    let mut section = serde_json::Map::new();
    for e in crate::events::CATALOGUE {
        let data_example = components
            .schemas
            .get(e.schema)
            .and_then(|schema| serde_json::to_value(schema).ok())
            .and_then(|v| {
                v.get("example")
                    .cloned()
                    .or_else(|| v.get("examples").and_then(|x| x.get(0)).cloned())
            })
            .unwrap_or(json!({}));
        let operation = json!({
            "post": {
                "operationId": format!("webhook_{}", e.name.replace('.', "_")),
                "summary": e.name,
                "description": e.description,
                "tags": ["Webhooks"],
                "parameters": parameters,
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["type", "timestamp", "data"],
                            "properties": {
                                "type": {"type": "string", "enum": [e.name]},
                                "timestamp": {"type": "string", "format": "date-time",
                                    "description": "When the event occurred."},
                                "data": {"$ref": format!("#/components/schemas/{}", e.schema)},
                            }
                        },
                        "example": {"type": e.name, "timestamp": "2026-11-22T09:30:00Z", "data": data_example},
                    }}
                },
                "responses": {
                    "2XX": {"description": "Received. Any 2xx within 15 seconds counts; the body is kept (first 4 KiB) in the delivery log."},
                    "410": {"description": "Gone: Upward disables the endpoint at once (`webhook_endpoint.disabled`)."},
                    "429": {"description": "Too many requests: retried after `Retry-After` (clamped), as are 502, 503 and 504; any other answer, a timeout or a redirect is retried on the schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ±20%)."},
                }
            }
        });
        section.insert(e.name.to_string(), operation);
    }
    serde_json::Value::Object(section)
}
