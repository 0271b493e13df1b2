//! Surveys: templates of questions (`nps`, `likert`, `single_choice`, `text`) that a programme sends at a milestone
//! (after each session, at a pair's midpoint, at its end). Each milestone becomes one survey request per participant,
//! answered once. Scoring sits behind [`SurveyScorer`]; the built-in scorer gives NPS, the "would recommend" share
//! and the mean of each likert question, from counts the database aggregates.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::pairs::{Pair, Side};
use super::programmes::{self, Programme};
use super::sessions::Session;
use super::{Actor, DomainError, DomainResult, Violations, required_text};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// 0–10, "How likely are you to recommend…".
    Nps,
    /// 1–5.
    Likert,
    /// One of `options`.
    SingleChoice,
    /// Free text.
    Text,
}

impl QuestionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Nps => "nps",
            QuestionKind::Likert => "likert",
            QuestionKind::SingleChoice => "single_choice",
            QuestionKind::Text => "text",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Your id for the question (letters, digits, `_` and `-`), unique in the survey.
    #[schema(example = "recommend")]
    pub id: String,
    pub kind: QuestionKind,
    #[schema(example = "How likely are you to recommend the programme to a colleague?")]
    pub prompt: String,
    /// For `single_choice`: 2–20 options.
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// When a pair starts (both sides agreed to the ground rules), before its first session: where a `baseline` is
    /// taken.
    Start,
    /// When a session is marked completed, to both sides of the pair.
    AfterEachSession,
    /// When a pair has held half of its target sessions.
    Midpoint,
    /// When a pair completes.
    End,
}

impl Milestone {
    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::Start => "start",
            Milestone::AfterEachSession => "after_each_session",
            Milestone::Midpoint => "midpoint",
            Milestone::End => "end",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Mentors,
    Mentees,
    #[default]
    Both,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-7777-7000-8000-000000000001",
    "programme_id": "01936b2e-1111-7000-8000-000000000001",
    "title": "End of programme",
    "milestone": "end",
    "audience": "both",
    "questions": [
        {"id": "recommend", "kind": "nps", "prompt": "How likely are you to recommend the programme to a colleague?", "options": [], "required": true},
        {"id": "learnt", "kind": "likert", "prompt": "I learnt something I use at work.", "options": [], "required": true},
        {"id": "story", "kind": "text", "prompt": "What will you remember?", "options": [], "required": false}
    ],
    "active": true,
    "pulse": null,
    "measure": null,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct Survey {
    pub id: Uuid,
    pub programme_id: Uuid,
    pub title: String,
    pub milestone: Milestone,
    pub audience: Audience,
    pub questions: Vec<Question>,
    /// An inactive survey sends no new requests; requests already sent can still be answered.
    pub active: bool,
    /// Set on a built-in pulse (`role_reversion`), whose answers feed a pair's risk; `null` on your own surveys.
    #[serde(default)]
    pub pulse: Option<Pulse>,
    /// `baseline` (a `start` survey) or `follow_up` (an `end` survey): the change in the answers to the questions
    /// both ask is read at `GET /v1/programmes/{id}/outcomes/change`.
    #[serde(default)]
    pub measure: Option<Measure>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Survey {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }
}

/// What a survey measures, for the change between the start and the end of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Taken when the pair starts (milestone `start`).
    Baseline,
    /// Taken when the pair completes (milestone `end`); questions with the same id as the baseline's are compared.
    FollowUp,
}

/// A built-in pulse survey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pulse {
    /// After each held session, to the mentor: who did most of the talking, did the conversation keep to the agreed
    /// topics (see `role_reversion`).
    RoleReversion,
}

/// The body of `POST /v1/programmes/{id}/surveys`. Questions cannot change once created (answers refer to them);
/// create a new survey instead.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "End of programme",
    "milestone": "end",
    "questions": [
        {"id": "recommend", "kind": "nps", "prompt": "How likely are you to recommend the programme to a colleague?"},
        {"id": "learnt", "kind": "likert", "prompt": "I learnt something I use at work."},
        {"id": "format", "kind": "single_choice", "prompt": "Best format?", "options": ["in person", "video"]},
        {"id": "story", "kind": "text", "prompt": "What will you remember?", "required": false}
    ]
}))]
pub struct CreateSurvey {
    pub title: String,
    pub milestone: Milestone,
    pub audience: Option<Audience>,
    pub questions: Vec<Question>,
    /// Mark a `start` survey `baseline`, an `end` survey `follow_up`.
    #[serde(default)]
    pub measure: Option<Measure>,
}

/// The body of `PATCH /v1/programmes/{id}/surveys/{survey_id}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": false}))]
pub struct UpdateSurvey {
    pub title: Option<String>,
    pub active: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Answered,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Answered => "answered",
        }
    }
}

/// A survey sent to one participant at one milestone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-8888-7000-8000-000000000001",
    "survey_id": "01936b2e-7777-7000-8000-000000000001",
    "programme_id": "01936b2e-1111-7000-8000-000000000001",
    "pair_id": "01936b2e-3333-7000-8000-000000000001",
    "participant_id": "01936b2e-8f4a-7c3d-9a1b-000000000009",
    "trigger": "end:01936b2e-3333-7000-8000-000000000001",
    "state": "pending",
    "created_at": "2027-06-30T17:00:00Z",
    "answered_at": null,
    "title": "End of programme",
    "questions": [{"id": "recommend", "kind": "nps", "prompt": "How likely are you to recommend the programme to a colleague?", "options": [], "required": true}]
}))]
pub struct SurveyRequest {
    pub id: Uuid,
    pub survey_id: Uuid,
    pub programme_id: Uuid,
    pub pair_id: Uuid,
    pub participant_id: Uuid,
    /// What sent it: `start:<pair id>`, `session:<id>`, `midpoint:<pair id>` or `end:<pair id>`.
    pub trigger: String,
    pub state: RequestState,
    pub created_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    /// The survey's title and questions, to render the form.
    pub title: String,
    pub questions: Vec<Question>,
}

/// One answer in `POST /v1/survey-requests/{id}/response`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    pub question_id: String,
    /// An integer for `nps` (0–10) and `likert` (1–5), one of the options for `single_choice`, text for `text`.
    #[schema(value_type = AnswerValue)]
    pub value: Value,
}

/// An answer's value: an integer (`nps`, `likert`) or text (`single_choice`, `text`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum AnswerValue {
    Integer(i64),
    Text(String),
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"answers": [{"question_id": "recommend", "value": 10}, {"question_id": "learnt", "value": 4}, {"question_id": "format", "value": "video"}]}))]
pub struct SubmitResponse {
    pub answers: Vec<AnswerInput>,
}

/// A validated answer, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub question_id: String,
    pub kind: QuestionKind,
    pub value: Option<i32>,
    pub choice: Option<String>,
    pub text: Option<String>,
}

/// Answer counts of one survey, aggregated by the database: what scorers work from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub responses: u64,
    /// question id → (value or choice → count)
    pub numeric: BTreeMap<String, BTreeMap<i32, u64>>,
    pub choices: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A named score.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Score {
    #[schema(example = "nps.recommend")]
    pub name: String,
    #[schema(example = "Net Promoter Score: How likely are you to recommend the programme to a colleague?")]
    pub label: String,
    /// `null` when there is nothing to score yet.
    pub value: Option<f64>,
    /// How many answers the score rests on.
    pub answers: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "survey_id": "01936b2e-7777-7000-8000-000000000001",
    "scorer": "builtin",
    "requests": 40,
    "responses": 36,
    "scores": [
        {"name": "nps.recommend", "label": "Net Promoter Score: Would you recommend the programme?", "value": 61.11, "answers": 36},
        {"name": "would_recommend.recommend", "label": "Share answering 9 or 10 (%): Would you recommend the programme?", "value": 72.22, "answers": 36}
    ]
}))]
pub struct SurveyScores {
    pub survey_id: Uuid,
    /// The scorer that produced `scores`: always the built-in one (NPS, "would recommend" share, means, shares).
    #[schema(example = "builtin")]
    pub scorer: String,
    pub requests: u64,
    pub responses: u64,
    pub scores: Vec<Score>,
    /// The scores of the programme's survey-scorer plugin, when its `survey_scorer` names one (computed in the
    /// background after each response; see `state`).
    pub plugin: Option<super::survey_scores::PluginScores>,
}

/// Turns a survey's answer counts into named scores. One implementation is built in; an organisation's plugin can
/// take its place.
pub trait SurveyScorer {
    fn name(&self) -> &str;
    fn score(&self, survey: &Survey, tally: &Tally) -> Vec<Score>;
}

/// NPS (share of promoters minus share of detractors, −100…100), the "would recommend" share (9–10 answers, %) per
/// `nps` question; the mean per `likert` question; the share of each option per `single_choice` question.
pub struct BuiltinScorer;

impl SurveyScorer for BuiltinScorer {
    fn name(&self) -> &str {
        "builtin"
    }

    fn score(&self, survey: &Survey, tally: &Tally) -> Vec<Score> {
        let mut scores = Vec::new();
        let empty = BTreeMap::new();
        for q in &survey.questions {
            match q.kind {
                QuestionKind::Nps => {
                    let counts = tally.numeric.get(&q.id).unwrap_or(&empty);
                    let (n, promoters, detractors) = nps_counts(counts);
                    scores.push(Score {
                        name: format!("nps.{}", q.id),
                        label: format!("Net Promoter Score: {}", q.prompt),
                        value: nps(n, promoters, detractors),
                        answers: n,
                    });
                    scores.push(Score {
                        name: format!("would_recommend.{}", q.id),
                        label: format!("Share answering 9 or 10 (%): {}", q.prompt),
                        value: share(promoters, n),
                        answers: n,
                    });
                }
                QuestionKind::Likert => {
                    let counts = tally.numeric.get(&q.id).unwrap_or(&empty);
                    let n: u64 = counts.values().sum();
                    let sum: f64 = counts.iter().map(|(v, c)| *v as f64 * *c as f64).sum();
                    scores.push(Score {
                        name: format!("mean.{}", q.id),
                        label: format!("Mean (1–5): {}", q.prompt),
                        value: (n > 0).then(|| round2(sum / n as f64)),
                        answers: n,
                    });
                }
                QuestionKind::SingleChoice => {
                    let counts = tally.choices.get(&q.id);
                    let n: u64 = counts.map(|c| c.values().sum()).unwrap_or(0);
                    for option in &q.options {
                        let k = counts.and_then(|c| c.get(option)).copied().unwrap_or(0);
                        scores.push(Score {
                            name: format!("share.{}.{}", q.id, option),
                            label: format!("Share choosing \"{option}\" (%): {}", q.prompt),
                            value: share(k, n),
                            answers: n,
                        });
                    }
                }
                QuestionKind::Text => {}
            }
        }
        scores
    }
}

pub fn nps_counts(counts: &BTreeMap<i32, u64>) -> (u64, u64, u64) {
    let n = counts.values().sum();
    let promoters = counts.iter().filter(|(v, _)| **v >= 9).map(|(_, c)| c).sum();
    let detractors = counts.iter().filter(|(v, _)| **v <= 6).map(|(_, c)| c).sum();
    (n, promoters, detractors)
}

pub fn nps(n: u64, promoters: u64, detractors: u64) -> Option<f64> {
    (n > 0).then(|| round2((promoters as f64 - detractors as f64) * 100.0 / n as f64))
}

pub fn share(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| round2(k as f64 * 100.0 / n as f64))
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ---- surveys ----

pub async fn create<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    cmd: CreateSurvey,
) -> DomainResult<Survey> {
    let programme = programmes::managed_open(scope, actor, programme_id).await?;
    let mut v = Violations::default();
    let title = required_text(&mut v, "title", &cmd.title, 200);
    let questions = check_questions(&mut v, cmd.questions);
    match (cmd.measure, cmd.milestone) {
        (Some(Measure::Baseline), m) if m != Milestone::Start => {
            v.add(
                "measure",
                "milestone_mismatch",
                "a baseline is taken at the `start` milestone",
            );
        }
        (Some(Measure::FollowUp), m) if m != Milestone::End => {
            v.add(
                "measure",
                "milestone_mismatch",
                "a follow-up is taken at the `end` milestone",
            );
        }
        _ => {}
    }
    v.into_result()?;
    let now = store::now();
    let survey = Survey {
        id: store::new_id(),
        programme_id: programme.id,
        title,
        milestone: cmd.milestone,
        audience: cmd.audience.unwrap_or_default(),
        questions,
        active: true,
        pulse: None,
        measure: cmd.measure,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    insert(scope, survey).await
}

/// Stores a new survey and its `survey.created` event.
pub(super) async fn insert<C: ConnectionTrait>(scope: &Scope<'_, C>, survey: Survey) -> DomainResult<Survey> {
    scope.insert_survey(&survey).await?;
    events::append(scope, EventPayload::SurveyCreated(survey.clone())).await?;
    Ok(survey)
}

pub async fn update<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    id: Uuid,
    cmd: UpdateSurvey,
    if_match: Option<&str>,
) -> DomainResult<Survey> {
    programmes::managed_open(scope, actor, programme_id).await?;
    let current = scope
        .survey(id)
        .await?
        .filter(|s| s.programme_id == programme_id)
        .ok_or(DomainError::NotFound("survey"))?;
    super::check_if_match(&current.etag(), if_match)?;
    let mut v = Violations::default();
    let mut next = current.clone();
    if let Some(title) = &cmd.title {
        next.title = required_text(&mut v, "title", title, 200);
    }
    if let Some(active) = cmd.active {
        next.active = active;
    }
    v.into_result()?;
    if next == current {
        return Ok(current);
    }
    next.version = current.version + 1;
    next.updated_at = store::now().max(current.updated_at);
    if !scope.update_survey(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    events::append(scope, EventPayload::SurveyUpdated(next.clone())).await?;
    Ok(next)
}

pub async fn get<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    id: Uuid,
) -> DomainResult<Survey> {
    programmes::managed(scope, actor, programme_id).await?;
    scope
        .survey(id)
        .await?
        .filter(|s| s.programme_id == programme_id)
        .ok_or(DomainError::NotFound("survey"))
}

pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Survey>, bool)> {
    programmes::managed(scope, actor, programme_id).await?;
    let (rows, has_more) = super::page(scope.list_surveys(programme_id, after, limit + 1).await?, limit);
    Ok((rows, has_more))
}

/// The survey's scores by the given scorer, from database aggregates.
pub async fn scores<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    id: Uuid,
    scorer: &dyn SurveyScorer,
) -> DomainResult<SurveyScores> {
    let survey = get(scope, actor, programme_id, id).await?;
    let tally = scope.survey_tally(id).await?;
    let requests = scope.count_survey_requests(id).await?;
    let plugin = match scope.programme(programme_id).await? {
        Some(programme) => super::survey_scores::view(scope, &programme, id).await?,
        None => None,
    };
    Ok(SurveyScores {
        survey_id: id,
        scorer: scorer.name().to_string(),
        requests,
        responses: tally.responses,
        scores: scorer.score(&survey, &tally),
        plugin,
    })
}

// ---- requests and responses ----

pub struct RequestFilter {
    pub participant_id: Option<Uuid>,
    pub programme_id: Option<Uuid>,
    pub state: Option<RequestState>,
}

/// Survey requests the actor may see: a participant their own; admins all; managers those of their programmes.
pub async fn list_requests<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    mut filter: RequestFilter,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<SurveyRequest>, bool)> {
    match actor {
        Actor::Admin => {}
        Actor::Participant(p) => filter.participant_id = Some(p),
        Actor::Manager(_) => {
            let Some(programme_id) = filter.programme_id else {
                return Err(DomainError::Invalid(vec![super::FieldError::new(
                    "programme_id",
                    "required",
                    "managers list the survey requests of one of their programmes",
                )]));
            };
            programmes::managed(scope, actor, programme_id).await?;
        }
    }
    let (rows, has_more) = super::page(scope.list_survey_requests(&filter, after, limit + 1).await?, limit);
    Ok((rows, has_more))
}

pub async fn get_request<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
) -> DomainResult<SurveyRequest> {
    let request = scope
        .survey_request(id)
        .await?
        .ok_or(DomainError::NotFound("survey request"))?;
    let ok = match actor {
        Actor::Admin => true,
        Actor::Participant(p) => request.participant_id == p,
        Actor::Manager(p) => scope
            .programme(request.programme_id)
            .await?
            .is_some_and(|programme| programme.is_manager(p)),
    };
    if ok {
        Ok(request)
    } else {
        Err(DomainError::NotFound("survey request"))
    }
}

/// Records a participant's answers to their survey request, once.
pub async fn respond<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: SubmitResponse,
) -> DomainResult<SurveyRequest> {
    let request = get_request(scope, actor, id).await?;
    if actor != Actor::Participant(request.participant_id) {
        return Err(DomainError::Forbidden(
            "only the participant asked answers a survey".into(),
        ));
    }
    if request.state == RequestState::Answered {
        return Err(already_answered());
    }
    let mut v = Violations::default();
    let answers = check_answers(&mut v, &request.questions, cmd.answers);
    v.into_result()?;
    let now = store::now();
    // Guarded on the pending state: of two concurrent answers, exactly one is recorded.
    if !scope.mark_request_answered(id, now).await? {
        return Err(already_answered());
    }
    scope.insert_answers(&request, &answers).await?;
    super::survey_scores::on_response(scope, request.survey_id, request.programme_id).await?;
    super::role_reversion::on_response(scope, &request).await?;
    let answered = SurveyRequest {
        state: RequestState::Answered,
        answered_at: Some(now),
        ..request
    };
    events::append(scope, EventPayload::SurveyResponseSubmitted(answered.clone())).await?;
    Ok(answered)
}

fn already_answered() -> DomainError {
    DomainError::Conflict {
        code: "already_answered",
        message: "this survey request has already been answered".into(),
    }
}

/// Sends the `after_each_session` surveys for a completed session, and the `midpoint` ones when this session brought
/// the pair to half its target.
pub async fn on_session_completed<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme: &Programme,
    pair: &Pair,
    session: &Session,
) -> DomainResult<()> {
    send(
        scope,
        pair,
        Milestone::AfterEachSession,
        &format!("session:{}", session.id),
    )
    .await?;
    let half = (programme.ground_rules.target_sessions + 1) / 2;
    if pair.commitment.sessions_held == half {
        send(scope, pair, Milestone::Midpoint, &format!("midpoint:{}", pair.id)).await?;
    }
    Ok(())
}

/// Sends the `start` surveys (baselines) of a pair that just started.
pub async fn on_pair_started<C: ConnectionTrait>(scope: &Scope<'_, C>, pair: &Pair) -> DomainResult<()> {
    send(scope, pair, Milestone::Start, &format!("start:{}", pair.id)).await
}

pub async fn on_pair_completed<C: ConnectionTrait>(scope: &Scope<'_, C>, pair: &Pair) -> DomainResult<()> {
    send(scope, pair, Milestone::End, &format!("end:{}", pair.id)).await
}

/// One request per active survey of the milestone and per participant of the audience; a trigger that already sent a
/// request sends nothing more.
async fn send<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    pair: &Pair,
    milestone: Milestone,
    trigger: &str,
) -> DomainResult<()> {
    for survey in scope.active_surveys(pair.programme_id, milestone).await? {
        let sides: &[Side] = match survey.audience {
            Audience::Mentors => &[Side::Mentor],
            Audience::Mentees => &[Side::Mentee],
            Audience::Both => &[Side::Mentor, Side::Mentee],
        };
        for side in sides {
            let participant_id = pair.member(*side).participant_id;
            if scope.survey_request_exists(survey.id, participant_id, trigger).await? {
                continue;
            }
            let request = SurveyRequest {
                id: store::new_id(),
                survey_id: survey.id,
                programme_id: pair.programme_id,
                pair_id: pair.id,
                participant_id,
                trigger: trigger.to_string(),
                state: RequestState::Pending,
                created_at: store::now(),
                answered_at: None,
                title: survey.title.clone(),
                questions: survey.questions.clone(),
            };
            scope.insert_survey_request(&request).await?;
            events::append(scope, EventPayload::SurveyRequested(request)).await?;
        }
    }
    Ok(())
}

fn check_questions(v: &mut Violations, questions: Vec<Question>) -> Vec<Question> {
    if questions.is_empty() || questions.len() > 50 {
        v.add("questions", "out_of_range", "a survey has 1 to 50 questions");
    }
    let mut seen: Vec<String> = Vec::new();
    questions
        .into_iter()
        .enumerate()
        .map(|(i, mut q)| {
            let field = format!("questions[{i}]");
            q.id = q.id.trim().to_string();
            if q.id.is_empty()
                || q.id.len() > 64
                || !q.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                v.add(
                    format!("{field}.id"),
                    "invalid_format",
                    "1–64 letters, digits, `_` or `-`",
                );
            } else if q.id.starts_with(super::role_reversion::QUESTION_PREFIX) {
                v.add(
                    format!("{field}.id"),
                    "reserved",
                    "ids starting with `role_reversion_` are the built-in pulse's",
                );
            } else if seen.contains(&q.id) {
                v.add(
                    format!("{field}.id"),
                    "duplicate",
                    "question ids are unique in a survey",
                );
            }
            seen.push(q.id.clone());
            q.prompt = required_text(v, &format!("{field}.prompt"), &q.prompt, 500);
            match q.kind {
                QuestionKind::SingleChoice => {
                    q.options = super::label_list(v, &format!("{field}.options"), q.options, 20);
                    if q.options.len() < 2 {
                        v.add(
                            format!("{field}.options"),
                            "out_of_range",
                            "a single choice has 2 to 20 options",
                        );
                    }
                }
                _ if !q.options.is_empty() => {
                    v.add(
                        format!("{field}.options"),
                        "not_allowed",
                        "only single_choice questions have options",
                    );
                }
                _ => {}
            }
            q
        })
        .collect()
}

fn check_answers(v: &mut Violations, questions: &[Question], input: Vec<AnswerInput>) -> Vec<Answer> {
    let mut answers: Vec<Answer> = Vec::new();
    for (i, a) in input.into_iter().enumerate() {
        let field = format!("answers[{i}].value");
        let Some(q) = questions.iter().find(|q| q.id == a.question_id) else {
            v.add(
                format!("answers[{i}].question_id"),
                "not_found",
                "no such question in this survey",
            );
            continue;
        };
        if answers.iter().any(|x| x.question_id == q.id) {
            v.add(
                format!("answers[{i}].question_id"),
                "duplicate",
                "each question is answered once",
            );
            continue;
        }
        let mut answer = Answer {
            question_id: q.id.clone(),
            kind: q.kind,
            value: None,
            choice: None,
            text: None,
        };
        match q.kind {
            QuestionKind::Nps | QuestionKind::Likert => {
                let (lo, hi) = if q.kind == QuestionKind::Nps { (0, 10) } else { (1, 5) };
                match a.value.as_i64() {
                    Some(n) if (lo..=hi).contains(&n) => answer.value = Some(n as i32),
                    _ => v.add(field, "out_of_range", format!("must be an integer from {lo} to {hi}")),
                }
            }
            QuestionKind::SingleChoice => match a.value.as_str() {
                Some(s) if q.options.iter().any(|o| o == s) => answer.choice = Some(s.to_string()),
                _ => v.add(
                    field,
                    "invalid_choice",
                    format!("must be one of: {}", q.options.join(", ")),
                ),
            },
            QuestionKind::Text => match a.value.as_str().map(str::trim) {
                Some(s) if s.chars().count() <= 4000 => answer.text = Some(s.to_string()),
                Some(_) => v.add(field, "too_long", "must be at most 4000 characters"),
                None => v.add(field, "invalid_type", "must be a string"),
            },
        }
        answers.push(answer);
    }
    for q in questions.iter().filter(|q| q.required) {
        if !answers.iter().any(|a| a.question_id == q.id) {
            v.add("answers", "required", format!("question `{}` must be answered", q.id));
        }
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nps_is_promoters_minus_detractors() {
        let counts: BTreeMap<i32, u64> = [(10, 5), (9, 2), (8, 1), (3, 2)].into_iter().collect();
        let (n, p, d) = nps_counts(&counts);
        assert_eq!((n, p, d), (10, 7, 2));
        assert_eq!(nps(n, p, d), Some(50.0));
        assert_eq!(share(p, n), Some(70.0));
        assert_eq!(nps(0, 0, 0), None);
    }
}
