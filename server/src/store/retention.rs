//! Retention: the organisation's policy row (which also carries the claim of a housekeeping round) and the pruning
//! each period asks for.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use super::entities::{
    data_retention, event, hris_sync, hris_sync_change, learning, note, organisation, pair, participant,
    plugin_invocation, programme, webhook_delivery,
};
use super::{Db, Scope, StoreError, StoreResult};
use crate::domain::retention::RetentionPolicy;

impl<C: ConnectionTrait> Scope<'_, C> {
    /// The policy the organisation set, with when it was set and last applied; `None` while it uses the defaults.
    pub async fn retention_policy(
        &self,
    ) -> StoreResult<Option<(RetentionPolicy, DateTime<Utc>, Option<DateTime<Utc>>)>> {
        let Some(row) = data_retention::Entity::find_by_id(self.organisation_id)
            .one(self.conn)
            .await?
        else {
            return Ok(None);
        };
        if row.doc.is_null() {
            return Ok(None);
        }
        let policy = serde_json::from_value(row.doc)
            .map_err(|e| StoreError::Corrupt(format!("retention policy of {}: {e}", self.organisation_id)))?;
        Ok(Some((policy, row.updated_at, row.applied_at)))
    }

    pub async fn save_retention_policy(&self, policy: &RetentionPolicy, now: DateTime<Utc>) -> StoreResult<()> {
        let doc = serde_json::to_value(policy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let existing = data_retention::Entity::find_by_id(self.organisation_id)
            .one(self.conn)
            .await?;
        match existing {
            Some(row) => {
                data_retention::Entity::update_many()
                    .col_expr(data_retention::Column::Doc, Expr::value(doc))
                    .col_expr(data_retention::Column::Version, Expr::value(row.version + 1))
                    .col_expr(data_retention::Column::UpdatedAt, Expr::value(now))
                    .filter(data_retention::Column::OrganisationId.eq(self.organisation_id))
                    .exec(self.conn)
                    .await?;
            }
            None => {
                data_retention::Entity::insert(data_retention::ActiveModel {
                    organisation_id: Set(self.organisation_id),
                    doc: Set(doc),
                    version: Set(1),
                    updated_at: Set(now),
                    applied_at: Set(None),
                })
                .exec_without_returning(self.conn)
                .await?;
            }
        }
        Ok(())
    }

    pub async fn mark_retention_applied(&self, now: DateTime<Utc>) -> StoreResult<()> {
        data_retention::Entity::update_many()
            .col_expr(data_retention::Column::AppliedAt, Expr::value(now))
            .filter(data_retention::Column::OrganisationId.eq(self.organisation_id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Deletes events that occurred before `before`, except those with a delivery still due.
    pub async fn prune_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let due = Query::select()
            .column(webhook_delivery::Column::EventId)
            .from(webhook_delivery::Entity)
            .and_where(webhook_delivery::Column::OrganisationId.eq(self.organisation_id))
            .and_where(webhook_delivery::Column::Status.eq("pending"))
            .to_owned();
        Ok(event::Entity::delete_many()
            .filter(event::Column::OrganisationId.eq(self.organisation_id))
            .filter(event::Column::OccurredAt.lt(before))
            .filter(event::Column::Id.not_in_subquery(due))
            .exec(self.conn)
            .await?
            .rows_affected)
    }

    /// Deletes the notes and learnings of programmes archived before `before`; (notes, learnings).
    pub async fn prune_journal_of_archived(&self, before: DateTime<Utc>) -> StoreResult<(u64, u64)> {
        let programmes: Vec<Uuid> = programme::Entity::find()
            .select_only()
            .column(programme::Column::Id)
            .filter(programme::Column::OrganisationId.eq(self.organisation_id))
            .filter(programme::Column::State.eq("archived"))
            .filter(programme::Column::UpdatedAt.lt(before))
            .into_tuple()
            .all(self.conn)
            .await?;
        if programmes.is_empty() {
            return Ok((0, 0));
        }
        let pairs: Vec<Uuid> = pair::Entity::find()
            .select_only()
            .column(pair::Column::Id)
            .filter(pair::Column::OrganisationId.eq(self.organisation_id))
            .filter(pair::Column::ProgrammeId.is_in(programmes.iter().copied()))
            .into_tuple()
            .all(self.conn)
            .await?;
        let mut notes = 0;
        for chunk in pairs.chunks(500) {
            notes += note::Entity::delete_many()
                .filter(note::Column::OrganisationId.eq(self.organisation_id))
                .filter(note::Column::PairId.is_in(chunk.iter().copied()))
                .exec(self.conn)
                .await?
                .rows_affected;
        }
        let learnings = learning::Entity::delete_many()
            .filter(learning::Column::OrganisationId.eq(self.organisation_id))
            .filter(learning::Column::ProgrammeId.is_in(programmes.iter().copied()))
            .exec(self.conn)
            .await?
            .rows_affected;
        Ok((notes, learnings))
    }

    pub async fn prune_invocations(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(plugin_invocation::Entity::delete_many()
            .filter(plugin_invocation::Column::OrganisationId.eq(self.organisation_id))
            .filter(plugin_invocation::Column::CreatedAt.lt(before))
            .exec(self.conn)
            .await?
            .rows_affected)
    }

    /// Deletes the diffs of syncs last touched before `before`.
    pub async fn prune_sync_changes(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let old = Query::select()
            .column(hris_sync::Column::Id)
            .from(hris_sync::Entity)
            .and_where(hris_sync::Column::OrganisationId.eq(self.organisation_id))
            .and_where(hris_sync::Column::UpdatedAt.lt(before))
            .and_where(hris_sync::Column::State.is_in(["completed", "failed"]))
            .to_owned();
        Ok(hris_sync_change::Entity::delete_many()
            .filter(hris_sync_change::Column::OrganisationId.eq(self.organisation_id))
            .filter(hris_sync_change::Column::SyncId.in_subquery(old))
            .exec(self.conn)
            .await?
            .rows_affected)
    }

    /// Participants who left before `before` and are not yet erased.
    pub async fn leavers_before(&self, before: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        Ok(participant::Entity::find()
            .select_only()
            .column(participant::Column::Id)
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::Active.eq(false))
            .filter(participant::Column::ErasedAt.is_null())
            .filter(participant::Column::LeftAt.lt(before))
            .into_tuple()
            .all(self.conn)
            .await?)
    }
}

impl Db {
    pub async fn organisation_ids(&self) -> StoreResult<Vec<Uuid>> {
        Ok(organisation::Entity::find()
            .select_only()
            .column(organisation::Column::Id)
            .into_tuple()
            .all(&self.read)
            .await?)
    }

    /// Claims the organisation's retention round: true for the one instance that moved `applied_at` from before
    /// `stale` (or from never) to `now`. An organisation on the defaults gets a row holding `null` for its policy.
    pub async fn claim_retention_round(
        &self,
        organisation_id: Uuid,
        now: DateTime<Utc>,
        stale: DateTime<Utc>,
    ) -> StoreResult<bool> {
        if data_retention::Entity::find_by_id(organisation_id)
            .one(&self.write)
            .await?
            .is_none()
        {
            // Another instance may insert it first; its row serves as well.
            let _ = data_retention::Entity::insert(data_retention::ActiveModel {
                organisation_id: Set(organisation_id),
                doc: Set(Value::Null),
                version: Set(0),
                updated_at: Set(now),
                applied_at: Set(None),
            })
            .exec_without_returning(&self.write)
            .await;
        }
        Ok(data_retention::Entity::update_many()
            .col_expr(data_retention::Column::AppliedAt, Expr::value(now))
            .filter(data_retention::Column::OrganisationId.eq(organisation_id))
            .filter(
                Condition::any()
                    .add(data_retention::Column::AppliedAt.is_null())
                    .add(data_retention::Column::AppliedAt.lt(stale)),
            )
            .exec(&self.write)
            .await?
            .rows_affected
            == 1)
    }
}
