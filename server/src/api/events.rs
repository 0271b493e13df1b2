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
    let scope = principal.scope(state.db.reader());
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
