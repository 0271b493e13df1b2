//! Pairs: one mentor (the junior side) and one mentee (the senior side) in a programme. Owns the hard pairing rules
//! (one function, [`pairing_rules`], that manual pairing and the matching engine both call), the agreement to the
//! ground rules, the state machine `proposed → active ⇄ paused`, `active → completed`, `… → dissolved`, and the
//! commitment figures derived from the pair's sessions (held, cancelled, at risk and why).

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::ToSchema;
use uuid::Uuid;

use super::enrolments::{Enrolment, EnrolmentRole, EnrolmentState};
use super::participants::Participant;
use super::programmes::{self, CrossDepartment, Programme};
use super::{Actor, DomainError, DomainResult, FieldError, Violations, optional_text, required_text};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PairState {
    /// Created; waits for both sides to agree to the ground rules.
    Proposed,
    Active,
    Paused,
    Completed,
    Dissolved,
}

impl PairState {
    pub fn as_str(self) -> &'static str {
        match self {
            PairState::Proposed => "proposed",
            PairState::Active => "active",
            PairState::Paused => "paused",
            PairState::Completed => "completed",
            PairState::Dissolved => "dissolved",
        }
    }

    /// Where `POST /v1/pairs/{id}/transitions` may move a pair from here. (`proposed → active` happens only through
    /// the agreement of both sides.)
    pub fn next(self) -> &'static [PairState] {
        use PairState::*;
        match self {
            Proposed => &[Dissolved],
            Active => &[Paused, Completed, Dissolved],
            Paused => &[Active, Dissolved],
            Completed | Dissolved => &[],
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, PairState::Proposed | PairState::Active | PairState::Paused)
    }

    pub const OPEN: [&'static str; 3] = ["proposed", "active", "paused"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Mentor,
    Mentee,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PairMember {
    pub participant_id: Uuid,
    pub enrolment_id: Uuid,
}

/// One side's acceptance of a version of the ground rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agreement {
    pub side: Side,
    pub participant_id: Uuid,
    pub ground_rules_version: i32,
    pub agreed_at: DateTime<Utc>,
    /// `true` when an admin recorded it on the participant's behalf.
    pub recorded_by_admin: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cancellations {
    pub by_mentor: i32,
    pub by_mentee: i32,
    pub by_manager: i32,
    /// Of the above, those made under 24 h before the start.
    pub late: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskReason {
    /// No session held in the inactivity window and none scheduled within it.
    NoRecentSession,
    /// The mentee cancelled too many sessions in a row.
    MenteeCancellations,
    /// Too many cancellations came late.
    LateCancellations,
    /// The mentor reported in the after-session pulse, several times running, that the mentee (the senior side) did
    /// most of the talking: the senior slipping back into advising instead of listening.
    RoleReversion,
}

/// The pair's commitment, derived from its sessions (never set by hand).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Commitment {
    pub sessions_held: i32,
    /// The programme's `ground_rules.target_sessions`.
    pub target_sessions: i32,
    pub target_reached: bool,
    /// Sessions still scheduled (overdue ones included until recorded).
    pub sessions_scheduled: i32,
    pub cancellations: Cancellations,
    pub no_shows: i32,
    /// Trailing cancellations by the mentee, most recent sessions first; a held session resets it.
    pub mentee_cancellations_in_a_row: i32,
    /// The mentor's latest role-reversion pulses in a row that said the mentee did most of the talking (0 without
    /// a pulse); another answer resets it.
    #[serde(default)]
    pub role_reversion_in_a_row: i32,
    pub last_session_at: Option<DateTime<Utc>>,
    /// The earliest session still scheduled.
    pub next_session_at: Option<DateTime<Utc>>,
    pub days_since_last_session: Option<i64>,
    pub at_risk: bool,
    pub risk_reasons: Vec<RiskReason>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-3333-7000-8000-000000000001",
    "programme_id": "01936b2e-1111-7000-8000-000000000001",
    "mentor": {"participant_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b", "enrolment_id": "01936b2e-2222-7000-8000-000000000001"},
    "mentee": {"participant_id": "01936b2e-8f4a-7c3d-9a1b-000000000009", "enrolment_id": "01936b2e-2222-7000-8000-000000000002"},
    "state": "active",
    "state_reason": null,
    "agreements": [
        {"side": "mentor", "participant_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b", "ground_rules_version": 1, "agreed_at": "2026-11-23T10:00:00Z", "recorded_by_admin": false},
        {"side": "mentee", "participant_id": "01936b2e-8f4a-7c3d-9a1b-000000000009", "ground_rules_version": 1, "agreed_at": "2026-11-23T11:00:00Z", "recorded_by_admin": false}
    ],
    "ground_rules_version": 1,
    "awaiting_agreement_from": [],
    "commitment": {"sessions_held": 2, "target_sessions": 6, "target_reached": false, "sessions_scheduled": 1, "cancellations": {"by_mentor": 0, "by_mentee": 1, "by_manager": 0, "late": 0}, "no_shows": 0, "mentee_cancellations_in_a_row": 0, "role_reversion_in_a_row": 0, "last_session_at": "2026-12-07T09:00:00Z", "next_session_at": "2026-12-21T09:00:00Z", "days_since_last_session": 3, "at_risk": false, "risk_reasons": []},
    "activated_at": "2026-11-23T11:00:00Z",
    "ended_at": null,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-23T11:00:00Z"
}))]
pub struct Pair {
    pub id: Uuid,
    pub programme_id: Uuid,
    pub mentor: PairMember,
    pub mentee: PairMember,
    pub state: PairState,
    /// Why the pair was paused or dissolved.
    pub state_reason: Option<String>,
    pub agreements: Vec<Agreement>,
    /// The programme's current ground-rules version, which both sides must have agreed to.
    pub ground_rules_version: i32,
    /// Sides that have not yet agreed to the current ground rules.
    pub awaiting_agreement_from: Vec<Side>,
    pub commitment: Commitment,
    pub activated_at: Option<DateTime<Utc>>,
    /// When the pair was completed or dissolved.
    pub ended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Pair {
    /// The stored version and the clock-derived figures (risk, days since the last session, the ground-rules version),
    /// so a cached copy is never current once its risk changed.
    pub fn etag(&self) -> String {
        let derived = format!(
            "{}|{:?}|{:?}|{:?}",
            self.version,
            self.commitment.risk_reasons,
            self.commitment.days_since_last_session,
            (self.ground_rules_version, self.commitment.target_sessions)
        );
        let digest = sha2::Sha256::digest(derived.as_bytes());
        super::etag(
            self.id,
            i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]),
        )
    }

    pub fn side_of(&self, participant_id: Uuid) -> Option<Side> {
        if self.mentor.participant_id == participant_id {
            Some(Side::Mentor)
        } else if self.mentee.participant_id == participant_id {
            Some(Side::Mentee)
        } else {
            None
        }
    }

    pub fn member(&self, side: Side) -> &PairMember {
        match side {
            Side::Mentor => &self.mentor,
            Side::Mentee => &self.mentee,
        }
    }

    pub fn has_agreed(&self, side: Side, version: i32) -> bool {
        self.agreements
            .iter()
            .any(|a| a.side == side && a.ground_rules_version == version)
    }

    /// Fills the fields derived from the programme and the clock: agreement status, target, risk.
    pub fn derive(mut self, programme: &Programme, now: DateTime<Utc>) -> Pair {
        let version = programme.ground_rules_version;
        self.ground_rules_version = version;
        self.awaiting_agreement_from = if self.state.is_open() {
            [Side::Mentor, Side::Mentee]
                .into_iter()
                .filter(|side| !self.has_agreed(*side, version))
                .collect()
        } else {
            Vec::new()
        };
        let c = &mut self.commitment;
        c.target_sessions = programme.ground_rules.target_sessions;
        c.target_reached = c.sessions_held >= c.target_sessions;
        c.days_since_last_session = c.last_session_at.map(|t| (now - t).num_days().max(0));
        c.risk_reasons = Vec::new();
        if self.state == PairState::Active {
            let window = Duration::days(programme.risk.inactivity_days(&programme.ground_rules));
            let last = c.last_session_at.or(self.activated_at);
            let idle = last.is_none_or(|t| t < now - window);
            let upcoming = c
                .next_session_at
                .is_some_and(|t| t <= now + window && t >= now - window);
            if idle && !upcoming {
                c.risk_reasons.push(RiskReason::NoRecentSession);
            }
            if c.mentee_cancellations_in_a_row >= programme.risk.mentee_cancellations_in_a_row {
                c.risk_reasons.push(RiskReason::MenteeCancellations);
            }
            if c.cancellations.late >= programme.risk.late_cancellations {
                c.risk_reasons.push(RiskReason::LateCancellations);
            }
            if c.role_reversion_in_a_row >= programme.risk.role_reversion_in_a_row {
                c.risk_reasons.push(RiskReason::RoleReversion);
            }
        }
        c.at_risk = !c.risk_reasons.is_empty();
        self
    }

    /// The latest of the last held session and the activation: what the inactivity rule measures from.
    pub fn last_activity_at(&self) -> Option<DateTime<Utc>> {
        self.commitment.last_session_at.or(self.activated_at)
    }
}

/// The body of `POST /v1/programmes/{id}/pairs`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mentor_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b", "mentee_id": "01936b2e-8f4a-7c3d-9a1b-000000000009"}))]
pub struct ProposePair {
    /// The participant id of the mentor (the junior side).
    pub mentor_id: Uuid,
    /// The participant id of the mentee (the senior side).
    pub mentee_id: Uuid,
}

/// The body of `POST /v1/pairs/{id}/agreement`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ground_rules_version": 1}))]
pub struct RecordAgreement {
    /// Admins only: the side they record the agreement for. Participants always agree for themselves.
    pub side: Option<Side>,
    /// The ground-rules version the participant read; refused with 409 when the rules changed since.
    pub ground_rules_version: Option<i32>,
}

/// The body of `POST /v1/pairs/{id}/transitions`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "paused", "reason": "The mentee is on parental leave until March"}))]
pub struct PairTransition {
    pub to: PairState,
    /// Required to dissolve; optional to pause.
    pub reason: Option<String>,
}

#[derive(Default)]
pub struct PairFilter {
    pub state: Option<PairState>,
    /// Pairs in which this participant is the mentor or the mentee.
    pub participant_id: Option<Uuid>,
    pub at_risk: Option<bool>,
    /// Only pairs of these programmes (a manager's, across programmes).
    pub programme_ids: Option<Vec<Uuid>>,
}

/// The pair and its programme, if the actor may see them: admins, the programme's managers, and the pair's two
/// participants. Anyone else (another pair's participant included) is told it does not exist.
pub async fn visible<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
) -> DomainResult<(Pair, Programme)> {
    load(scope, actor, id, false).await
}

/// Like [`visible`], with the pair's row locked (on PostgreSQL) until the transaction ends: what every change to a
/// pair, or to one of its sessions, starts with, so concurrent changes apply one after the other.
pub async fn visible_locked<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
) -> DomainResult<(Pair, Programme)> {
    load(scope, actor, id, true).await
}

async fn load<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    lock: bool,
) -> DomainResult<(Pair, Programme)> {
    let pair = if lock {
        scope.lock_pair(id).await?
    } else {
        scope.pair(id).await?
    };
    let pair = pair.ok_or(DomainError::NotFound("pair"))?;
    let programme = scope
        .programme(pair.programme_id)
        .await?
        .ok_or(DomainError::NotFound("pair"))?;
    let ok = match actor {
        Actor::Admin => true,
        Actor::Manager(p) => programme.is_manager(p),
        Actor::Participant(p) => pair.side_of(p).is_some(),
    };
    if !ok {
        return Err(DomainError::NotFound("pair"));
    }
    let pair = pair.derive(&programme, store::now());
    Ok((pair, programme))
}

pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    mut filter: PairFilter,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Pair>, bool)> {
    let programme = programmes::visible(scope, actor, programme_id).await?;
    if let Actor::Participant(p) = actor {
        filter.participant_id = Some(p);
    }
    let now = store::now();
    let risk = risk_window(&programme, now);
    let (rows, has_more) = super::page(
        scope
            .list_pairs(Some(programme_id), &filter, Some(&risk), after, limit + 1)
            .await?,
        limit,
    );
    Ok((rows.into_iter().map(|p| p.derive(&programme, now)).collect(), has_more))
}

/// The risk rule as bounds the store can filter and count on, equal to [`Pair::derive`]'s judgement.
pub struct RiskWindow {
    pub idle_before: DateTime<Utc>,
    pub upcoming_from: DateTime<Utc>,
    pub upcoming_until: DateTime<Utc>,
    pub mentee_cancellations_in_a_row: i32,
    pub late_cancellations: i32,
    pub role_reversion_in_a_row: i32,
}

pub fn risk_window(programme: &Programme, now: DateTime<Utc>) -> RiskWindow {
    let window = Duration::days(programme.risk.inactivity_days(&programme.ground_rules));
    RiskWindow {
        idle_before: now - window,
        upcoming_from: now - window,
        upcoming_until: now + window,
        mentee_cancellations_in_a_row: programme.risk.mentee_cancellations_in_a_row,
        late_cancellations: programme.risk.late_cancellations,
        role_reversion_in_a_row: programme.risk.role_reversion_in_a_row,
    }
}

/// The hard pairing rules. Every violated rule is reported (its `code` names the rule), so a manager fixes them all
/// at once. Called by manual pairing and by the matching engine, so both refuse exactly the same pairs.
#[allow(clippy::too_many_arguments)]
pub fn pairing_rules(
    programme: &Programme,
    mentor: &Participant,
    mentee: &Participant,
    mentor_enrolment: Option<&Enrolment>,
    mentee_enrolment: Option<&Enrolment>,
    mentor_line: &[Uuid],
    open_pairs: (u64, u64),
    already_paired: bool,
) -> Vec<FieldError> {
    let mut v = Vec::new();
    let mut rule = |field: &str, code: &str, message: String| v.push(FieldError::new(field, code, message));
    if mentor.id == mentee.id {
        rule(
            "mentee_id",
            "same_participant",
            "a participant cannot mentor themselves".into(),
        );
    }
    for (field, person) in [("mentor_id", mentor), ("mentee_id", mentee)] {
        if !person.active {
            rule(field, "participant_inactive", "the participant is inactive".into());
        }
    }
    for (field, enrolment, role) in [
        ("mentor_id", mentor_enrolment, EnrolmentRole::Mentor),
        ("mentee_id", mentee_enrolment, EnrolmentRole::Mentee),
    ] {
        match enrolment {
            None => rule(
                field,
                "not_enrolled",
                "the participant is not enrolled in this programme".into(),
            ),
            Some(e) if e.state == EnrolmentState::Withdrawn => rule(
                field,
                "enrolment_withdrawn",
                "the participant withdrew from this programme".into(),
            ),
            Some(e) if e.role != role => rule(
                field,
                "wrong_role",
                format!(
                    "the participant is enrolled as a {}, not a {}",
                    e.role.as_str(),
                    role.as_str()
                ),
            ),
            Some(_) => {}
        }
    }
    // Never a direct report: the mentee must not appear anywhere above the mentor in the reporting line.
    if mentor_line.contains(&mentee.id) {
        rule(
            "mentor_id",
            "mentor_reports_to_mentee",
            "the mentor reports to the mentee, directly or further down the reporting line".into(),
        );
    }
    let gap = programme.matching.min_level_gap;
    if mentee.level - mentor.level < gap {
        rule(
            "mentor_id",
            "insufficient_level_gap",
            format!(
                "the mentor (level {}) must be at least {gap} level(s) junior to the mentee (level {})",
                mentor.level, mentee.level
            ),
        );
    }
    if programme.matching.cross_department == CrossDepartment::Required {
        match (&mentor.department, &mentee.department) {
            (Some(a), Some(b)) if a.to_lowercase() == b.to_lowercase() => rule(
                "mentee_id",
                "same_department",
                "the programme requires cross-department pairs".into(),
            ),
            (Some(_), Some(_)) => {}
            _ => rule(
                "mentor_id",
                "department_unknown",
                "the programme requires cross-department pairs, and a department is missing".into(),
            ),
        }
    }
    if let Some(e) = mentor_enrolment
        && open_pairs.0 >= e.capacity as u64
    {
        rule(
            "mentor_id",
            "mentor_at_capacity",
            format!("the mentor already has {} open pair(s), their capacity", open_pairs.0),
        );
    }
    if let Some(e) = mentee_enrolment
        && open_pairs.1 >= e.capacity as u64
    {
        rule(
            "mentee_id",
            "mentee_at_capacity",
            format!("the mentee already has {} open pair(s), their capacity", open_pairs.1),
        );
    }
    if already_paired {
        rule(
            "mentee_id",
            "already_paired",
            "these two already form an open pair in this programme".into(),
        );
    }
    v
}

/// Proposes a pair after checking every hard rule. The two enrolments are locked first, so concurrent proposals for
/// the same mentor queue, and the capacity check of the second sees the first.
pub async fn propose<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    cmd: ProposePair,
) -> DomainResult<Pair> {
    let programme = programmes::managed_open(scope, actor, programme_id).await?;
    let mut v = Violations::default();
    let mentor = scope.participant(cmd.mentor_id).await?;
    let mentee = scope.participant(cmd.mentee_id).await?;
    if mentor.is_none() {
        v.add(
            "mentor_id",
            "not_found",
            "no participant with this id in the organisation",
        );
    }
    if mentee.is_none() {
        v.add(
            "mentee_id",
            "not_found",
            "no participant with this id in the organisation",
        );
    }
    v.into_result()?;
    let (mentor, mentee) = (
        mentor.unwrap_or_else(|| unreachable!()),
        mentee.unwrap_or_else(|| unreachable!()),
    );
    let mentor_enrolment = scope.lock_enrolment_of(programme_id, mentor.id).await?;
    let mentee_enrolment = scope.lock_enrolment_of(programme_id, mentee.id).await?;
    let line: Vec<Uuid> = super::participants::reporting_line(scope, mentor.id)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let open = (
        scope.count_open_pairs_of(programme_id, mentor.id).await?,
        scope.count_open_pairs_of(programme_id, mentee.id).await?,
    );
    let already = scope.open_pair_between(programme_id, mentor.id, mentee.id).await?;
    let violations = pairing_rules(
        &programme,
        &mentor,
        &mentee,
        mentor_enrolment.as_ref(),
        mentee_enrolment.as_ref(),
        &line,
        open,
        already,
    );
    if !violations.is_empty() {
        return Err(DomainError::RulesViolated(violations));
    }
    let (Some(mentor_enrolment), Some(mentee_enrolment)) = (mentor_enrolment, mentee_enrolment) else {
        unreachable!("pairing_rules refuses pairs without enrolments")
    };
    let now = store::now();
    let pair = Pair {
        id: store::new_id(),
        programme_id,
        mentor: PairMember {
            participant_id: mentor.id,
            enrolment_id: mentor_enrolment.id,
        },
        mentee: PairMember {
            participant_id: mentee.id,
            enrolment_id: mentee_enrolment.id,
        },
        state: PairState::Proposed,
        state_reason: None,
        agreements: Vec::new(),
        ground_rules_version: programme.ground_rules_version,
        awaiting_agreement_from: Vec::new(),
        commitment: Commitment::default(),
        activated_at: None,
        ended_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
    .derive(&programme, now);
    scope.insert_pair(&pair).await?;
    events::append(scope, EventPayload::PairProposed(pair.clone())).await?;
    Ok(pair)
}

/// Records one side's agreement to the current ground rules; the second agreement activates a proposed pair. The
/// pair row is locked first, so two agreements arriving together are applied one after the other and the pair is
/// activated exactly once.
pub async fn record_agreement<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: RecordAgreement,
) -> DomainResult<Pair> {
    let (current, programme) = visible_locked(scope, actor, id).await?;
    let now = store::now();
    let (side, by_admin) = match actor {
        Actor::Participant(p) => {
            let side = current.side_of(p).ok_or(DomainError::NotFound("pair"))?;
            if cmd.side.is_some_and(|s| s != side) {
                return Err(DomainError::Forbidden("participants agree only for themselves".into()));
            }
            (side, false)
        }
        Actor::Admin => (
            cmd.side.ok_or_else(|| {
                DomainError::Invalid(vec![FieldError::new(
                    "side",
                    "required",
                    "say which side (mentor or mentee) the agreement is recorded for",
                )])
            })?,
            true,
        ),
        Actor::Manager(_) => {
            return Err(DomainError::Forbidden(
                "the participants agree themselves, or an admin records it for them".into(),
            ));
        }
    };
    programmes::ensure_open(&programme)?;
    if !current.state.is_open() {
        return Err(DomainError::Conflict {
            code: "pair_closed",
            message: format!("the pair is {}", current.state.as_str()),
        });
    }
    let version = programme.ground_rules_version;
    if let Some(read) = cmd.ground_rules_version
        && read != version
    {
        return Err(DomainError::Conflict {
            code: "ground_rules_changed",
            message: format!("the ground rules are now at version {version}; read them again before agreeing"),
        });
    }
    if current.has_agreed(side, version) {
        return Ok(current);
    }
    ensure_members_active(scope, &current).await?;
    let mut next = current.clone();
    next.agreements.push(Agreement {
        side,
        participant_id: current.member(side).participant_id,
        ground_rules_version: version,
        agreed_at: now,
        recorded_by_admin: by_admin,
    });
    let activate = next.state == PairState::Proposed
        && next.has_agreed(Side::Mentor, version)
        && next.has_agreed(Side::Mentee, version);
    if activate {
        next.state = PairState::Active;
        next.activated_at = Some(now);
    }
    let saved = save(scope, &programme, &current, next).await?;
    events::append(scope, EventPayload::PairAgreementRecorded(saved.clone())).await?;
    if activate {
        events::append(scope, EventPayload::PairActivated(saved.clone())).await?;
        super::surveys::on_pair_started(scope, &saved).await?;
    }
    Ok(saved)
}

/// Pauses, resumes, completes or dissolves a pair (admins and the programme's managers).
pub async fn transition<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: PairTransition,
    if_match: Option<&str>,
) -> DomainResult<Pair> {
    let (current, programme) = visible_locked(scope, actor, id).await?;
    if let Actor::Participant(_) = actor {
        return Err(DomainError::Forbidden(
            "only the organisation's admins and the programme's managers move a pair".into(),
        ));
    }
    programmes::ensure_open(&programme)?;
    super::check_if_match(&current.etag(), if_match)?;
    if !current.state.next().contains(&cmd.to) {
        return Err(DomainError::IllegalTransition {
            resource: "pair",
            from: current.state.as_str().into(),
            to: cmd.to.as_str().into(),
            allowed: current.state.next().iter().map(|s| s.as_str().to_string()).collect(),
        });
    }
    let mut v = Violations::default();
    let reason = match cmd.to {
        PairState::Dissolved => Some(required_text(
            &mut v,
            "reason",
            cmd.reason.as_deref().unwrap_or(""),
            1000,
        )),
        _ => optional_text(&mut v, "reason", cmd.reason, 1000),
    };
    v.into_result()?;
    if cmd.to == PairState::Active {
        ensure_members_active(scope, &current).await?;
    }
    move_to(scope, &programme, current, cmd.to, reason).await
}

/// Refuses to start or resume a pair one of whose members is inactive (left the organisation or was deactivated):
/// it could not meet. Reactivating them lifts it.
async fn ensure_members_active<C: ConnectionTrait>(scope: &Scope<'_, C>, pair: &Pair) -> DomainResult<()> {
    for (side, name) in [(Side::Mentor, "mentor"), (Side::Mentee, "mentee")] {
        let active = scope
            .participant(pair.member(side).participant_id)
            .await?
            .is_some_and(|p| p.active);
        if !active {
            return Err(DomainError::Conflict {
                code: "participant_inactive",
                message: format!(
                    "the {name} is inactive (they left or were deactivated); the pair cannot start or resume until \
                     they are reactivated"
                ),
            });
        }
    }
    Ok(())
}

/// Ends every open pair of a completing programme: running pairs complete, proposed ones dissolve.
pub async fn close_all<C: ConnectionTrait>(scope: &Scope<'_, C>, programme: &Programme) -> DomainResult<()> {
    for pair in scope.open_pairs(programme.id, None).await? {
        let pair = pair.derive(programme, store::now());
        match pair.state {
            PairState::Proposed => {
                move_to(
                    scope,
                    programme,
                    pair,
                    PairState::Dissolved,
                    Some("programme_completed".into()),
                )
                .await?;
            }
            _ => {
                move_to(scope, programme, pair, PairState::Completed, None).await?;
            }
        }
    }
    Ok(())
}

/// Dissolves every open pair of a participant in a programme (they withdrew).
pub async fn dissolve_all_of<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme: &Programme,
    participant_id: Uuid,
    reason: &str,
) -> DomainResult<()> {
    for pair in scope.open_pairs(programme.id, Some(participant_id)).await? {
        let pair = pair.derive(programme, store::now());
        move_to(scope, programme, pair, PairState::Dissolved, Some(reason.into())).await?;
    }
    Ok(())
}

/// The active pairs a participant who left the organisation was in.
pub async fn active_pairs_of<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    participant_id: Uuid,
) -> DomainResult<Vec<Uuid>> {
    Ok(scope
        .pairs_of_participant(participant_id, PairState::Active)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect())
}

/// Pauses the active pairs of a participant who left the organisation or was deactivated (reason
/// `participant_left`): with one side gone the pair cannot meet, but it is not ended — it resumes once they are
/// reactivated. Their pairs that had not started (proposed) are withdrawn — dissolved with the same reason, each
/// with its `pair.dissolved` event — so the other side is free to be paired again. Answers the paused pairs.
pub async fn pause_for_leaver<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    participant_id: Uuid,
) -> DomainResult<Vec<Uuid>> {
    for pair in scope.pairs_of_participant(participant_id, PairState::Proposed).await? {
        let Some(programme) = scope.programme(pair.programme_id).await? else {
            continue;
        };
        let pair = pair.derive(&programme, store::now());
        move_to(
            scope,
            &programme,
            pair,
            PairState::Dissolved,
            Some(PARTICIPANT_LEFT.into()),
        )
        .await?;
    }
    let mut paused = Vec::new();
    for pair in scope.pairs_of_participant(participant_id, PairState::Active).await? {
        let Some(programme) = scope.programme(pair.programme_id).await? else {
            continue;
        };
        let pair = pair.derive(&programme, store::now());
        let id = pair.id;
        move_to(
            scope,
            &programme,
            pair,
            PairState::Paused,
            Some(PARTICIPANT_LEFT.into()),
        )
        .await?;
        paused.push(id);
    }
    Ok(paused)
}

/// The reason a pair paused because one side left the organisation.
pub const PARTICIPANT_LEFT: &str = "participant_left";

/// Whether any open pair of the programme agreed to this version of its ground rules.
pub async fn anyone_agreed<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme_id: Uuid,
    version: i32,
) -> DomainResult<bool> {
    Ok(scope
        .open_pairs(programme_id, None)
        .await?
        .iter()
        .any(|p| p.agreements.iter().any(|a| a.ground_rules_version == version)))
}

/// Applies a state change the caller has already judged legal, with its side effects and events: a pair that ends
/// has its remaining scheduled sessions cancelled; a completed pair triggers its end-of-programme surveys.
async fn move_to<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme: &Programme,
    current: Pair,
    to: PairState,
    reason: Option<String>,
) -> DomainResult<Pair> {
    let now = store::now();
    let mut next = current.clone();
    next.state = to;
    match to {
        PairState::Paused | PairState::Dissolved => next.state_reason = reason.clone(),
        PairState::Active => next.state_reason = None,
        _ => {}
    }
    if matches!(to, PairState::Completed | PairState::Dissolved) {
        next.ended_at = Some(now);
        super::sessions::cancel_remaining(scope, &next, reason.as_deref().unwrap_or(to.as_str())).await?;
        next.commitment = super::sessions::commitment_of(scope, &next).await?;
    }
    let saved = save(scope, programme, &current, next).await?;
    let event = match (current.state, to) {
        (_, PairState::Paused) => EventPayload::PairPaused(saved.clone()),
        (PairState::Paused, PairState::Active) => EventPayload::PairResumed(saved.clone()),
        (_, PairState::Active) => EventPayload::PairActivated(saved.clone()),
        (_, PairState::Completed) => EventPayload::PairCompleted(saved.clone()),
        (_, PairState::Dissolved) => EventPayload::PairDissolved(saved.clone()),
        (_, PairState::Proposed) => unreachable!("no transition leads back to proposed"),
    };
    events::append(scope, event).await?;
    if to == PairState::Completed {
        super::surveys::on_pair_completed(scope, &saved).await?;
    }
    Ok(saved)
}

/// Recomputes the pair's commitment from its sessions after a session changed, and saves it.
pub async fn refresh_commitment<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme: &Programme,
    pair_id: Uuid,
) -> DomainResult<Pair> {
    let current = scope.lock_pair(pair_id).await?.ok_or(DomainError::NotFound("pair"))?;
    let mut next = current.clone();
    next.commitment = super::sessions::commitment_of(scope, &current).await?;
    if next.commitment == current.commitment {
        return Ok(current.derive(programme, store::now()));
    }
    save(scope, programme, &current, next).await
}

async fn save<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme: &Programme,
    current: &Pair,
    mut next: Pair,
) -> DomainResult<Pair> {
    next.version = current.version + 1;
    next.updated_at = store::now().max(current.updated_at);
    let next = next.derive(programme, store::now());
    if !scope.update_pair(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    Ok(next)
}
