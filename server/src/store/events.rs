//! The event log's rows, scoped to one organisation.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::entities::event;
use super::{Scope, StoreResult};
use crate::events::Event;

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn insert_event(&self, e: &Event) -> StoreResult<()> {
        event::Entity::insert(event::ActiveModel {
            id: Set(e.id),
            organisation_id: Set(self.organisation_id),
            event_type: Set(e.event_type.clone()),
            occurred_at: Set(e.occurred_at),
            data: Set(e.data.clone()),
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
                data: Set(e.data.clone()),
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
        Ok(rows
            .into_iter()
            .map(|m| Event {
                id: m.id,
                event_type: m.event_type,
                occurred_at: m.occurred_at,
                organisation_id: m.organisation_id,
                data: m.data,
            })
            .collect())
    }

    pub async fn count_events(&self) -> StoreResult<u64> {
        use sea_orm::PaginatorTrait;
        Ok(event::Entity::find()
            .filter(event::Column::OrganisationId.eq(self.organisation_id))
            .count(self.conn)
            .await?)
    }
}
