//! The event catalogue and the outbox append. Every change appends its event through [`append`] on the same scope —
//! and therefore the same transaction — as the change itself: no change without its event, no event without its
//! change. Webhook delivery reads this log.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::identity_providers::IdentityProvider;
use crate::domain::participants::Participant;
use crate::store::{self, Scope, StoreResult};

/// A domain event with its typed payload: `data` is the resource as it stands after the change.
#[derive(Clone, Debug)]
pub enum EventPayload {
    ParticipantCreated(Participant),
    ParticipantUpdated(Participant),
    ParticipantDeactivated(Participant),
    ParticipantReactivated(Participant),
    IdentityProviderUpdated(IdentityProvider),
    IdentityProviderDeleted(IdentityProvider),
}

/// Every event type Upward emits, with what it means. Subscribers filter on these names.
pub const CATALOGUE: &[(&str, &str)] = &[
    ("participant.created", "A participant was added to the directory."),
    ("participant.updated", "A participant's fields changed."),
    (
        "participant.deactivated",
        "A participant was deactivated; their tokens stop working.",
    ),
    (
        "participant.reactivated",
        "A deactivated participant was made active again.",
    ),
    (
        "identity_provider.updated",
        "The organisation registered or changed its identity provider.",
    ),
    (
        "identity_provider.deleted",
        "The organisation removed its identity provider; its tokens are no longer accepted.",
    ),
];

impl EventPayload {
    pub fn event_type(&self) -> &'static str {
        match self {
            EventPayload::ParticipantCreated(_) => "participant.created",
            EventPayload::ParticipantUpdated(_) => "participant.updated",
            EventPayload::ParticipantDeactivated(_) => "participant.deactivated",
            EventPayload::ParticipantReactivated(_) => "participant.reactivated",
            EventPayload::IdentityProviderUpdated(_) => "identity_provider.updated",
            EventPayload::IdentityProviderDeleted(_) => "identity_provider.deleted",
        }
    }

    fn data(&self) -> Value {
        let result = match self {
            EventPayload::ParticipantCreated(p)
            | EventPayload::ParticipantUpdated(p)
            | EventPayload::ParticipantDeactivated(p)
            | EventPayload::ParticipantReactivated(p) => serde_json::to_value(p),
            EventPayload::IdentityProviderUpdated(i) | EventPayload::IdentityProviderDeleted(i) => {
                serde_json::to_value(i)
            }
        };
        // Serialising plain structs of strings, numbers and maps cannot fail.
        result.unwrap_or(Value::Null)
    }
}

/// An event as recorded in the log.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9000-7000-8000-000000000001",
    "type": "participant.created",
    "occurred_at": "2026-11-22T09:30:00Z",
    "organisation_id": "01936b2e-0000-7000-8000-000000000001",
    "data": {"id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b", "email": "ada.lovelace@example.com", "display_name": "Ada Lovelace", "level": 2, "active": true}
}))]
pub struct Event {
    pub id: Uuid,
    /// One of the catalogue's names, e.g. `participant.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub organisation_id: Uuid,
    /// The resource after the change.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Appends an event to the outbox in the scope's transaction.
pub async fn append<C: ConnectionTrait>(scope: &Scope<'_, C>, payload: EventPayload) -> StoreResult<Event> {
    let event = Event {
        id: store::new_id(),
        event_type: payload.event_type().to_string(),
        occurred_at: store::now(),
        organisation_id: scope.organisation_id(),
        data: payload.data(),
    };
    scope.insert_event(&event).await?;
    Ok(event)
}
