//! Sessions: a pair's meetings. Scheduling (never on an off-limit topic, only for an active pair whose two sides
//! agreed to the current ground rules), rescheduling, completing, cancelling (a late cancellation is one made under
//! 24 h before the start) and no-shows; and the pair's commitment figures derived from them.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::pairs::{self, Cancellations, Commitment, Pair, PairState, Side};
use super::programmes::{self, Programme};
use super::{Actor, DomainError, DomainResult, FieldError, Violations, contains_label, label_list, optional_text};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope};

/// A cancellation under this long before the start is late.
pub const LATE_CANCELLATION_HOURS: i64 = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Scheduled,
    Completed,
    Cancelled,
    NoShow,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Scheduled => "scheduled",
            SessionState::Completed => "completed",
            SessionState::Cancelled => "cancelled",
            SessionState::NoShow => "no_show",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    InPerson,
    Video,
    Phone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    Mentor,
    Mentee,
    Manager,
}

impl CancelledBy {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelledBy::Mentor => "mentor",
            CancelledBy::Mentee => "mentee",
            CancelledBy::Manager => "manager",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Absent {
    Mentor,
    Mentee,
    Both,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cancellation {
    pub cancelled_by: CancelledBy,
    pub reason: String,
    /// Made under 24 h before the start.
    pub late: bool,
    pub cancelled_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-4444-7000-8000-000000000001",
    "pair_id": "01936b2e-3333-7000-8000-000000000001",
    "programme_id": "01936b2e-1111-7000-8000-000000000001",
    "state": "scheduled",
    "starts_at": "2026-12-07T09:00:00+01:00",
    "duration_minutes": 60,
    "mode": "video",
    "location": null,
    "agenda": ["AI tools"],
    "held_at": null,
    "actual_duration_minutes": null,
    "topics_discussed": [],
    "cancellation": null,
    "no_show": null,
    "reschedule_count": 0,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct Session {
    pub id: Uuid,
    pub pair_id: Uuid,
    pub programme_id: Uuid,
    pub state: SessionState,
    /// With the offset it was given in.
    pub starts_at: DateTime<FixedOffset>,
    pub duration_minutes: i32,
    pub mode: Mode,
    pub location: Option<String>,
    pub agenda: Vec<String>,
    pub held_at: Option<DateTime<FixedOffset>>,
    pub actual_duration_minutes: Option<i32>,
    pub topics_discussed: Vec<String>,
    pub cancellation: Option<Cancellation>,
    /// Who did not come, for a `no_show` session.
    pub no_show: Option<Absent>,
    pub reschedule_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Session {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }
}

/// The body of `POST /v1/pairs/{id}/sessions`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"starts_at": "2026-12-07T09:00:00+01:00", "duration_minutes": 60, "mode": "video", "agenda": ["AI tools"]}))]
pub struct ScheduleSession {
    /// RFC 3339 with an offset.
    pub starts_at: DateTime<FixedOffset>,
    /// 5–480; defaults to the programme's `session_minutes`.
    #[schema(minimum = 5, maximum = 480)]
    pub duration_minutes: Option<i32>,
    pub mode: Mode,
    pub location: Option<String>,
    #[serde(default)]
    pub agenda: Vec<String>,
}

/// The body of `PATCH /v1/sessions/{id}` (reschedule or re-plan a scheduled session).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"starts_at": "2026-12-08T09:00:00+01:00"}))]
pub struct RescheduleSession {
    pub starts_at: Option<DateTime<FixedOffset>>,
    #[schema(minimum = 5, maximum = 480)]
    pub duration_minutes: Option<i32>,
    pub mode: Option<Mode>,
    #[serde(default, deserialize_with = "super::participants::present")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    pub agenda: Option<Vec<String>>,
}

/// The body of `POST /v1/sessions/{id}/complete`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"held_at": "2026-12-07T09:05:00+01:00", "actual_duration_minutes": 55, "topics_discussed": ["AI tools"]}))]
pub struct CompleteSession {
    /// When it took place; defaults to `starts_at`. Not in the future.
    pub held_at: Option<DateTime<FixedOffset>>,
    #[schema(minimum = 1, maximum = 600)]
    pub actual_duration_minutes: Option<i32>,
    #[serde(default)]
    pub topics_discussed: Vec<String>,
}

/// The body of `POST /v1/sessions/{id}/cancel`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Board meeting moved", "cancelled_by": "mentee"}))]
pub struct CancelSession {
    /// Who cancels. A participant cancels for their own side (and may omit it); admins and managers say who.
    pub cancelled_by: Option<CancelledBy>,
    pub reason: String,
}

/// The body of `POST /v1/sessions/{id}/no-show`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"who": "mentee"}))]
pub struct RecordNoShow {
    pub who: Absent,
}

/// The session, its pair and programme, if the actor may see the pair.
pub async fn visible<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
) -> DomainResult<(Session, Pair, Programme)> {
    let session = scope.session(id).await?.ok_or(DomainError::NotFound("session"))?;
    let (pair, programme) = pairs::visible(scope, actor, session.pair_id)
        .await
        .map_err(|e| match e {
            DomainError::NotFound(_) => DomainError::NotFound("session"),
            other => other,
        })?;
    Ok((session, pair, programme))
}

pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    pair_id: Uuid,
    state: Option<SessionState>,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Session>, bool)> {
    pairs::visible(scope, actor, pair_id).await?;
    let (rows, has_more) = super::page(scope.list_sessions(pair_id, state, after, limit + 1).await?, limit);
    Ok((rows, has_more))
}

pub async fn schedule<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    pair_id: Uuid,
    cmd: ScheduleSession,
) -> DomainResult<Session> {
    let (pair, programme) = pairs::visible_locked(scope, actor, pair_id).await?;
    programmes::ensure_open(&programme)?;
    ensure_can_meet(&pair)?;
    let mut v = Violations::default();
    let duration = cmd.duration_minutes.unwrap_or(programme.ground_rules.session_minutes);
    check_duration(&mut v, "duration_minutes", duration);
    check_starts_at(&mut v, cmd.starts_at);
    let agenda = check_topics(&mut v, &programme, "agenda", cmd.agenda);
    let location = optional_text(&mut v, "location", cmd.location, 500);
    v.into_result()?;
    let now = store::now();
    let session = Session {
        id: store::new_id(),
        pair_id,
        programme_id: programme.id,
        state: SessionState::Scheduled,
        starts_at: cmd.starts_at,
        duration_minutes: duration,
        mode: cmd.mode,
        location,
        agenda,
        held_at: None,
        actual_duration_minutes: None,
        topics_discussed: Vec::new(),
        cancellation: None,
        no_show: None,
        reschedule_count: 0,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    scope.insert_session(&session).await?;
    events::append(scope, EventPayload::SessionScheduled(session.clone())).await?;
    pairs::refresh_commitment(scope, &programme, pair_id).await?;
    Ok(session)
}

pub async fn reschedule<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: RescheduleSession,
    if_match: Option<&str>,
) -> DomainResult<Session> {
    let (current, pair, programme) = lock(scope, actor, id).await?;
    super::check_if_match(&current.etag(), if_match)?;
    ensure_scheduled(&current, SessionState::Scheduled)?;
    ensure_can_meet(&pair)?;
    let mut v = Violations::default();
    let mut next = current.clone();
    if let Some(starts_at) = cmd.starts_at {
        check_starts_at(&mut v, starts_at);
        if starts_at != current.starts_at {
            next.reschedule_count += 1;
        }
        next.starts_at = starts_at;
    }
    if let Some(duration) = cmd.duration_minutes {
        check_duration(&mut v, "duration_minutes", duration);
        next.duration_minutes = duration;
    }
    if let Some(mode) = cmd.mode {
        next.mode = mode;
    }
    if let Some(location) = cmd.location {
        next.location = optional_text(&mut v, "location", location, 500);
    }
    if let Some(agenda) = cmd.agenda {
        next.agenda = check_topics(&mut v, &programme, "agenda", agenda);
    }
    v.into_result()?;
    if next == current {
        return Ok(current);
    }
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::SessionRescheduled(saved.clone())).await?;
    pairs::refresh_commitment(scope, &programme, pair.id).await?;
    Ok(saved)
}

pub async fn complete<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: CompleteSession,
) -> DomainResult<Session> {
    let (current, pair, programme) = lock(scope, actor, id).await?;
    ensure_scheduled(&current, SessionState::Completed)?;
    let mut v = Violations::default();
    let held_at = cmd.held_at.unwrap_or(current.starts_at);
    if held_at.with_timezone(&Utc) > store::now() + Duration::minutes(10) {
        v.add("held_at", "in_future", "a session is completed once it has taken place");
    }
    if let Some(minutes) = cmd.actual_duration_minutes
        && !(1..=600).contains(&minutes)
    {
        v.add("actual_duration_minutes", "out_of_range", "must be between 1 and 600");
    }
    let topics = check_topics(&mut v, &programme, "topics_discussed", cmd.topics_discussed);
    v.into_result()?;
    let next = Session {
        state: SessionState::Completed,
        held_at: Some(held_at),
        actual_duration_minutes: Some(cmd.actual_duration_minutes.unwrap_or(current.duration_minutes)),
        topics_discussed: topics,
        ..current.clone()
    };
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::SessionCompleted(saved.clone())).await?;
    let pair = pairs::refresh_commitment(scope, &programme, pair.id).await?;
    super::surveys::on_session_completed(scope, &programme, &pair, &saved).await?;
    Ok(saved)
}

pub async fn cancel<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: CancelSession,
) -> DomainResult<Session> {
    let (current, pair, programme) = lock(scope, actor, id).await?;
    ensure_scheduled(&current, SessionState::Cancelled)?;
    let by = match actor {
        Actor::Participant(p) => {
            let own = match pair.side_of(p) {
                Some(Side::Mentor) => CancelledBy::Mentor,
                _ => CancelledBy::Mentee,
            };
            if cmd.cancelled_by.is_some_and(|by| by != own) {
                return Err(DomainError::Forbidden(
                    "participants cancel for their own side of the pair".into(),
                ));
            }
            own
        }
        Actor::Admin | Actor::Manager(_) => cmd.cancelled_by.ok_or_else(|| {
            DomainError::Invalid(vec![FieldError::new(
                "cancelled_by",
                "required",
                "say who cancels: mentor, mentee or manager",
            )])
        })?,
    };
    let mut v = Violations::default();
    let reason = super::required_text(&mut v, "reason", &cmd.reason, 1000);
    v.into_result()?;
    let now = store::now();
    let late = current.starts_at.with_timezone(&Utc) - now < Duration::hours(LATE_CANCELLATION_HOURS);
    let next = Session {
        state: SessionState::Cancelled,
        cancellation: Some(Cancellation {
            cancelled_by: by,
            reason,
            late,
            cancelled_at: now,
        }),
        ..current.clone()
    };
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::SessionCancelled(saved.clone())).await?;
    pairs::refresh_commitment(scope, &programme, pair.id).await?;
    Ok(saved)
}

pub async fn no_show<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: RecordNoShow,
) -> DomainResult<Session> {
    let (current, pair, programme) = lock(scope, actor, id).await?;
    ensure_scheduled(&current, SessionState::NoShow)?;
    if current.starts_at.with_timezone(&Utc) > store::now() {
        return Err(DomainError::Invalid(vec![FieldError::new(
            "who",
            "not_started",
            "a no-show is recorded once the session's start has passed",
        )]));
    }
    let next = Session {
        state: SessionState::NoShow,
        no_show: Some(cmd.who),
        ..current.clone()
    };
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::SessionNoShow(saved.clone())).await?;
    pairs::refresh_commitment(scope, &programme, pair.id).await?;
    Ok(saved)
}

/// Cancels a pair's remaining scheduled sessions because the pair ended (not counted against either side).
pub async fn cancel_remaining<C: ConnectionTrait>(scope: &Scope<'_, C>, pair: &Pair, reason: &str) -> DomainResult<()> {
    let now = store::now();
    for current in scope.sessions_of_pair(pair.id).await? {
        if current.state != SessionState::Scheduled {
            continue;
        }
        let next = Session {
            state: SessionState::Cancelled,
            cancellation: Some(Cancellation {
                cancelled_by: CancelledBy::Manager,
                reason: format!("pair {}: {reason}", pair.state.as_str()),
                late: false,
                cancelled_at: now,
            }),
            ..current.clone()
        };
        let saved = save(scope, &current, next).await?;
        events::append(scope, EventPayload::SessionCancelled(saved)).await?;
    }
    Ok(())
}

/// The pair's commitment figures, computed from its sessions in start order and its mentor's role-reversion pulses.
pub async fn commitment_of<C: ConnectionTrait>(scope: &Scope<'_, C>, pair: &Pair) -> DomainResult<Commitment> {
    let mut c = commitment(&scope.sessions_of_pair(pair.id).await?);
    c.role_reversion_in_a_row = super::role_reversion::streak_of(scope, pair.id, pair.mentor.participant_id).await?;
    Ok(c)
}

pub fn commitment(sessions: &[Session]) -> Commitment {
    let mut c = Commitment::default();
    let mut cancellations = Cancellations::default();
    // Outcomes in the order they happened (held, cancelled, missed), for the mentee's cancellation streak.
    let mut outcomes: Vec<(DateTime<Utc>, bool)> = Vec::new();
    for s in sessions {
        match s.state {
            SessionState::Completed => {
                c.sessions_held += 1;
                let held = s.held_at.unwrap_or(s.starts_at).with_timezone(&Utc);
                c.last_session_at = Some(c.last_session_at.map_or(held, |t| t.max(held)));
                outcomes.push((held, false));
            }
            SessionState::Scheduled => {
                c.sessions_scheduled += 1;
                let at = s.starts_at.with_timezone(&Utc);
                c.next_session_at = Some(c.next_session_at.map_or(at, |t| t.min(at)));
            }
            SessionState::Cancelled => {
                if let Some(x) = &s.cancellation {
                    match x.cancelled_by {
                        CancelledBy::Mentor => cancellations.by_mentor += 1,
                        CancelledBy::Mentee => cancellations.by_mentee += 1,
                        CancelledBy::Manager => cancellations.by_manager += 1,
                    }
                    if x.late {
                        cancellations.late += 1;
                    }
                    outcomes.push((x.cancelled_at, x.cancelled_by == CancelledBy::Mentee));
                }
            }
            SessionState::NoShow => {
                c.no_shows += 1;
                outcomes.push((s.starts_at.with_timezone(&Utc), false));
            }
        }
    }
    outcomes.sort_by_key(|(at, _)| *at);
    c.mentee_cancellations_in_a_row = outcomes.iter().rev().take_while(|(_, by_mentee)| *by_mentee).count() as i32;
    c.cancellations = cancellations;
    c
}

/// Locks the pair, then the session (always in that order, as pair changes do, so no two transactions wait on each
/// other), after checking the actor may see the pair. Another pair's session is reported as missing.
async fn lock<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
) -> DomainResult<(Session, Pair, Programme)> {
    let missing = || DomainError::NotFound("session");
    let pair_id = scope.session(id).await?.ok_or_else(missing)?.pair_id;
    let (pair, programme) = pairs::visible_locked(scope, actor, pair_id)
        .await
        .map_err(|e| match e {
            DomainError::NotFound(_) => missing(),
            other => other,
        })?;
    programmes::ensure_open(&programme)?;
    let session = scope.lock_session(id).await?.ok_or_else(missing)?;
    Ok((session, pair, programme))
}

fn ensure_can_meet(pair: &Pair) -> DomainResult<()> {
    if pair.state != PairState::Active {
        return Err(DomainError::Conflict {
            code: "pair_not_active",
            message: format!(
                "sessions are planned for active pairs; this pair is {}",
                pair.state.as_str()
            ),
        });
    }
    if !pair.awaiting_agreement_from.is_empty() {
        return Err(DomainError::Conflict {
            code: "ground_rules_not_agreed",
            message: "the ground rules changed; both sides must agree to the new version before planning sessions"
                .into(),
        });
    }
    Ok(())
}

fn ensure_scheduled(session: &Session, to: SessionState) -> DomainResult<()> {
    if session.state != SessionState::Scheduled {
        return Err(DomainError::IllegalTransition {
            resource: "session",
            from: session.state.as_str().into(),
            to: to.as_str().into(),
            allowed: Vec::new(),
        });
    }
    Ok(())
}

async fn save<C: ConnectionTrait>(scope: &Scope<'_, C>, current: &Session, mut next: Session) -> DomainResult<Session> {
    next.version = current.version + 1;
    next.updated_at = store::now().max(current.updated_at);
    if !scope.update_session(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    Ok(next)
}

fn check_duration(v: &mut Violations, field: &str, minutes: i32) {
    if !(5..=480).contains(&minutes) {
        v.add(field, "out_of_range", "must be between 5 and 480 minutes");
    }
}

fn check_starts_at(v: &mut Violations, starts_at: DateTime<FixedOffset>) {
    let at = starts_at.with_timezone(&Utc);
    let now = store::now();
    if at > now + Duration::days(730) || at < now - Duration::days(730) {
        v.add("starts_at", "out_of_range", "must be within two years of today");
    }
}

/// Agenda and discussed topics: short labels, never one of the programme's off-limit topics.
fn check_topics(v: &mut Violations, programme: &Programme, field: &str, topics: Vec<String>) -> Vec<String> {
    let topics = label_list(v, field, topics, 20);
    for (i, topic) in topics.iter().enumerate() {
        if contains_label(&programme.ground_rules.off_limit_topics, topic) {
            v.add(
                format!("{field}[{i}]"),
                "off_limit_topic",
                format!("`{topic}` is off limits in this programme's ground rules"),
            );
        }
    }
    topics
}
