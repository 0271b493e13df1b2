//! HRIS syncs: reading an organisation's directory through its connector and bringing its participants in line.
//!
//! A sync is queued (by the API or the connection's schedule), then run by whichever instance claims it: the
//! connector fetches the directory page by page on the blocking pool (only to its allowed hosts, within each
//! invocation's limits and the sync's total time budget), [`super::hris_plan`] computes the diff, and — unless it
//! is a dry run — the diff is applied in pages of [`PAGE`] participants, each page one transaction with its
//! `participant.*` and `pair.paused` events, its diff entries and the sync's progress. A sync whose instance stops
//! is claimed again when its lease runs out and computes the diff afresh: what was applied no longer differs, so
//! nothing is applied twice. The same sync run twice changes nothing the second time.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::hris_connections::HrisConnection;
use super::hris_plan::{self, Op, OpKind, SyncChange};
use super::participants::Participant;
use super::plugins::{self, Plugin, PluginState, Purpose};
use super::{DomainError, DomainResult};
use crate::config::Config;
use crate::events::{self, EventPayload};
use crate::plugins::connector::{ConnectorInput, ConnectorPlugin, EmployeeDoc};
use crate::plugins::{Host, Kind, Network};
use crate::secrets::SecretBox;
use crate::store::{self, Db, Scope, StoreError};

/// Participants written per transaction.
pub const PAGE: usize = 500;
/// Pages a directory may have (a cursor loop stops long before).
const MAX_PAGES: usize = 10_000;
/// Records one sync may read.
const MAX_RECORDS: usize = 500_000;
/// Record errors kept in the report itself (all are in the diff).
const REPORT_ERRORS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Queued,
    Running,
    Completed,
    Failed,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Queued => "queued",
            SyncState::Running => "running",
            SyncState::Completed => "completed",
            SyncState::Failed => "failed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncTrigger {
    Api,
    Schedule,
}

/// What a sync found and did. In a dry run the counts are what it would do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncCounts {
    pub pages: u32,
    /// Records the directory listed.
    pub records: u32,
    pub created: u32,
    pub updated: u32,
    pub reactivated: u32,
    pub deactivated: u32,
    pub manager_links: u32,
    pub pairs_paused: u32,
    pub unchanged: u32,
    /// Inactive records of people who never were participants.
    pub skipped: u32,
    /// Records in error (see the diff's `error` entries).
    pub errors: u32,
    /// Entries of the diff.
    pub changes: u32,
    /// Records of erased people (their email or external id is on the suppression list): not created again.
    #[serde(default)]
    pub suppressed: u32,
}

/// The connector's use of its sandbox during the sync.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncPluginUsage {
    pub invocations: u32,
    pub duration_ms: f64,
    pub fuel_used: u64,
}

/// One run of a connection: its state and its report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9d00-7000-8000-0000000000d1",
    "connection_id": "01936b2e-9d00-7000-8000-0000000000c1",
    "connector": "http-json-hris@0.1.0",
    "dry_run": false,
    "trigger": "api",
    "state": "completed",
    "scheduled_for": null,
    "counts": {"pages": 40, "records": 20000, "created": 12, "updated": 31, "reactivated": 0, "deactivated": 4,
               "manager_links": 7, "pairs_paused": 1, "unchanged": 19950, "skipped": 2, "errors": 1, "changes": 55},
    "errors": [{"kind": "error", "external_id": "E-2041", "email": "not-an-email", "skipped": true,
                "errors": [{"field": "email", "code": "invalid_format", "message": "is not a valid email address"}]}],
    "errors_truncated": false,
    "error": null,
    "plugin": {"invocations": 40, "duration_ms": 2210.4, "fuel_used": 912000000},
    "attempts": 1,
    "started_at": "2026-11-23T02:00:01Z",
    "finished_at": "2026-11-23T02:00:06Z",
    "duration_ms": 5012.7,
    "version": 44,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:06Z"
}))]
pub struct HrisSync {
    pub id: Uuid,
    pub connection_id: Uuid,
    /// The connector release it ran.
    pub connector: String,
    /// A dry run computes the diff and applies nothing.
    pub dry_run: bool,
    pub trigger: SyncTrigger,
    pub state: SyncState,
    /// The schedule slot it ran for (`schedule` only).
    pub scheduled_for: Option<DateTime<Utc>>,
    pub counts: SyncCounts,
    /// The first record errors (all are in the diff, `kind=error`).
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<SyncChange>,
    pub errors_truncated: bool,
    /// Why the sync failed (`failed` only): the connector's error, a limit, or the time budget.
    pub error: Option<String>,
    pub plugin: SyncPluginUsage,
    /// Runs so far: more than one when an instance stopped and another took over.
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<f64>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl HrisSync {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, SyncState::Completed | SyncState::Failed)
    }
}

/// What running a sync needs from the instance.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub host: Arc<Host>,
    pub config: Arc<Config>,
    pub secrets: Arc<SecretBox>,
    pub wake: crate::webhooks::Wake,
}

/// Queues a sync of the connection. One sync per connection at a time: another is a conflict.
pub async fn queue<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    connection_id: Uuid,
    dry_run: bool,
    trigger: SyncTrigger,
    scheduled_for: Option<DateTime<Utc>>,
) -> DomainResult<HrisSync> {
    // Locking the connection serialises two callers racing to start a sync.
    let (connection, _) = scope
        .lock_hris_connection(connection_id)
        .await?
        .ok_or(DomainError::NotFound("HRIS connection"))?;
    if !connection.enabled && trigger == SyncTrigger::Schedule {
        return Err(DomainError::Conflict {
            code: "connection_disabled",
            message: "the connection is disabled".into(),
        });
    }
    if let Some(running) = scope.unfinished_hris_sync(connection_id).await? {
        return Err(DomainError::Conflict {
            code: "sync_in_progress",
            message: format!("sync {} of this connection has not finished yet", running.id),
        });
    }
    let now = store::now();
    let sync = HrisSync {
        id: store::new_id(),
        connection_id,
        connector: connection.connector.clone(),
        dry_run,
        trigger,
        state: SyncState::Queued,
        scheduled_for,
        counts: SyncCounts::default(),
        errors: Vec::new(),
        errors_truncated: false,
        error: None,
        plugin: SyncPluginUsage::default(),
        attempts: 0,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    scope.insert_hris_sync(&sync).await?;
    Ok(sync)
}

pub async fn get<C: ConnectionTrait>(scope: &Scope<'_, C>, connection_id: Uuid, id: Uuid) -> DomainResult<HrisSync> {
    scope
        .hris_sync(id, false)
        .await?
        .map(|(s, _)| s)
        .filter(|s| s.connection_id == connection_id)
        .ok_or(DomainError::NotFound("HRIS sync"))
}

/// A connection's syncs, newest first.
pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    connection_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<HrisSync>, bool)> {
    super::hris_connections::get(scope, connection_id).await?;
    Ok(super::page(
        scope.hris_syncs(connection_id, before, limit + 1).await?,
        limit,
    ))
}

/// One page of a sync's diff.
pub async fn changes<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    connection_id: Uuid,
    id: Uuid,
    kind: Option<&str>,
    after: Option<i32>,
    limit: u64,
) -> DomainResult<(Vec<(i32, SyncChange)>, bool)> {
    get(scope, connection_id, id).await?;
    check_change_kind(kind)?;
    Ok(super::page(
        scope.sync_changes(id, kind, after, limit + 1).await?,
        limit,
    ))
}

fn stopped(e: tokio::task::JoinError) -> DomainError {
    DomainError::Store(StoreError::Corrupt(format!("a plugin task stopped: {e}")))
}

/// A claimed sync and the lease that guards its writes.
struct Claim {
    sync: HrisSync,
    organisation_id: Uuid,
    /// How long the claim holds without news from this instance (each save renews it).
    lease: chrono::Duration,
}

impl Claim {
    /// Saves the sync (and `work`, in the same transaction) if this instance still holds it.
    async fn save<F>(&mut self, db: &Db, finish: bool, work: F) -> DomainResult<()>
    where
        F: AsyncFnOnce(&Scope<'_, sea_orm::DatabaseTransaction>, &mut HrisSync) -> DomainResult<()>,
    {
        let txn = db.begin().await?;
        let scope = Scope::new(&txn, self.organisation_id);
        let mut next = self.sync.clone();
        work(&scope, &mut next).await?;
        next.version += 1;
        next.updated_at = store::now();
        let lease = (!finish).then(|| store::now() + self.lease);
        if !scope.update_hris_sync(&next, lease, self.sync.version).await? {
            return Err(DomainError::Conflict {
                code: "sync_taken_over",
                message: "another instance took this sync over".into(),
            });
        }
        txn.commit().await.map_err(StoreError::from)?;
        self.sync = next;
        Ok(())
    }
}

/// Runs the sync if it is queued, or running with its lease run out; answers the sync as it stands afterwards. Its
/// span starts here, at the call, so a sync a request started is a child of that request's span.
pub fn run(
    services: &Services,
    organisation_id: Uuid,
    id: Uuid,
) -> impl std::future::Future<Output = DomainResult<HrisSync>> + '_ {
    use tracing::Instrument;
    let span = tracing::info_span!("hris_sync", %organisation_id, sync_id = %id);
    run_claimed(services, organisation_id, id).instrument(span)
}

async fn run_claimed(services: &Services, organisation_id: Uuid, id: Uuid) -> DomainResult<HrisSync> {
    let now = store::now();
    let txn = services.db.begin().await?;
    let scope = Scope::new(&txn, organisation_id);
    let Some((current, lease)) = scope.hris_sync(id, true).await? else {
        return Err(DomainError::NotFound("HRIS sync"));
    };
    let claimable =
        current.state == SyncState::Queued || (current.state == SyncState::Running && lease.is_none_or(|l| l < now));
    if !claimable {
        return Ok(current);
    }
    let mut sync = current.clone();
    sync.state = SyncState::Running;
    sync.attempts += 1;
    sync.started_at.get_or_insert(now);
    sync.version += 1;
    sync.updated_at = now;
    let lease = chrono::Duration::seconds(services.config.hris_sync_lease_seconds as i64);
    if !scope
        .update_hris_sync(&sync, Some(now + lease), current.version)
        .await?
    {
        return Ok(current);
    }
    txn.commit().await.map_err(StoreError::from)?;
    let mut claim = Claim {
        sync,
        organisation_id,
        lease,
    };
    let outcome = execute(services, &mut claim).await;
    let result = match outcome {
        Ok(()) => Ok(claim.sync.clone()),
        Err(Failure::Sync(message)) => {
            fail(services, &mut claim, message).await?;
            Ok(claim.sync.clone())
        }
        Err(Failure::Domain(DomainError::Conflict {
            code: "sync_taken_over",
            ..
        })) => {
            // Another instance runs it now; its report is the one that counts.
            let reader = Scope::new(services.db.reader(), organisation_id);
            get(&reader, claim.sync.connection_id, id).await
        }
        Err(Failure::Domain(e)) => {
            let message = format!("the sync stopped: {e}");
            fail(services, &mut claim, message).await?;
            Ok(claim.sync.clone())
        }
    };
    services.wake.wake();
    result
}

/// Why a sync did not complete: its own failure (reported on it), or the store's.
enum Failure {
    Sync(String),
    Domain(DomainError),
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        Failure::Domain(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Domain(e.into())
    }
}

async fn fail(services: &Services, claim: &mut Claim, message: String) -> DomainResult<()> {
    tracing::warn!(sync = %claim.sync.id, error = %message, "an HRIS sync failed");
    claim
        .save(&services.db, true, async |scope, sync| {
            finish(sync, SyncState::Failed);
            sync.error = Some(message);
            events::append(scope, EventPayload::HrisSyncFailed(sync.clone())).await?;
            Ok(())
        })
        .await
}

fn finish(sync: &mut HrisSync, state: SyncState) {
    let now = store::now();
    sync.state = state;
    sync.finished_at = Some(now);
    sync.duration_ms = sync
        .started_at
        .map(|s| (now - s).num_microseconds().unwrap_or(0) as f64 / 1e3);
    crate::telemetry::metrics::hris_sync(state.as_str(), sync.started_at.map(|s| now - s));
}

/// The connector release a connection names, ready and of the right kind.
async fn connector<C: ConnectionTrait>(scope: &Scope<'_, C>, connection: &HrisConnection) -> Result<Plugin, Failure> {
    let plugin = match connection.connector.split_once('@') {
        Some((name, version)) => scope.plugin_by_reference(name, version).await?,
        None => None,
    };
    match plugin {
        Some(p) if p.state == PluginState::Ready && p.kind == Kind::HrisConnector => Ok(p),
        _ => Err(Failure::Sync(format!(
            "the connector {} is not a ready hris_connector release of this organisation",
            connection.connector
        ))),
    }
}

async fn execute(services: &Services, claim: &mut Claim) -> Result<(), Failure> {
    let organisation_id = claim.organisation_id;
    let reader = Scope::new(services.db.reader(), organisation_id);
    let (connection, sealed) = reader
        .hris_connection_sealed(claim.sync.connection_id)
        .await?
        .ok_or_else(|| Failure::Sync("the connection was deleted".into()))?;
    let plugin = connector(&reader, &connection).await?;
    let secrets: BTreeMap<String, String> = match sealed {
        Some(s) => services
            .secrets
            .open(&s)
            .map_err(|e| Failure::Sync(format!("the connection's secrets cannot be opened: {e}")))?,
        None => BTreeMap::new(),
    };
    let network = Network {
        allowed_hosts: plugin.allowed_hosts.clone(),
        secrets: secrets.into_iter().collect(),
    };
    let limits = plugins::effective_limits(&reader, &services.config, &plugin).await?;
    let component = plugins::loaded(&reader, &services.host, &plugin)
        .await
        .map_err(|e| Failure::Sync(e.to_string()))?;
    let connector = Arc::new(
        ConnectorPlugin::new(
            &services.host,
            &component,
            limits,
            connection.config.to_string(),
            network,
        )
        .map_err(|e| Failure::Sync(format!("the connector cannot be prepared: {e}")))?,
    );

    // Read the whole directory first: leavers and managers need all of it.
    let budget = Duration::from_secs(services.config.hris_sync_budget_seconds);
    let started = Instant::now();
    let mut records: Vec<EmployeeDoc> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut seen = HashSet::new();
    let mut pages = 0u32;
    loop {
        if started.elapsed() > budget {
            return Err(Failure::Sync(format!(
                "the directory was not read within the sync's time budget of {} s ({pages} pages read)",
                budget.as_secs()
            )));
        }
        let (connector, input) = (connector.clone(), ConnectorInput { cursor: cursor.clone() });
        let (result, invocation) = tokio::task::spawn_blocking(move || connector.run(&input))
            .await
            .map_err(stopped)?;
        let usage = invocation.usage.clone();
        let sync_id = claim.sync.id;
        claim
            .save(&services.db, false, async |scope, sync| {
                plugins::record(scope, &plugin, Purpose::HrisSync, Some(sync_id), vec![invocation]).await?;
                sync.plugin.invocations += 1;
                sync.plugin.duration_ms += usage.duration_ms;
                sync.plugin.fuel_used += usage.fuel_used;
                Ok(())
            })
            .await?;
        let page = result.map_err(|e| {
            Failure::Sync(format!(
                "the connector failed on page {} ({}): {e}",
                pages + 1,
                e.outcome()
            ))
        })?;
        pages += 1;
        records.extend(page.employees);
        if records.len() > MAX_RECORDS {
            return Err(Failure::Sync(format!(
                "the directory lists more than {MAX_RECORDS} records"
            )));
        }
        match page.next_cursor {
            None => break,
            Some(next) => {
                if !seen.insert(next.clone()) || pages as usize >= MAX_PAGES {
                    return Err(Failure::Sync(format!(
                        "the connector returned the cursor {next:?} twice (or over {MAX_PAGES} pages): it would never finish"
                    )));
                }
                cursor = Some(next);
            }
        }
    }

    let existing = reader.all_participants().await?;
    let listed = records.len();
    let suppressed_records = drop_suppressed(&services.db, &services.secrets, &reader, &mut records, |r| r).await?;
    let mut plan = hris_plan::plan(existing, records);
    let leavers = plan.ops.iter().filter(|o| o.kind == OpKind::Deactivate).count();
    if listed == 0 && leavers > 0 {
        return Err(Failure::Sync(format!(
            "the directory listed nobody; refusing to deactivate {leavers} participants"
        )));
    }
    note_pairs_to_pause(&reader, &mut plan).await?;

    let mut counts = SyncCounts {
        pages,
        records: plan.records as u32 + suppressed_records,
        suppressed: suppressed_records,
        unchanged: plan.unchanged as u32,
        skipped: plan.skipped as u32,
        errors: plan.errors.len() as u32,
        ..claim.sync.counts.clone()
    };
    let dry_run = claim.sync.dry_run;
    if dry_run {
        for op in &plan.ops {
            tally(&mut counts, op, op.changes.iter().map(pairs_of).sum());
        }
    } else {
        for page in plan.ops.chunks(PAGE) {
            let mut applied_counts = counts.clone();
            claim
                .save(&services.db, false, async |scope, sync| {
                    apply(scope, page, sync.id, &mut applied_counts).await?;
                    sync.counts = applied_counts.clone();
                    Ok(())
                })
                .await?;
            counts = applied_counts;
        }
    }
    let errors = std::mem::take(&mut plan.errors);
    claim
        .save(&services.db, true, async |scope, sync| {
            let mut entries: Vec<SyncChange> = Vec::new();
            if dry_run {
                entries.extend(plan.ops.iter().flat_map(|o| o.changes.iter().cloned()));
            }
            entries.extend(errors.iter().cloned());
            scope
                .insert_sync_changes(sync.id, counts.changes as i32 + 1, &entries)
                .await?;
            counts.changes += entries.len() as u32;
            sync.counts = counts.clone();
            sync.errors = errors.iter().take(REPORT_ERRORS).cloned().collect();
            sync.errors_truncated = errors.len() > REPORT_ERRORS;
            finish(sync, SyncState::Completed);
            events::append(scope, EventPayload::HrisSyncCompleted(sync.clone())).await?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Leaves out the records of erased people — erased people stay erased: a record whose email or external id is on
/// the suppression list is not created again. Answers how many were left out. Each record is digested once.
pub(super) async fn drop_suppressed<T, C: ConnectionTrait>(
    db: &Db,
    sealer: &SecretBox,
    reader: &Scope<'_, C>,
    records: &mut Vec<T>,
    doc: impl Fn(&T) -> &EmployeeDoc,
) -> DomainResult<u32> {
    let digester = db.suppression_digester(sealer).await?;
    let keyed: Vec<[String; 2]> = records
        .iter()
        .map(|r| [digester.email(&doc(r).email), digester.external_id(&doc(r).external_id)])
        .collect();
    let all: Vec<String> = keyed.iter().flatten().cloned().collect();
    let suppressed = reader.suppressed(&all).await?;
    let before = records.len();
    let mut keyed = keyed.into_iter();
    records.retain(|_| {
        keyed
            .next()
            .is_none_or(|keys| keys.iter().all(|k| !suppressed.contains(k)))
    });
    Ok((before - records.len()) as u32)
}

/// Puts on each leaver's diff entry the active pairs that deactivating them pauses.
pub(super) async fn note_pairs_to_pause<C: ConnectionTrait>(
    reader: &Scope<'_, C>,
    plan: &mut hris_plan::Plan,
) -> DomainResult<()> {
    for op in &mut plan.ops {
        if op.kind == OpKind::Deactivate {
            let pairs = super::pairs::active_pairs_of(reader, op.next.id).await?;
            for change in &mut op.changes {
                if let SyncChange::Deactivate { pairs_to_pause, .. } = change {
                    *pairs_to_pause = pairs.clone();
                }
            }
        }
    }
    Ok(())
}

/// A diff's `kind` filter (a sync's or an import's), when it names a kind of entry.
pub fn check_change_kind(kind: Option<&str>) -> DomainResult<()> {
    match kind {
        Some(kind) if !["create", "update", "deactivate", "manager_link", "error"].contains(&kind) => {
            Err(DomainError::Invalid(vec![super::FieldError::new(
                "kind",
                "invalid_value",
                "one of create, update, deactivate, manager_link, error",
            )]))
        }
        _ => Ok(()),
    }
}

pub(super) fn pairs_of(change: &SyncChange) -> u32 {
    match change {
        SyncChange::Deactivate { pairs_to_pause, .. } => pairs_to_pause.len() as u32,
        _ => 0,
    }
}

pub(super) fn tally(counts: &mut SyncCounts, op: &Op, pairs_paused: u32) {
    match op.kind {
        OpKind::Create => counts.created += 1,
        OpKind::Update => {
            if op.changes.iter().any(|c| matches!(c, SyncChange::Update { .. })) {
                counts.updated += 1
            }
        }
        OpKind::Reactivate => counts.reactivated += 1,
        OpKind::Deactivate => counts.deactivated += 1,
    }
    if op.changes.iter().any(|c| matches!(c, SyncChange::ManagerLink { .. })) {
        counts.manager_links += 1;
    }
    counts.pairs_paused += pairs_paused;
}

/// Applies one page of the plan: participants written with their events, leavers' pairs paused, the diff entries
/// recorded under `run_id` (a sync's, or an import's). A participant changed by someone else since the directory
/// was compared is reported, not overwritten.
pub(super) async fn apply<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    page: &[Op],
    run_id: Uuid,
    counts: &mut SyncCounts,
) -> DomainResult<()> {
    let now = store::now();
    let mut created: Vec<Participant> = Vec::new();
    let mut events: Vec<EventPayload> = Vec::new();
    let mut entries: Vec<SyncChange> = Vec::new();
    for op in page {
        if op.kind == OpKind::Create {
            let mut p = op.next.clone();
            p.created_at = now;
            p.updated_at = now;
            p.settle_leaving(None, now);
            events.push(EventPayload::ParticipantCreated(p.clone()));
            entries.extend(op.changes.iter().cloned().map(|c| match c {
                SyncChange::Create {
                    external_id,
                    fields,
                    manager_external_id,
                    ..
                } => SyncChange::Create {
                    external_id,
                    participant_id: Some(p.id),
                    fields,
                    manager_external_id,
                },
                other => other,
            }));
            tally(counts, op, 0);
            created.push(p);
        }
    }
    scope.insert_participants(&created).await?;
    events::append_all(scope, std::mem::take(&mut events)).await?;
    for op in page.iter().filter(|o| o.kind != OpKind::Create) {
        let Some(current) = &op.current else { continue };
        let mut next = op.next.clone();
        next.version = current.version + 1;
        next.updated_at = now.max(current.updated_at);
        next.settle_leaving(Some(current), next.updated_at);
        if !scope.update_participant(&next, current.version).await? {
            entries.push(SyncChange::Error {
                external_id: current.external_id.clone(),
                email: Some(current.email.clone()),
                skipped: true,
                errors: vec![super::FieldError::new(
                    "participant",
                    "changed_during_sync",
                    "the participant changed while the sync ran; the next sync applies the directory again",
                )],
                line: None,
            });
            counts.errors += 1;
            continue;
        }
        let payload = match op.kind {
            OpKind::Deactivate => EventPayload::ParticipantDeactivated(next.clone()),
            OpKind::Reactivate => EventPayload::ParticipantReactivated(next.clone()),
            _ => EventPayload::ParticipantUpdated(next.clone()),
        };
        events::append(scope, payload).await?;
        let mut paused = 0;
        if op.kind == OpKind::Deactivate {
            paused = super::pairs::pause_for_leaver(scope, next.id).await?.len() as u32;
        }
        entries.extend(op.changes.iter().cloned());
        tally(counts, op, paused);
    }
    scope
        .insert_sync_changes(run_id, counts.changes as i32 + 1, &entries)
        .await?;
    counts.changes += entries.len() as u32;
    Ok(())
}

/// The latest slot of a daily schedule at or before `now`.
pub fn latest_slot(daily_at: &str, timezone: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let time = NaiveTime::parse_from_str(daily_at, "%H:%M").ok()?;
    let tz: chrono_tz::Tz = timezone.parse().ok()?;
    let today = now.with_timezone(&tz).date_naive();
    [today, today.pred_opt()?]
        .into_iter()
        .filter_map(|day| tz.from_local_datetime(&day.and_time(time)).earliest())
        .map(|t| t.with_timezone(&Utc))
        .find(|t| *t <= now)
}

/// Queues the scheduled syncs due at `now` (each slot once, however many instances look; a slot before the
/// schedule was set is not run) and runs every queued sync and every sync an instance left behind.
pub async fn run_due(services: &Services, now: DateTime<Utc>) -> DomainResult<usize> {
    for (organisation_id, connection) in services.db.scheduled_hris_connections().await? {
        let Some(schedule) = &connection.schedule else { continue };
        let Some(slot) = latest_slot(&schedule.daily_at, &schedule.timezone, now) else {
            continue;
        };
        if slot < connection.updated_at {
            continue;
        }
        let txn = services.db.begin().await?;
        let scope = Scope::new(&txn, organisation_id);
        match queue(&scope, connection.id, false, SyncTrigger::Schedule, Some(slot)).await {
            Ok(_) => txn.commit().await.map_err(StoreError::from)?,
            // Already queued for this slot (unique), running, or disabled meanwhile: nothing to do.
            Err(DomainError::Conflict { .. }) | Err(DomainError::Store(StoreError::UniqueViolation(_))) => {}
            Err(e) => return Err(e),
        }
    }
    let due = services.db.hris_syncs_to_run(now, 20).await?;
    let n = due.len();
    for (organisation_id, id) in due {
        run(services, organisation_id, id).await?;
    }
    Ok(n)
}
