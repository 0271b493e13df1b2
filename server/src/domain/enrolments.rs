//! Enrolments: a participant joining a programme as a mentor (the junior side) or a mentee (the senior side), with
//! the topics they care about and, for mentors, how many mentees they can take. Participants enrol themselves while
//! the programme is enrolling; admins and the programme's managers enrol anyone. Withdrawal dissolves the
//! participant's open pairs.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::programmes::{self, Programme, ProgrammeState};
use super::{Actor, DomainError, DomainResult, Violations, optional_text, required_text};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope, StoreError};

pub const CAPACITY_MAX: i32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentRole {
    /// The junior side, who mentors.
    Mentor,
    /// The senior side, who is mentored.
    Mentee,
}

impl EnrolmentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrolmentRole::Mentor => "mentor",
            EnrolmentRole::Mentee => "mentee",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentState {
    Active,
    Withdrawn,
}

impl EnrolmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrolmentState::Active => "active",
            EnrolmentState::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Withdrawal {
    pub reason: String,
    pub withdrawn_at: DateTime<Utc>,
    /// The participant who withdrew, or `null` when an admin or manager did it for them.
    pub withdrawn_by: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-2222-7000-8000-000000000001",
    "programme_id": "01936b2e-1111-7000-8000-000000000001",
    "participant_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b",
    "role": "mentor",
    "topics": ["AI tools", "social media"],
    "goals": "Help a leader feel at home with generative AI.",
    "capacity": 1,
    "availability": "Tuesday and Thursday mornings",
    "state": "active",
    "withdrawal": null,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct Enrolment {
    pub id: Uuid,
    pub programme_id: Uuid,
    pub participant_id: Uuid,
    pub role: EnrolmentRole,
    /// A subset of the programme's topics.
    pub topics: Vec<String>,
    pub goals: Option<String>,
    /// How many pairs this participant may be in at once in this programme (1–10, default 1).
    pub capacity: i32,
    pub availability: Option<String>,
    pub state: EnrolmentState,
    pub withdrawal: Option<Withdrawal>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Enrolment {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }
}

/// The body of `POST /v1/programmes/{id}/enrolments`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"participant_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b", "role": "mentor", "topics": ["AI tools"], "goals": "Help a leader feel at home with generative AI.", "capacity": 1}))]
pub struct CreateEnrolment {
    /// Who enrols. A participant enrolling themselves may omit it; admins and managers must give it.
    pub participant_id: Option<Uuid>,
    pub role: EnrolmentRole,
    #[serde(default)]
    pub topics: Vec<String>,
    pub goals: Option<String>,
    #[schema(minimum = 1, maximum = 10)]
    pub capacity: Option<i32>,
    pub availability: Option<String>,
}

/// The body of `PATCH /v1/enrolments/{id}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"topics": ["AI tools", "hybrid work"], "capacity": 2}))]
pub struct UpdateEnrolment {
    pub topics: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::participants::present")]
    #[schema(value_type = Option<String>)]
    pub goals: Option<Option<String>>,
    #[schema(minimum = 1, maximum = 10)]
    pub capacity: Option<i32>,
    #[serde(default, deserialize_with = "super::participants::present")]
    #[schema(value_type = Option<String>)]
    pub availability: Option<Option<String>>,
}

/// The body of `POST /v1/enrolments/{id}/withdraw`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Moving to a new role abroad"}))]
pub struct Withdraw {
    pub reason: String,
}

/// The enrolment and its programme, if the actor may see them: admins, the programme's managers, the participant.
pub async fn visible<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
) -> DomainResult<(Enrolment, Programme)> {
    let enrolment = scope.enrolment(id).await?.ok_or(DomainError::NotFound("enrolment"))?;
    let programme = scope
        .programme(enrolment.programme_id)
        .await?
        .ok_or(DomainError::NotFound("enrolment"))?;
    let ok = match actor {
        Actor::Admin => true,
        Actor::Manager(p) => programme.is_manager(p),
        Actor::Participant(p) => enrolment.participant_id == p,
    };
    if ok {
        Ok((enrolment, programme))
    } else {
        Err(DomainError::NotFound("enrolment"))
    }
}

#[derive(Default)]
pub struct EnrolmentFilter {
    pub role: Option<EnrolmentRole>,
    pub state: Option<EnrolmentState>,
    /// Set for participants: they only ever see their own.
    pub participant_id: Option<Uuid>,
}

pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    mut filter: EnrolmentFilter,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Enrolment>, bool)> {
    programmes::visible(scope, actor, programme_id).await?;
    if let Actor::Participant(p) = actor {
        filter.participant_id = Some(p);
    }
    let (rows, has_more) = super::page(
        scope
            .list_enrolments(Some(programme_id), &filter, after, limit + 1)
            .await?,
        limit,
    );
    Ok((rows, has_more))
}

pub async fn create<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    cmd: CreateEnrolment,
) -> DomainResult<Enrolment> {
    let programme = programmes::visible(scope, actor, programme_id).await?;
    let participant_id = match actor {
        Actor::Participant(me) => {
            if cmd.participant_id.is_some_and(|p| p != me) {
                return Err(DomainError::Forbidden("participants may only enrol themselves".into()));
            }
            if programme.state != ProgrammeState::Enrolling {
                return Err(DomainError::Conflict {
                    code: "enrolment_closed",
                    message: format!(
                        "the programme is {}; participants enrol themselves only while it is enrolling",
                        programme.state.as_str()
                    ),
                });
            }
            me
        }
        Actor::Admin | Actor::Manager(_) => {
            programmes::ensure_open(&programme)?;
            cmd.participant_id.ok_or_else(|| {
                DomainError::Invalid(vec![super::FieldError::new(
                    "participant_id",
                    "required",
                    "say who is enrolling",
                )])
            })?
        }
    };

    let mut v = Violations::default();
    match scope.participant(participant_id).await? {
        Some(p) if p.active => {}
        Some(_) => v.add("participant_id", "participant_inactive", "the participant is inactive"),
        None => v.add(
            "participant_id",
            "not_found",
            "no participant with this id in the organisation",
        ),
    }
    let topics = check_topics(&mut v, &programme, cmd.topics);
    let capacity = check_capacity(&mut v, cmd.capacity.unwrap_or(1));
    let now = store::now();
    let enrolment = Enrolment {
        id: store::new_id(),
        programme_id,
        participant_id,
        role: cmd.role,
        topics,
        goals: optional_text(&mut v, "goals", cmd.goals, 2000),
        capacity,
        availability: optional_text(&mut v, "availability", cmd.availability, 500),
        state: EnrolmentState::Active,
        withdrawal: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    v.into_result()?;
    scope.insert_enrolment(&enrolment).await.map_err(|e| match e {
        StoreError::UniqueViolation(_) => DomainError::Conflict {
            code: "already_enrolled",
            message: "the participant already has an enrolment in this programme".into(),
        },
        other => other.into(),
    })?;
    events::append(scope, EventPayload::EnrolmentCreated(enrolment.clone())).await?;
    Ok(enrolment)
}

pub async fn update<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: UpdateEnrolment,
    if_match: Option<&str>,
) -> DomainResult<Enrolment> {
    let (_, programme) = visible(scope, actor, id).await?;
    programmes::ensure_open(&programme)?;
    let current = scope
        .lock_enrolment(id)
        .await?
        .ok_or(DomainError::NotFound("enrolment"))?;
    super::check_if_match(&current.etag(), if_match)?;
    ensure_active(&current)?;
    let mut v = Violations::default();
    let mut next = current.clone();
    if let Some(topics) = cmd.topics {
        next.topics = check_topics(&mut v, &programme, topics);
    }
    if let Some(goals) = cmd.goals {
        next.goals = optional_text(&mut v, "goals", goals, 2000);
    }
    if let Some(availability) = cmd.availability {
        next.availability = optional_text(&mut v, "availability", availability, 500);
    }
    if let Some(capacity) = cmd.capacity {
        next.capacity = check_capacity(&mut v, capacity);
        let open = scope
            .count_open_pairs_of(current.programme_id, current.participant_id)
            .await?;
        if (capacity as u64) < open {
            v.add(
                "capacity",
                "below_open_pairs",
                format!("the participant is already in {open} open pairs"),
            );
        }
    }
    v.into_result()?;
    if next == current {
        return Ok(current);
    }
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::EnrolmentUpdated(saved.clone())).await?;
    Ok(saved)
}

/// Withdraws the enrolment and dissolves the participant's open pairs in this programme.
pub async fn withdraw<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: Withdraw,
) -> DomainResult<Enrolment> {
    let (_, programme) = visible(scope, actor, id).await?;
    programmes::ensure_open(&programme)?;
    let mut v = Violations::default();
    let reason = required_text(&mut v, "reason", &cmd.reason, 1000);
    v.into_result()?;
    let current = scope
        .lock_enrolment(id)
        .await?
        .ok_or(DomainError::NotFound("enrolment"))?;
    ensure_active(&current)?;
    let next = Enrolment {
        state: EnrolmentState::Withdrawn,
        withdrawal: Some(Withdrawal {
            reason: reason.clone(),
            withdrawn_at: store::now(),
            withdrawn_by: match actor {
                Actor::Participant(p) => Some(p),
                _ => None,
            },
        }),
        ..current.clone()
    };
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::EnrolmentWithdrawn(saved.clone())).await?;
    super::pairs::dissolve_all_of(scope, &programme, saved.participant_id, "enrolment_withdrawn").await?;
    Ok(saved)
}

fn ensure_active(enrolment: &Enrolment) -> DomainResult<()> {
    if enrolment.state == EnrolmentState::Withdrawn {
        return Err(DomainError::Conflict {
            code: "enrolment_withdrawn",
            message: "the enrolment was withdrawn".into(),
        });
    }
    Ok(())
}

async fn save<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    current: &Enrolment,
    mut next: Enrolment,
) -> DomainResult<Enrolment> {
    next.version = current.version + 1;
    next.updated_at = store::now().max(current.updated_at);
    if !scope.update_enrolment(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    Ok(next)
}

/// Topics must come from the programme's catalogue; they are stored with the catalogue's spelling.
fn check_topics(v: &mut Violations, programme: &Programme, topics: Vec<String>) -> Vec<String> {
    let topics = super::label_list(v, "topics", topics, 100);
    let mut out = Vec::with_capacity(topics.len());
    for (i, topic) in topics.iter().enumerate() {
        match programme
            .topics
            .iter()
            .find(|t| t.to_lowercase() == topic.to_lowercase())
        {
            Some(canonical) => out.push(canonical.clone()),
            None => v.add(
                format!("topics[{i}]"),
                "unknown_topic",
                "is not one of the programme's topics",
            ),
        }
    }
    out
}

fn check_capacity(v: &mut Violations, capacity: i32) -> i32 {
    if !(1..=CAPACITY_MAX).contains(&capacity) {
        v.add(
            "capacity",
            "out_of_range",
            format!("must be between 1 and {CAPACITY_MAX}"),
        );
    }
    capacity
}
