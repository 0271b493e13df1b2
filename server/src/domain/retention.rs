//! Retention: each organisation says how long it keeps what (GDPR Art. 5(1)(e), storage limitation), and a
//! housekeeping round applies it — once per organisation per round however many instances run, because an instance
//! must first claim the organisation's policy row. What a round removed is told by `data_retention.applied`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DomainResult, Violations};
use crate::events::{self, EventPayload};
use crate::store::{self, Db, Scope};

/// The longest period a policy may name (100 years).
const MAX_DAYS: u32 = 36_500;

/// An organisation's retention policy. A period of `null` keeps that data until it is erased by hand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "notes_after_archive_days": 365, "erase_leavers_after_days": 730, "events_days": 365,
    "invocations_days": 90, "sync_changes_days": 90, "audit_days": null
}))]
pub struct RetentionPolicy {
    /// Notes and learnings are deleted this many days after their programme is archived.
    #[schema(maximum = 36500)]
    pub notes_after_archive_days: Option<u32>,
    /// Participants who left (are inactive) are erased this many days after leaving (`left_at`).
    #[schema(maximum = 36500)]
    pub erase_leavers_after_days: Option<u32>,
    /// Events — and so what a replay can re-send — are kept this many days (events whose deliveries are still due
    /// are kept until delivered or given up).
    #[schema(maximum = 36500)]
    pub events_days: Option<u32>,
    /// Plugin invocation records are kept this many days.
    #[schema(maximum = 36500)]
    pub invocations_days: Option<u32>,
    /// The diffs of HRIS syncs are kept this many days after the sync.
    #[schema(maximum = 36500)]
    pub sync_changes_days: Option<u32>,
    /// Audit entries are kept this many days (the chain then verifies from the oldest kept entry).
    #[schema(maximum = 36500)]
    pub audit_days: Option<u32>,
}

impl Default for RetentionPolicy {
    /// The defaults (stated in the README): what a programme wrote goes a year after it is archived, events after
    /// a year, invocation records and sync diffs after 90 days; leavers and the audit trail stay until the
    /// organisation sets a period (erasure is irreversible, and audit periods are set by law, not by us).
    fn default() -> Self {
        RetentionPolicy {
            notes_after_archive_days: Some(365),
            erase_leavers_after_days: None,
            events_days: Some(365),
            invocations_days: Some(90),
            sync_changes_days: Some(90),
            audit_days: None,
        }
    }
}

impl RetentionPolicy {
    pub fn validate(&self) -> DomainResult<()> {
        let mut v = Violations::default();
        for (field, days) in [
            ("notes_after_archive_days", self.notes_after_archive_days),
            ("erase_leavers_after_days", self.erase_leavers_after_days),
            ("events_days", self.events_days),
            ("invocations_days", self.invocations_days),
            ("sync_changes_days", self.sync_changes_days),
            ("audit_days", self.audit_days),
        ] {
            if days.is_some_and(|d| d > MAX_DAYS) {
                v.add(field, "out_of_range", format!("must be at most {MAX_DAYS} days"));
            }
        }
        v.into_result()
    }
}

/// The cut-off for a period: what is older than this goes.
pub fn cutoff(now: DateTime<Utc>, days: Option<u32>) -> Option<DateTime<Utc>> {
    days.map(|d| now - Duration::days(i64::from(d)))
}

/// The `data_retention.updated` payload and the answer of `GET/PUT /v1/data-retention`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionSettings {
    pub policy: RetentionPolicy,
    /// Whether these are the defaults (the organisation never set a policy).
    pub default: bool,
    /// When a housekeeping round last applied the policy.
    pub applied_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What one application of the policy removed: the `data_retention.applied` payload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionReport {
    pub applied_at: DateTime<Utc>,
    /// Rows deleted, by table.
    pub removed: BTreeMap<String, u64>,
    /// Participants erased because they left longer ago than the policy keeps leavers.
    pub erased: Vec<Uuid>,
}

pub async fn settings<C: ConnectionTrait>(scope: &Scope<'_, C>) -> DomainResult<RetentionSettings> {
    Ok(match scope.retention_policy().await? {
        Some((policy, updated_at, applied_at)) => RetentionSettings {
            policy,
            default: false,
            applied_at,
            updated_at: Some(updated_at),
        },
        None => RetentionSettings {
            policy: RetentionPolicy::default(),
            default: true,
            applied_at: None,
            updated_at: None,
        },
    })
}

/// Replaces the policy; emits `data_retention.updated`.
pub async fn set<C: ConnectionTrait>(scope: &Scope<'_, C>, policy: RetentionPolicy) -> DomainResult<RetentionSettings> {
    policy.validate()?;
    scope.save_retention_policy(&policy, store::now()).await?;
    let saved = settings(scope).await?;
    events::append(scope, EventPayload::DataRetentionUpdated(saved.clone())).await?;
    Ok(saved)
}

/// Applies the organisation's policy now. Each step commits on its own (a leaver's erasure with its event); the
/// report's event closes the round. The caller settles the erasures (`Db::settle_erasure`) afterwards.
pub async fn apply(
    db: &Db,
    organisation_id: Uuid,
    digester: &crate::secrets::Digester,
) -> DomainResult<RetentionReport> {
    let now = store::now();
    let policy = settings(&Scope::new(db.reader(), organisation_id)).await?.policy;
    let mut report = RetentionReport {
        applied_at: now,
        ..Default::default()
    };
    let txn = db.begin().await?;
    let scope = Scope::new(&txn, organisation_id);
    let mut removed = |table: &str, n: u64| {
        if n > 0 {
            *report.removed.entry(table.to_string()).or_default() += n;
        }
    };
    if let Some(before) = cutoff(now, policy.events_days) {
        removed("events", scope.prune_events(before).await?);
    }
    if let Some(before) = cutoff(now, policy.notes_after_archive_days) {
        let (notes, learnings) = scope.prune_journal_of_archived(before).await?;
        removed("notes", notes);
        removed("learnings", learnings);
    }
    if let Some(before) = cutoff(now, policy.invocations_days) {
        removed("plugin_invocations", scope.prune_invocations(before).await?);
    }
    if let Some(before) = cutoff(now, policy.sync_changes_days) {
        removed("hris_sync_changes", scope.prune_sync_changes(before).await?);
    }
    if let Some(before) = cutoff(now, policy.audit_days) {
        removed("audit_log", scope.prune_audit(before).await?);
    }
    txn.commit().await.map_err(store::StoreError::from)?;
    if let Some(before) = cutoff(now, policy.erase_leavers_after_days) {
        let leavers = Scope::new(db.reader(), organisation_id).leavers_before(before).await?;
        for id in leavers {
            let txn = db.begin().await?;
            super::privacy::erase(&Scope::new(&txn, organisation_id), id, "retention", digester).await?;
            txn.commit().await.map_err(store::StoreError::from)?;
            report.erased.push(id);
        }
    }
    let txn = db.begin().await?;
    let scope = Scope::new(&txn, organisation_id);
    scope.mark_retention_applied(now).await?;
    if !report.removed.is_empty() || !report.erased.is_empty() {
        events::append(&scope, EventPayload::DataRetentionApplied(report.clone())).await?;
    }
    txn.commit().await.map_err(store::StoreError::from)?;
    Ok(report)
}

/// One housekeeping round: every organisation whose policy was not applied in the last `every`, claimed so that one
/// instance applies it. Returns how many organisations it applied.
pub async fn apply_due(db: &Db, sealer: &crate::secrets::SecretBox, every: Duration) -> DomainResult<usize> {
    let now = store::now();
    let mut applied = 0;
    let digester = db.suppression_digester(sealer).await?;
    for organisation_id in db.organisation_ids().await? {
        if !db.claim_retention_round(organisation_id, now, now - every).await? {
            continue;
        }
        match apply(db, organisation_id, &digester).await {
            Ok(_) => applied += 1,
            Err(e) => tracing::warn!(error = %e, %organisation_id, "applying the retention policy failed"),
        }
    }
    if applied > 0 {
        db.settle_erasure().await?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_a_cutoff_and_null_keeps() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(cutoff(now, None), None);
        assert_eq!(cutoff(now, Some(0)), Some(now));
        assert_eq!(cutoff(now, Some(2)), Some(now - Duration::days(2)));
        let too_long = RetentionPolicy {
            events_days: Some(MAX_DAYS + 1),
            ..RetentionPolicy::default()
        };
        assert!(too_long.validate().is_err());
        assert!(RetentionPolicy::default().validate().is_ok());
    }
}
