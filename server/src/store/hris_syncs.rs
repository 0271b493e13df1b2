//! HRIS sync rows (the report as a document, with the state and lease queries need) and their diff, one change per
//! row, scoped to one organisation; plus the instance-wide queries of the sync job.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::documents::{decode, encode, find_by_id, guarded_update};
use super::entities::{hris_connection, hris_sync, hris_sync_change};
use super::{Db, Scope, StoreError, StoreResult};
use crate::domain::hris_connections::HrisConnection;
use crate::domain::hris_plan::SyncChange;
use crate::domain::hris_syncs::HrisSync;

fn row(organisation_id: Uuid, s: &HrisSync, lease_until: Option<DateTime<Utc>>) -> StoreResult<hris_sync::ActiveModel> {
    Ok(hris_sync::ActiveModel {
        id: Set(s.id),
        organisation_id: Set(organisation_id),
        connection_id: Set(s.connection_id),
        state: Set(s.state.as_str().into()),
        scheduled_for: Set(s.scheduled_for),
        lease_until: Set(lease_until),
        doc: Set(encode(s)?),
        version: Set(s.version),
        created_at: Set(s.created_at),
        updated_at: Set(s.updated_at),
    })
}

fn from_row(m: hris_sync::Model) -> StoreResult<(HrisSync, Option<DateTime<Utc>>)> {
    let lease = m.lease_until;
    Ok((decode("hris sync", m.id, m.doc, m.version)?, lease))
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn insert_hris_sync(&self, s: &HrisSync) -> StoreResult<()> {
        hris_sync::Entity::insert(row(self.organisation_id, s, None)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    /// The sync with its lease, locked until the transaction ends when `lock`.
    pub async fn hris_sync(&self, id: Uuid, lock: bool) -> StoreResult<Option<(HrisSync, Option<DateTime<Utc>>)>> {
        find_by_id!(hris_sync, self, id, lock).map(from_row).transpose()
    }

    /// Writes the sync if its version is still `expected_version`.
    pub async fn update_hris_sync(
        &self,
        s: &HrisSync,
        lease_until: Option<DateTime<Utc>>,
        expected_version: i32,
    ) -> StoreResult<bool> {
        Ok(guarded_update!(
            hris_sync,
            self,
            row(self.organisation_id, s, lease_until)?,
            s.id,
            expected_version
        ))
    }

    /// A connection's syncs, newest first, before `before`.
    pub async fn hris_syncs(
        &self,
        connection_id: Uuid,
        before: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<HrisSync>> {
        let mut query = hris_sync::Entity::find()
            .filter(hris_sync::Column::OrganisationId.eq(self.organisation_id))
            .filter(hris_sync::Column::ConnectionId.eq(connection_id));
        if let Some(before) = before {
            query = query.filter(hris_sync::Column::Id.lt(before));
        }
        query
            .order_by_desc(hris_sync::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|m| from_row(m).map(|(s, _)| s))
            .collect()
    }

    /// The connection's queued or running sync, if any.
    pub async fn unfinished_hris_sync(&self, connection_id: Uuid) -> StoreResult<Option<HrisSync>> {
        hris_sync::Entity::find()
            .filter(hris_sync::Column::OrganisationId.eq(self.organisation_id))
            .filter(hris_sync::Column::ConnectionId.eq(connection_id))
            .filter(hris_sync::Column::State.is_in(["queued", "running"]))
            .one(self.conn)
            .await?
            .map(|m| from_row(m).map(|(s, _)| s))
            .transpose()
    }

    /// Appends changes to a sync's diff, numbered from `first_seq`.
    pub async fn insert_sync_changes(&self, sync_id: Uuid, first_seq: i32, changes: &[SyncChange]) -> StoreResult<()> {
        let mut seq = first_seq;
        for chunk in changes.chunks(1000) {
            let mut rows = Vec::with_capacity(chunk.len());
            for change in chunk {
                rows.push(hris_sync_change::ActiveModel {
                    sync_id: Set(sync_id),
                    seq: Set(seq),
                    organisation_id: Set(self.organisation_id),
                    kind: Set(change.kind().into()),
                    doc: Set(encode(change)?),
                });
                seq += 1;
            }
            if !rows.is_empty() {
                hris_sync_change::Entity::insert_many(rows)
                    .exec_without_returning(self.conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// One page of a sync's diff in order, after `after`, optionally of one kind.
    pub async fn sync_changes(
        &self,
        sync_id: Uuid,
        kind: Option<&str>,
        after: Option<i32>,
        limit: u64,
    ) -> StoreResult<Vec<(i32, SyncChange)>> {
        let mut query = hris_sync_change::Entity::find()
            .filter(hris_sync_change::Column::OrganisationId.eq(self.organisation_id))
            .filter(hris_sync_change::Column::SyncId.eq(sync_id));
        if let Some(kind) = kind {
            query = query.filter(hris_sync_change::Column::Kind.eq(kind));
        }
        if let Some(after) = after {
            query = query.filter(hris_sync_change::Column::Seq.gt(after));
        }
        query
            .order_by_asc(hris_sync_change::Column::Seq)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|m| {
                let change = serde_json::from_value(m.doc)
                    .map_err(|e| StoreError::Corrupt(format!("hris sync {} change {}: {e}", m.sync_id, m.seq)))?;
                Ok((m.seq, change))
            })
            .collect()
    }
}

impl Db {
    /// Syncs to run: queued ones, and running ones whose lease ran out (their instance stopped): (organisation,
    /// sync).
    pub async fn hris_syncs_to_run(&self, now: DateTime<Utc>, limit: u64) -> StoreResult<Vec<(Uuid, Uuid)>> {
        Ok(hris_sync::Entity::find()
            .select_only()
            .column(hris_sync::Column::OrganisationId)
            .column(hris_sync::Column::Id)
            .filter(
                Condition::any().add(hris_sync::Column::State.eq("queued")).add(
                    Condition::all()
                        .add(hris_sync::Column::State.eq("running"))
                        .add(hris_sync::Column::LeaseUntil.lt(now)),
                ),
            )
            .order_by_asc(hris_sync::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.read)
            .await?)
    }

    /// Every connection with a schedule, of every organisation: (organisation, connection).
    pub async fn scheduled_hris_connections(&self) -> StoreResult<Vec<(Uuid, HrisConnection)>> {
        let rows = hris_connection::Entity::find()
            .order_by_asc(hris_connection::Column::Id)
            .all(&self.read)
            .await?;
        let mut out = Vec::new();
        for m in rows {
            let organisation_id = m.organisation_id;
            let connection: HrisConnection = decode("hris connection", m.id, m.doc, m.version)?;
            if connection.schedule.is_some() && connection.enabled {
                out.push((organisation_id, connection));
            }
        }
        Ok(out)
    }
}
