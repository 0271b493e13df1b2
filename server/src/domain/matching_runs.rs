//! Matching runs: a manager asks the engine to pair a programme's enrolled mentors and mentees. A run is queued, runs
//! in the background (`queued → running → succeeded | failed`) off the HTTP workers, and keeps its proposals (with
//! per-factor explanations) and everyone left unmatched with the reason. Accepting a run (all of it or a chosen
//! subset) proposes the pairs through the pair service, so the same hard rules apply at that moment.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::enrolments::EnrolmentRole;
use super::pairs::{self, PairState, ProposePair};
use super::programmes::{self, Programme, SpecialCategoryMatching};
use super::{Actor, DomainError, DomainResult, FieldError};
use crate::config::Config;
use crate::events::{self, EventPayload};
use crate::matching::{self, Inputs, Proposal, Stats, Unmatched, policy::BuiltinPolicy};
use crate::plugins::Host;
use crate::store::{self, Db, Scope};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
        }
    }
}

/// A pair created when the run was accepted, or a proposal the pair service refused then.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Acceptance {
    pub mentor_id: Uuid,
    pub mentee_id: Uuid,
    /// The proposed pair, when created.
    pub pair_id: Option<Uuid>,
    /// Why it was refused (the rules that changed since the run), when not.
    pub refused: Option<Vec<FieldError>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9999-7000-8000-000000000001",
    "programme_id": "01936b2e-1111-7000-8000-000000000001",
    "state": "succeeded",
    "policy": "builtin",
    "stats": {"mentors": 2, "mentees": 3, "candidates": 4, "vetoed": 0, "candidates_ms": 0.1, "scoring_ms": 0.1, "assignment_ms": 0.1, "total_score": 4.9},
    "proposals": [{"mentor_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b", "mentee_id": "01936b2e-8f4a-7c3d-9a1b-000000000009", "score": 2.55,
                   "factors": [{"name": "shared_topics", "value": 1.0, "weight": 1.0, "contribution": 1.0}, {"name": "cross_department", "value": 1.0, "weight": 0.5, "contribution": 0.5}]}],
    "unmatched": [{"participant_id": "01936b2e-8f4a-7c3d-9a1b-00000000000a", "role": "mentee", "reason": "no eligible mentor: insufficient_level_gap ×2"}],
    "error": null,
    "warnings": [],
    "accepted": null,
    "started_at": "2026-11-22T09:30:01Z",
    "finished_at": "2026-11-22T09:30:01Z",
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:01Z"
}))]
pub struct MatchingRun {
    pub id: Uuid,
    pub programme_id: Uuid,
    pub state: RunState,
    /// The policy that scored the candidates.
    #[schema(example = "builtin")]
    pub policy: String,
    /// The special-category attributes the policy was given, and why: the programme's opt-in when the run was
    /// queued (`null` when it read none; the built-in policy never does).
    #[serde(default)]
    pub special_category: Option<SpecialCategoryMatching>,
    pub stats: Stats,
    /// The optimal assignment, highest score first.
    pub proposals: Vec<Proposal>,
    pub unmatched: Vec<Unmatched>,
    /// Why the run failed.
    pub error: Option<String>,
    /// What went wrong without failing the run, e.g. a plugin that could not explain the pairs it chose (the
    /// proposals then carry their scores without factors).
    #[serde(default)]
    #[schema(example = json!([]))]
    pub warnings: Vec<String>,
    /// Filled once the run is accepted.
    pub accepted: Option<Vec<Acceptance>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl MatchingRun {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }
}

/// The body of `POST /v1/programmes/{id}/matching-runs/{run}/accept`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mentee_ids": ["01936b2e-8f4a-7c3d-9a1b-000000000009"]}))]
pub struct AcceptRun {
    /// Accept only the proposals for these mentees; omit to accept every proposal.
    pub mentee_ids: Option<Vec<Uuid>>,
}

/// Queues a run (admins and the programme's managers).
pub async fn queue<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
) -> DomainResult<MatchingRun> {
    let programme = programmes::managed_open(scope, actor, programme_id).await?;
    let now = store::now();
    let run = MatchingRun {
        id: store::new_id(),
        programme_id: programme.id,
        state: RunState::Queued,
        policy: programme.matching.policy.clone(),
        special_category: programme
            .matching
            .special_category
            .clone()
            .filter(|_| programme.matching.policy != super::plugins::BUILTIN),
        stats: Stats::default(),
        proposals: Vec::new(),
        unmatched: Vec::new(),
        error: None,
        warnings: Vec::new(),
        accepted: None,
        started_at: None,
        finished_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    scope.insert_matching_run(&run).await?;
    events::append(scope, EventPayload::MatchingRunQueued(run.clone())).await?;
    Ok(run)
}

pub async fn get<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    id: Uuid,
) -> DomainResult<MatchingRun> {
    programmes::managed(scope, actor, programme_id).await?;
    scope
        .matching_run(id)
        .await?
        .filter(|r| r.programme_id == programme_id)
        .ok_or(DomainError::NotFound("matching run"))
}

/// Runs a queued run to its end: loads the programme's enrolments, runs the engine on the blocking pool (it is CPU
/// work and must not hold an HTTP worker), and records the outcome with its event. Never panics the caller: any
/// failure is recorded on the run. Its span starts here, at the call, so the run is a child of the span of the request that queued it.
pub fn execute(
    db: Db,
    host: Arc<Host>,
    config: Arc<Config>,
    organisation_id: Uuid,
    id: Uuid,
) -> impl std::future::Future<Output = ()> {
    use tracing::Instrument;
    let span = tracing::info_span!("matching_run", %organisation_id, run_id = %id);
    execute_in_span(db, host, config, organisation_id, id).instrument(span)
}

async fn execute_in_span(db: Db, host: Arc<Host>, config: Arc<Config>, organisation_id: Uuid, id: Uuid) {
    if let Err(e) = try_execute(&db, &host, &config, organisation_id, id).await {
        tracing::error!(run = %id, error = %e, "matching run failed");
        let _ = finish(&db, organisation_id, id, Err(e.to_string())).await;
    }
}

/// How long a queued or running run may go untouched before it counts as abandoned. A run's instance marks it
/// running when it starts and writes its outcome when it ends; the engine takes about a second for a million
/// candidates, so this is generous.
pub const ABANDONED_AFTER_MINUTES: i64 = 15;

/// Fails the runs an instance left behind (it stopped mid-run) — untouched for longer than `after` — so nobody polls
/// them forever.
pub async fn fail_abandoned(db: &Db, after: chrono::Duration) -> DomainResult<usize> {
    let before = store::now() - after;
    let abandoned = db.abandoned_matching_runs(before).await?;
    for (organisation_id, id) in &abandoned {
        finish(
            db,
            *organisation_id,
            *id,
            Err("the run was interrupted (its server stopped); start a new run".into()),
        )
        .await?;
    }
    Ok(abandoned.len())
}

async fn try_execute(db: &Db, host: &Arc<Host>, config: &Config, organisation_id: Uuid, id: Uuid) -> DomainResult<()> {
    let run = {
        let txn = db.begin().await?;
        let scope = Scope::new(&txn, organisation_id);
        let mut run = scope
            .matching_run(id)
            .await?
            .ok_or(DomainError::NotFound("matching run"))?;
        let previous = run.version;
        run.state = RunState::Running;
        run.started_at = Some(store::now());
        run.updated_at = store::now();
        run.version += 1;
        if !scope.update_matching_run(&run, previous).await? {
            return Err(DomainError::PreconditionFailed);
        }
        txn.commit().await.map_err(store::StoreError::from)?;
        run
    };
    let reader = Scope::new(db.reader(), organisation_id);
    let inputs = load(&reader, run.programme_id, run.special_category.as_ref()).await?;
    // The policy the run was queued with (the programme may have changed since).
    let plugin = match super::plugins::matcher_for(&reader, host, config, &run.policy).await {
        Ok(plugin) => plugin,
        Err(DomainError::NotFound(_)) => {
            let message = format!("the policy {} no longer exists", run.policy);
            return finish(db, organisation_id, id, Err(message)).await;
        }
        Err(e) => return finish(db, organisation_id, id, Err(e.to_string())).await,
    };
    // The whole computation has a deadline, well inside the time after which housekeeping counts the run as
    // abandoned: a run past it fails with a reason that says so and its core is freed.
    let deadline = std::time::Duration::from_millis(config.matching_run_timeout_ms);
    let (outcome, plugin) = tokio::task::spawn_blocking(move || {
        let stop = matching::solver::Stop::new(Some(deadline), None);
        match plugin {
            None => (matching::run(&inputs, &BuiltinPolicy, &stop), None),
            Some((plugin, policy)) => {
                let outcome = matching::run(&inputs, &policy, &stop);
                (outcome, Some((plugin, policy.take_invocations())))
            }
        }
    })
    .await
    .map_err(|e| DomainError::Store(store::StoreError::Corrupt(format!("the matching task stopped: {e}"))))?;
    if let Some((plugin, invocations)) = plugin {
        let txn = db.begin().await?;
        super::plugins::record(
            &Scope::new(&txn, organisation_id),
            &plugin,
            super::plugins::Purpose::MatchingRun,
            Some(id),
            invocations,
        )
        .await?;
        txn.commit().await.map_err(store::StoreError::from)?;
    }
    match outcome {
        Ok(outcome) => finish(db, organisation_id, id, Ok(outcome)).await,
        Err(e) => finish(db, organisation_id, id, Err(e.to_string())).await,
    }
}

async fn finish(
    db: &Db,
    organisation_id: Uuid,
    id: Uuid,
    outcome: Result<matching::Outcome, String>,
) -> DomainResult<()> {
    let txn = db.begin().await?;
    let scope = Scope::new(&txn, organisation_id);
    let current = scope
        .matching_run(id)
        .await?
        .ok_or(DomainError::NotFound("matching run"))?;
    let mut next = current.clone();
    next.finished_at = Some(store::now());
    next.updated_at = store::now();
    next.version += 1;
    let event = match outcome {
        Ok(mut o) => {
            o.proposals
                .sort_by(|a, b| b.score.total_cmp(&a.score).then(a.mentee_id.cmp(&b.mentee_id)));
            next.state = RunState::Succeeded;
            next.stats = o.stats;
            next.proposals = o.proposals;
            next.unmatched = o.unmatched;
            next.warnings = o.warnings;
            EventPayload::MatchingRunSucceeded
        }
        Err(message) => {
            next.state = RunState::Failed;
            next.error = Some(message);
            EventPayload::MatchingRunFailed
        }
    };
    if !scope.update_matching_run(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    let (outcome, elapsed) = (
        next.state.as_str(),
        next.started_at.zip(next.finished_at).map(|(s, f)| f - s),
    );
    events::append(&scope, event(next)).await?;
    txn.commit().await.map_err(store::StoreError::from)?;
    crate::telemetry::metrics::matching_run(outcome, elapsed);
    Ok(())
}

/// The member of a profile's `attributes` that carries the special-category attributes a programme opted in to.
pub const SENSITIVE_MEMBER: &str = "$sensitive";

/// Everything the engine reads about a programme, in one consistent pass. With an opt-in, each person's consented
/// special-category attributes that it names travel under `$sensitive` in their attributes.
async fn load<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme_id: Uuid,
    special_category: Option<&SpecialCategoryMatching>,
) -> DomainResult<Inputs> {
    let programme: Programme = scope
        .programme(programme_id)
        .await?
        .ok_or(DomainError::NotFound("programme"))?;
    let people: HashMap<Uuid, _> = scope.all_participants().await?.into_iter().map(|p| (p.id, p)).collect();
    let mut mentors = Vec::new();
    let mut mentees = Vec::new();
    for enrolment in scope.active_enrolments(programme_id).await? {
        let Some(person) = people.get(&enrolment.participant_id) else {
            continue;
        };
        match enrolment.role {
            EnrolmentRole::Mentor => mentors.push((person.clone(), enrolment)),
            EnrolmentRole::Mentee => mentees.push((person.clone(), enrolment)),
        }
    }
    if let Some(opt_in) = special_category {
        // One read of everyone's sealed record (the people are already loaded), not two queries per person.
        let sealer = crate::secrets::installed().map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
        let ids: Vec<Uuid> = mentors.iter().chain(mentees.iter()).map(|(p, _)| p.id).collect();
        let recorded: HashMap<Uuid, String> = scope.sensitive_attributes_of(&ids).await?.into_iter().collect();
        for (person, _) in mentors.iter_mut().chain(mentees.iter_mut()) {
            let Some(sealed) = recorded.get(&person.id) else {
                continue;
            };
            let record = super::special_category::open(&sealer, person.id, sealed)?;
            if let Some(named) = super::special_category::for_matching(&record, opt_in) {
                person.attributes.insert(SENSITIVE_MEMBER.into(), named.into());
            }
        }
    }
    // Reporting lines walked in memory, bounded like the pair service's walk.
    let mut lines = HashMap::new();
    for (mentor, _) in &mentors {
        let mut line = Vec::new();
        let mut next = mentor.manager_id;
        while let Some(m) = next {
            if line.len() >= super::participants::REPORTING_LINE_MAX_DEPTH || m == mentor.id {
                break;
            }
            line.push(m);
            next = people.get(&m).and_then(|p| p.manager_id);
        }
        lines.insert(mentor.id, line);
    }
    let mut open = HashMap::new();
    let mut open_pairs = HashSet::new();
    let mut dissolved = HashSet::new();
    for pair in scope.pairs_of_programme(programme_id).await? {
        let key = (pair.mentor.participant_id, pair.mentee.participant_id);
        if pair.state.is_open() {
            *open.entry(key.0).or_insert(0u64) += 1;
            *open.entry(key.1).or_insert(0u64) += 1;
            open_pairs.insert(key);
        } else if pair.state == PairState::Dissolved {
            dissolved.insert(key);
        }
    }
    Ok(Inputs {
        programme,
        mentors,
        mentees,
        lines,
        open,
        open_pairs,
        dissolved,
    })
}

/// Proposes the run's pairs (all, or those of the chosen mentees) through the pair service. Proposals the rules now
/// refuse are reported, not fatal; a run is accepted once.
pub async fn accept<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    id: Uuid,
    cmd: AcceptRun,
) -> DomainResult<MatchingRun> {
    get(scope, actor, programme_id, id).await?;
    let current = scope
        .lock_matching_run(id)
        .await?
        .ok_or(DomainError::NotFound("matching run"))?;
    if current.state != RunState::Succeeded {
        return Err(DomainError::Conflict {
            code: "run_not_succeeded",
            message: format!(
                "the run is {}; only a succeeded run can be accepted",
                current.state.as_str()
            ),
        });
    }
    if current.accepted.is_some() {
        return Err(DomainError::Conflict {
            code: "already_accepted",
            message: "this run was already accepted".into(),
        });
    }
    let chosen: Vec<&Proposal> = match &cmd.mentee_ids {
        None => current.proposals.iter().collect(),
        Some(ids) => {
            let mut v = super::Violations::default();
            for (i, mentee) in ids.iter().enumerate() {
                if !current.proposals.iter().any(|p| p.mentee_id == *mentee) {
                    v.add(
                        format!("mentee_ids[{i}]"),
                        "not_proposed",
                        "the run proposed no pair for this mentee",
                    );
                }
            }
            v.into_result()?;
            current
                .proposals
                .iter()
                .filter(|p| ids.contains(&p.mentee_id))
                .collect()
        }
    };
    let mut accepted = Vec::with_capacity(chosen.len());
    for proposal in chosen {
        let cmd = ProposePair {
            mentor_id: proposal.mentor_id,
            mentee_id: proposal.mentee_id,
        };
        let (pair_id, refused) = match pairs::propose(scope, actor, programme_id, cmd).await {
            Ok(pair) => (Some(pair.id), None),
            Err(DomainError::RulesViolated(rules)) | Err(DomainError::Invalid(rules)) => (None, Some(rules)),
            Err(other) => return Err(other),
        };
        accepted.push(Acceptance {
            mentor_id: proposal.mentor_id,
            mentee_id: proposal.mentee_id,
            pair_id,
            refused,
        });
    }
    let mut next = current.clone();
    next.accepted = Some(accepted);
    next.version += 1;
    next.updated_at = store::now().max(current.updated_at);
    if !scope.update_matching_run(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    events::append(scope, EventPayload::MatchingRunAccepted(next.clone())).await?;
    Ok(next)
}
