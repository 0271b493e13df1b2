//! The event log's rows, scoped to one organisation. A learning's payload carries its text, so learning events keep
//! those fields sealed at rest as the learnings table does.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::entities::event;
use super::{Scope, StoreResult};
use crate::events::Event;

/// The payload fields an event type keeps sealed at rest.
pub fn sealed_fields(event_type: &str) -> &'static [&'static str] {
    if event_type.starts_with("learning.") {
        super::journal::LEARNING_SEALED
    } else {
        &[]
    }
}

/// The payload as stored.
pub(super) fn stored_data(event_type: &str, data: &serde_json::Value) -> serde_json::Value {
    let fields = sealed_fields(event_type);
    let mut data = data.clone();
    if !fields.is_empty()
        && let Ok(sealer) = crate::secrets::installed()
    {
        crate::secrets::seal_fields(&sealer, &mut data, fields);
    }
    data
}

/// The event from its row, sealed fields opened (a payload that will not open reads without them).
pub(super) fn event_from(m: event::Model) -> Event {
    let mut data = m.data;
    if data.get(crate::secrets::SEALED_MEMBER).is_some()
        && let Ok(sealer) = crate::secrets::installed()
        && crate::secrets::open_fields(&sealer, &mut data).is_err()
        && let Some(object) = data.as_object_mut()
    {
        object.remove(crate::secrets::SEALED_MEMBER);
    }
    Event {
        id: m.id,
        event_type: m.event_type,
        occurred_at: m.occurred_at,
        organisation_id: m.organisation_id,
        data,
    }
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn insert_event(&self, e: &Event) -> StoreResult<()> {
        event::Entity::insert(event::ActiveModel {
            id: Set(e.id),
            organisation_id: Set(self.organisation_id),
            event_type: Set(e.event_type.clone()),
            occurred_at: Set(e.occurred_at),
            data: Set(stored_data(&e.event_type, &e.data)),
        })
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }

    /// Many events in few statements (a bulk change such as an HRIS sync).
    pub async fn insert_events(&self, events: &[Event]) -> StoreResult<()> {
        for chunk in events.chunks(1000) {
            if chunk.is_empty() {
                continue;
            }
            let rows = chunk.iter().map(|e| event::ActiveModel {
                id: Set(e.id),
                organisation_id: Set(self.organisation_id),
                event_type: Set(e.event_type.clone()),
                occurred_at: Set(e.occurred_at),
                data: Set(stored_data(&e.event_type, &e.data)),
            });
            event::Entity::insert_many(rows)
                .exec_without_returning(self.conn)
                .await?;
        }
        Ok(())
    }

    /// Events in the order they were appended, after `after`, optionally of one type and since a time.
    pub async fn list_events(
        &self,
        event_type: Option<&str>,
        since: Option<DateTime<Utc>>,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Event>> {
        let mut query = event::Entity::find().filter(event::Column::OrganisationId.eq(self.organisation_id));
        if let Some(t) = event_type {
            query = query.filter(event::Column::EventType.eq(t));
        }
        if let Some(since) = since {
            query = query.filter(event::Column::OccurredAt.gte(since));
        }
        if let Some(after) = after {
            query = query.filter(event::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(event::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?;
        Ok(rows.into_iter().map(event_from).collect())
    }

    pub async fn count_events(&self) -> StoreResult<u64> {
        use sea_orm::PaginatorTrait;
        Ok(event::Entity::find()
            .filter(event::Column::OrganisationId.eq(self.organisation_id))
            .count(self.conn)
            .await?)
    }
}
