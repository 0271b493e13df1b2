//! What a pair writes down. **Notes** are private to the pair: each participant reads and writes their own and may
//! share one with the other side; admins and managers see that notes exist, never what they say. **Learnings** are
//! what either side learnt and the actions they will take — reverse mentoring is a two-way street. A learning
//! becomes a programme **story** only with both sides' consent: it tells what the pair discussed, in confidence, so
//! the author asks (`publish`) and the other side agrees (`consent`) or declines.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::pairs::{self, Pair, PairState, Side};
use super::programmes::{self, Programme};
use super::{Actor, DomainError, DomainResult, Violations, required_text};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope};

const NOTE_MAX: usize = 20_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-5555-7000-8000-000000000001",
    "pair_id": "01936b2e-3333-7000-8000-000000000001",
    "session_id": "01936b2e-4444-7000-8000-000000000001",
    "author_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b",
    "shared": false,
    "body": "Showed how I use an AI assistant to draft release notes; next time: prompts for board papers.",
    "created_at": "2026-12-07T10:05:00Z",
    "updated_at": "2026-12-07T10:05:00Z"
}))]
pub struct Note {
    pub id: Uuid,
    pub pair_id: Uuid,
    pub session_id: Option<Uuid>,
    pub author_id: Uuid,
    /// Whether the author shares it with the other side of the pair.
    pub shared: bool,
    /// The text: present for the author, and for the other side once shared; never for anyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Note {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }

    fn readable_by(&self, actor: Actor, pair: &Pair) -> bool {
        match actor.participant_id() {
            Some(p) if p == self.author_id => true,
            Some(p) if matches!(actor, Actor::Participant(_)) => self.shared && pair.side_of(p).is_some(),
            _ => false,
        }
    }

    /// The note as this actor may see it: the body only if they may read it.
    pub fn for_actor(mut self, actor: Actor, pair: &Pair) -> Note {
        if !self.readable_by(actor, pair) {
            self.body = None;
        }
        self
    }

    /// The note as events carry it: never the body.
    pub fn without_body(&self) -> Note {
        Note {
            body: None,
            ..self.clone()
        }
    }
}

/// The body of `POST /v1/pairs/{id}/notes`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Next time: prompts for board papers.", "session_id": "01936b2e-4444-7000-8000-000000000001", "shared": false}))]
pub struct WriteNote {
    pub body: String,
    /// The session the note is about, if any (one of this pair's).
    pub session_id: Option<Uuid>,
    #[serde(default)]
    pub shared: bool,
}

/// The body of `PATCH /v1/notes/{id}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"shared": true}))]
pub struct UpdateNote {
    pub body: Option<String>,
    pub shared: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Planned,
    InProgress,
    Done,
    Dropped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Action {
    pub id: Uuid,
    pub description: String,
    pub status: ActionStatus,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// Keep an existing action's id to update it; omit for a new action.
    pub id: Option<Uuid>,
    pub description: String,
    /// Default `planned`.
    pub status: Option<ActionStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-6666-7000-8000-000000000001",
    "pair_id": "01936b2e-3333-7000-8000-000000000001",
    "programme_id": "01936b2e-1111-7000-8000-000000000001",
    "author_id": "01936b2e-8f4a-7c3d-9a1b-000000000009",
    "author_side": "mentee",
    "text": "Our graduates expect feedback weekly, not yearly.",
    "actions": [{"id": "01936b2e-6666-7000-8000-0000000000a1", "description": "Start fortnightly 1:1s with my directs", "status": "in_progress"}],
    "published": true,
    "story_title": "What a graduate taught me about feedback",
    "publication_consents": ["mentee", "mentor"],
    "published_at": "2027-02-01T12:00:00Z",
    "created_at": "2027-01-20T10:00:00Z",
    "updated_at": "2027-02-01T12:00:00Z"
}))]
pub struct Learning {
    pub id: Uuid,
    pub pair_id: Uuid,
    pub programme_id: Uuid,
    /// Who wrote it.
    pub author_id: Uuid,
    /// Which side of the pair wrote it.
    #[serde(default = "mentee_side")]
    pub author_side: Side,
    pub text: String,
    pub actions: Vec<Action>,
    /// A programme story: both sides consented.
    pub published: bool,
    /// The story's title, from the author's request to publish (set while the other side's consent is awaited).
    pub story_title: Option<String>,
    /// The sides that consented to publishing it as a story: the author's when they ask, the other side's when it
    /// agrees. Published once both are here.
    #[serde(default)]
    pub publication_consents: Vec<Side>,
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Learning {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }
}

/// Learnings written before both sides could write them were the mentee's.
fn mentee_side() -> Side {
    Side::Mentee
}

/// The body of `POST /v1/pairs/{id}/learnings`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Our graduates expect feedback weekly, not yearly.", "actions": [{"description": "Start fortnightly 1:1s with my directs"}]}))]
pub struct WriteLearning {
    pub text: String,
    #[serde(default)]
    pub actions: Vec<ActionInput>,
}

/// The body of `PATCH /v1/learnings/{id}`: `actions`, when sent, replaces the list.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"actions": [{"id": "01936b2e-6666-7000-8000-0000000000a1", "description": "Start fortnightly 1:1s with my directs", "status": "done"}]}))]
pub struct UpdateLearning {
    pub text: Option<String>,
    pub actions: Option<Vec<ActionInput>>,
}

/// The body of `POST /v1/learnings/{id}/publish`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "What a graduate taught me about feedback"}))]
pub struct PublishLearning {
    pub title: String,
}

/// A published learning, as the programme shows it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "learning_id": "01936b2e-6666-7000-8000-000000000001",
    "title": "What a graduate taught me about feedback",
    "text": "Our graduates expect feedback weekly, not yearly.",
    "author_id": "01936b2e-8f4a-7c3d-9a1b-000000000009",
    "author_side": "mentee",
    "published_at": "2027-02-01T12:00:00Z"
}))]
pub struct Story {
    pub learning_id: Uuid,
    pub title: String,
    pub text: String,
    pub author_id: Uuid,
    /// Which side of the pair told it.
    pub author_side: Side,
    pub published_at: DateTime<Utc>,
}

// ---- notes ----

pub async fn list_notes<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    pair_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Note>, bool)> {
    let (pair, _) = pairs::visible(scope, actor, pair_id).await?;
    // A participant lists their own notes and what the other side shared; admins and managers list them all,
    // without their text.
    let reader = match actor {
        Actor::Participant(p) => Some(p),
        _ => None,
    };
    let (rows, has_more) = super::page(scope.list_notes(pair_id, reader, after, limit + 1).await?, limit);
    Ok((rows.into_iter().map(|n| n.for_actor(actor, &pair)).collect(), has_more))
}

pub async fn get_note<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<Note> {
    let (note, pair) = visible_note(scope, actor, id).await?;
    Ok(note.for_actor(actor, &pair))
}

pub async fn write_note<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    pair_id: Uuid,
    cmd: WriteNote,
) -> DomainResult<Note> {
    let (pair, programme) = pairs::visible(scope, actor, pair_id).await?;
    let author = member(actor, &pair, "only the pair's two participants write notes")?;
    programmes::ensure_not_archived(&programme)?;
    let mut v = Violations::default();
    let body = required_text(&mut v, "body", &cmd.body, NOTE_MAX);
    if let Some(session_id) = cmd.session_id
        && scope.session(session_id).await?.is_none_or(|s| s.pair_id != pair_id)
    {
        v.add("session_id", "not_found", "no session with this id in this pair");
    }
    v.into_result()?;
    let now = store::now();
    let note = Note {
        id: store::new_id(),
        pair_id,
        session_id: cmd.session_id,
        author_id: author,
        shared: cmd.shared,
        body: Some(body),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    scope.insert_note(&note).await?;
    events::append(scope, EventPayload::NoteCreated(note.without_body())).await?;
    Ok(note)
}

pub async fn update_note<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: UpdateNote,
    if_match: Option<&str>,
) -> DomainResult<Note> {
    let (current, pair) = visible_note(scope, actor, id).await?;
    if actor.participant_id() != Some(current.author_id) || !matches!(actor, Actor::Participant(_)) {
        return Err(DomainError::Forbidden("only the note's author changes it".into()));
    }
    super::check_if_match(&current.etag(), if_match)?;
    let mut v = Violations::default();
    let mut next = current.clone();
    if let Some(body) = &cmd.body {
        next.body = Some(required_text(&mut v, "body", body, NOTE_MAX));
    }
    if let Some(shared) = cmd.shared {
        next.shared = shared;
    }
    v.into_result()?;
    if next == current {
        return Ok(current);
    }
    next.version = current.version + 1;
    next.updated_at = store::now().max(current.updated_at);
    if !scope.update_note(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    events::append(scope, EventPayload::NoteUpdated(next.without_body())).await?;
    Ok(next.for_actor(actor, &pair))
}

pub async fn delete_note<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<()> {
    let (current, _) = visible_note(scope, actor, id).await?;
    if actor.participant_id() != Some(current.author_id) || !matches!(actor, Actor::Participant(_)) {
        return Err(DomainError::Forbidden("only the note's author deletes it".into()));
    }
    scope.delete_note(id).await?;
    events::append(scope, EventPayload::NoteDeleted(current.without_body())).await?;
    Ok(())
}

/// A note exists for its author, for the other side once shared, and (as metadata) for admins and managers; for the
/// other side of the pair an unshared note does not exist at all.
async fn visible_note<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<(Note, Pair)> {
    let note = scope.note(id).await?.ok_or(DomainError::NotFound("note"))?;
    let (pair, _) = pairs::visible(scope, actor, note.pair_id)
        .await
        .map_err(|_| DomainError::NotFound("note"))?;
    if let Actor::Participant(p) = actor
        && p != note.author_id
        && !note.shared
    {
        return Err(DomainError::NotFound("note"));
    }
    Ok((note, pair))
}

fn member(actor: Actor, pair: &Pair, refusal: &str) -> DomainResult<Uuid> {
    match actor {
        Actor::Participant(p) if pair.side_of(p).is_some() => Ok(p),
        _ => Err(DomainError::Forbidden(refusal.into())),
    }
}

// ---- learnings ----

pub async fn list_learnings<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    pair_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Learning>, bool)> {
    pairs::visible(scope, actor, pair_id).await?;
    let (rows, has_more) = super::page(scope.list_learnings(pair_id, after, limit + 1).await?, limit);
    Ok((rows, has_more))
}

pub async fn get_learning<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<Learning> {
    let learning = scope.learning(id).await?.ok_or(DomainError::NotFound("learning"))?;
    pairs::visible(scope, actor, learning.pair_id)
        .await
        .map_err(|_| DomainError::NotFound("learning"))?;
    Ok(learning)
}

pub async fn write_learning<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    pair_id: Uuid,
    cmd: WriteLearning,
) -> DomainResult<Learning> {
    let (pair, programme) = pairs::visible(scope, actor, pair_id).await?;
    let (author, author_side) = match actor {
        Actor::Participant(p) => match pair.side_of(p) {
            Some(side) => (p, side),
            None => return Err(DomainError::NotFound("pair")),
        },
        _ => {
            return Err(DomainError::Forbidden(
                "the pair's two participants record learnings".into(),
            ));
        }
    };
    programmes::ensure_not_archived(&programme)?;
    if matches!(pair.state, PairState::Proposed | PairState::Dissolved) {
        return Err(DomainError::Conflict {
            code: "pair_not_started",
            message: format!(
                "learnings are recorded in a pair that has started; this one is {}",
                pair.state.as_str()
            ),
        });
    }
    let mut v = Violations::default();
    let text = required_text(&mut v, "text", &cmd.text, 10_000);
    let actions = check_actions(&mut v, &[], cmd.actions);
    v.into_result()?;
    let now = store::now();
    let learning = Learning {
        id: store::new_id(),
        pair_id,
        programme_id: programme.id,
        author_id: author,
        author_side,
        text,
        actions,
        published: false,
        story_title: None,
        publication_consents: Vec::new(),
        published_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    scope.insert_learning(&learning).await?;
    events::append(scope, EventPayload::LearningCreated(learning.clone())).await?;
    Ok(learning)
}

pub async fn update_learning<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: UpdateLearning,
    if_match: Option<&str>,
) -> DomainResult<Learning> {
    let current = authored_learning(scope, actor, id).await?;
    super::check_if_match(&current.etag(), if_match)?;
    let mut v = Violations::default();
    let mut next = current.clone();
    if let Some(text) = &cmd.text {
        next.text = required_text(&mut v, "text", text, 10_000);
    }
    if let Some(actions) = cmd.actions {
        next.actions = check_actions(&mut v, &current.actions, actions);
    }
    v.into_result()?;
    if next == current {
        return Ok(current);
    }
    let saved = save_learning(scope, &current, next).await?;
    events::append(scope, EventPayload::LearningUpdated(saved.clone())).await?;
    Ok(saved)
}

pub async fn publish<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: PublishLearning,
) -> DomainResult<Learning> {
    let current = authored_learning(scope, actor, id).await?;
    let mut v = Violations::default();
    let title = required_text(&mut v, "title", &cmd.title, 200);
    v.into_result()?;
    if current.published {
        return Err(already_published());
    }
    if current.story_title.is_some() {
        return Err(DomainError::Conflict {
            code: "consent_awaited",
            message: "publishing this learning was already asked; the other side's answer is awaited".into(),
        });
    }
    let next = Learning {
        story_title: Some(title),
        publication_consents: vec![current.author_side],
        ..current.clone()
    };
    let saved = save_learning(scope, &current, next).await?;
    events::append(scope, EventPayload::LearningPublicationRequested(saved.clone())).await?;
    Ok(saved)
}

fn already_published() -> DomainError {
    DomainError::Conflict {
        code: "already_published",
        message: "the learning is already published".into(),
    }
}

/// The other side of the pair answers the author's request to publish: with `consent`, the learning becomes a
/// programme story (`learning.published`); without, the request is withdrawn
/// (`learning.publication_declined`) and the learning stays the pair's.
pub async fn answer_publication<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    consent: bool,
) -> DomainResult<Learning> {
    let learning = get_learning(scope, actor, id).await?;
    let (pair, programme) = pairs::visible(scope, actor, learning.pair_id).await?;
    let other_side = match learning.author_side {
        Side::Mentor => Side::Mentee,
        Side::Mentee => Side::Mentor,
    };
    match actor {
        Actor::Participant(p) if pair.side_of(p) == Some(other_side) => {}
        _ => {
            return Err(DomainError::Forbidden(
                "the other side of the pair (not the author) answers a request to publish".into(),
            ));
        }
    }
    programmes::ensure_not_archived(&programme)?;
    let current = scope
        .lock_learning(id)
        .await?
        .ok_or(DomainError::NotFound("learning"))?;
    if current.published {
        return Err(already_published());
    }
    if current.story_title.is_none() {
        return Err(DomainError::Conflict {
            code: "publication_not_requested",
            message: "the author has not asked to publish this learning".into(),
        });
    }
    let (next, event): (Learning, fn(Learning) -> EventPayload) = if consent {
        let mut consents = current.publication_consents.clone();
        consents.push(other_side);
        (
            Learning {
                published: true,
                published_at: Some(store::now()),
                publication_consents: consents,
                ..current.clone()
            },
            EventPayload::LearningPublished,
        )
    } else {
        (
            Learning {
                story_title: None,
                publication_consents: Vec::new(),
                ..current.clone()
            },
            EventPayload::LearningPublicationDeclined,
        )
    };
    let saved = save_learning(scope, &current, next).await?;
    events::append(scope, event(saved.clone())).await?;
    Ok(saved)
}

pub async fn stories<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Story>, bool)> {
    programmes::visible(scope, actor, programme_id).await?;
    let (rows, has_more) = super::page(scope.published_learnings(programme_id, after, limit + 1).await?, limit);
    Ok((
        rows.into_iter()
            .map(|l| Story {
                learning_id: l.id,
                title: l.story_title.unwrap_or_default(),
                text: l.text,
                author_id: l.author_id,
                author_side: l.author_side,
                published_at: l.published_at.unwrap_or(l.updated_at),
            })
            .collect(),
        has_more,
    ))
}

async fn authored_learning<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<Learning> {
    let learning = get_learning(scope, actor, id).await?;
    match actor {
        Actor::Participant(p) if p == learning.author_id => {}
        _ => return Err(DomainError::Forbidden("only the learning's author changes it".into())),
    }
    let programme: Programme = scope
        .programme(learning.programme_id)
        .await?
        .ok_or(DomainError::NotFound("learning"))?;
    programmes::ensure_not_archived(&programme)?;
    scope.lock_learning(id).await?.ok_or(DomainError::NotFound("learning"))
}

async fn save_learning<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    current: &Learning,
    mut next: Learning,
) -> DomainResult<Learning> {
    next.version = current.version + 1;
    next.updated_at = store::now().max(current.updated_at);
    if !scope.update_learning(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    Ok(next)
}

fn check_actions(v: &mut Violations, existing: &[Action], input: Vec<ActionInput>) -> Vec<Action> {
    if input.len() > 50 {
        v.add("actions", "too_many", "at most 50 actions");
    }
    input
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let id = match a.id {
                Some(id) if existing.iter().any(|e| e.id == id) => id,
                Some(_) => {
                    v.add(
                        format!("actions[{i}].id"),
                        "not_found",
                        "no action with this id in this learning",
                    );
                    store::new_id()
                }
                None => store::new_id(),
            };
            Action {
                id,
                description: required_text(v, &format!("actions[{i}].description"), &a.description, 1000),
                status: a.status.unwrap_or(ActionStatus::Planned),
            }
        })
        .collect()
}
