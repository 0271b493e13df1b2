//! The audit trail's rows: appending a batch under the organisation's chain head (locked, so instances append one
//! after another), reading the chain back for verification, and the tenant's filtered listing.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use super::entities::{audit_entry, audit_head};
use super::{Db, Scope, StoreError, StoreResult};
use crate::domain::audit::{AuditEntry, AuditRecord, GENESIS, link};

fn entry_from(m: audit_entry::Model) -> StoreResult<AuditEntry> {
    let mut entry: AuditEntry =
        serde_json::from_value(m.doc).map_err(|e| StoreError::Corrupt(format!("audit entry {}: {e}", m.id)))?;
    // The chain columns are the truth; the document holds the content.
    entry.seq = m.seq;
    entry.prev_hash = m.prev_hash;
    entry.hash = m.hash;
    Ok(entry)
}

/// Filters of the audit log listing.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub resource_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Db {
    /// Appends records to the organisation's chain in one transaction.
    pub async fn append_audit(&self, organisation_id: Uuid, records: &[AuditRecord]) -> StoreResult<()> {
        let txn = self.write.begin().await?;
        let existing = audit_head::Entity::find_by_id(organisation_id)
            .lock_exclusive()
            .one(&txn)
            .await?;
        let (mut seq, mut hash) = match existing {
            Some(head) => (head.seq, head.hash),
            None => {
                audit_head::Entity::insert(audit_head::ActiveModel {
                    organisation_id: Set(organisation_id),
                    seq: Set(0),
                    hash: Set(GENESIS.into()),
                })
                .exec_without_returning(&txn)
                .await?;
                (0, GENESIS.to_string())
            }
        };
        let mut rows = Vec::with_capacity(records.len());
        for record in records {
            let entry = link(record, seq, &hash);
            let doc = serde_json::to_value(&entry)
                .map_err(|e| StoreError::Corrupt(format!("cannot encode an audit entry: {e}")))?;
            seq = entry.seq;
            hash = entry.hash.clone();
            rows.push(audit_entry::ActiveModel {
                id: Set(entry.id),
                organisation_id: Set(organisation_id),
                seq: Set(entry.seq),
                at: Set(entry.at),
                doc: Set(doc),
                actor_id: Set(entry.actor.subject),
                subject_id: Set(entry.subject_id),
                resource_id: Set(entry.resource_id),
                prev_hash: Set(entry.prev_hash),
                hash: Set(entry.hash),
            });
        }
        // Many rows per statement: under a read-heavy load the trail is written in a few statements a second, not
        // one per request (10 columns × 100 rows stays far inside every backend's bound-parameter limit).
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(100));
            audit_entry::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
            rows = rest;
        }
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, sea_orm::sea_query::Expr::value(seq))
            .col_expr(audit_head::Column::Hash, sea_orm::sea_query::Expr::value(hash))
            .filter(audit_head::Column::OrganisationId.eq(organisation_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Every organisation's chain head: (organisation, seq, hash).
    pub async fn audit_heads(&self) -> StoreResult<Vec<(Uuid, i64, String)>> {
        Ok(audit_head::Entity::find()
            .all(&self.read)
            .await?
            .into_iter()
            .map(|h| (h.organisation_id, h.seq, h.hash))
            .collect())
    }

    /// One organisation's whole chain, in order.
    pub async fn audit_chain(&self, organisation_id: Uuid) -> StoreResult<Vec<AuditEntry>> {
        audit_entry::Entity::find()
            .filter(audit_entry::Column::OrganisationId.eq(organisation_id))
            .order_by_asc(audit_entry::Column::Seq)
            .all(&self.read)
            .await?
            .into_iter()
            .map(entry_from)
            .collect()
    }
}

impl<C: ConnectionTrait> Scope<'_, C> {
    /// The tenant's audit entries in the order they were written, after the cursor `after` (an entry id).
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut query =
            audit_entry::Entity::find().filter(audit_entry::Column::OrganisationId.eq(self.organisation_id));
        if let Some(actor) = &filter.actor {
            query = query.filter(audit_entry::Column::ActorId.eq(actor.as_str()));
        }
        if let Some(id) = filter.resource_id {
            query = query.filter(
                Condition::any()
                    .add(audit_entry::Column::ResourceId.eq(id))
                    .add(audit_entry::Column::SubjectId.eq(id)),
            );
        }
        if let Some(since) = filter.since {
            query = query.filter(audit_entry::Column::At.gte(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_entry::Column::At.lt(until));
        }
        if let Some(after) = after {
            // Entries are listed in chain order; the cursor is the last entry's id.
            let seq: Option<i64> = audit_entry::Entity::find_by_id(after)
                .filter(audit_entry::Column::OrganisationId.eq(self.organisation_id))
                .select_only()
                .column(audit_entry::Column::Seq)
                .into_tuple()
                .one(self.conn)
                .await?;
            query = query.filter(audit_entry::Column::Seq.gt(seq.unwrap_or(i64::MAX)));
        }
        query
            .order_by_asc(audit_entry::Column::Seq)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(entry_from)
            .collect()
    }

    /// The entries about one participant's data (for their export).
    pub async fn audit_of_subject(&self, participant_id: Uuid) -> StoreResult<Vec<AuditEntry>> {
        audit_entry::Entity::find()
            .filter(audit_entry::Column::OrganisationId.eq(self.organisation_id))
            .filter(audit_entry::Column::SubjectId.eq(participant_id))
            .order_by_asc(audit_entry::Column::Seq)
            .all(self.conn)
            .await?
            .into_iter()
            .map(entry_from)
            .collect()
    }

    /// Deletes entries older than `before` (retention); the remaining chain still verifies from its first entry.
    pub async fn prune_audit(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(audit_entry::Entity::delete_many()
            .filter(audit_entry::Column::OrganisationId.eq(self.organisation_id))
            .filter(audit_entry::Column::At.lt(before))
            .exec(self.conn)
            .await?
            .rows_affected)
    }
}
