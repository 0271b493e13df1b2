//! Programmes: a reverse-mentoring programme's settings (goals, topics, ground rules, matching and risk settings), its
//! managers, and its state machine `draft → enrolling → matching → active → completed → archived` (and
//! `draft → archived`) with the guards of each move. Also who may see and manage a programme.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, DomainError, DomainResult, Violations, label_list, optional_text, required_text};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope};

const TOPICS_MAX: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProgrammeState {
    Draft,
    Enrolling,
    Matching,
    Active,
    Completed,
    Archived,
}

impl ProgrammeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgrammeState::Draft => "draft",
            ProgrammeState::Enrolling => "enrolling",
            ProgrammeState::Matching => "matching",
            ProgrammeState::Active => "active",
            ProgrammeState::Completed => "completed",
            ProgrammeState::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<ProgrammeState> {
        [
            ProgrammeState::Draft,
            ProgrammeState::Enrolling,
            ProgrammeState::Matching,
            ProgrammeState::Active,
            ProgrammeState::Completed,
            ProgrammeState::Archived,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }

    /// The state machine: where each state may go next.
    pub fn next(self) -> &'static [ProgrammeState] {
        use ProgrammeState::*;
        match self {
            Draft => &[Enrolling, Archived],
            Enrolling => &[Matching],
            Matching => &[Active],
            Active => &[Completed],
            Completed => &[Archived],
            Archived => &[],
        }
    }

    /// Completed and archived programmes are history: read-only.
    pub fn is_closed(self) -> bool {
        matches!(self, ProgrammeState::Completed | ProgrammeState::Archived)
    }
}

/// What both sides of a pair agree to before they start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "confidentiality": "What is said in a session stays in the pair.",
    "off_limit_topics": ["individual salaries", "performance ratings"],
    "meeting_cadence_days": 14,
    "target_sessions": 6,
    "session_minutes": 60,
    "location_guidance": "Meet away from either person's team, or on video."
}))]
pub struct GroundRules {
    #[serde(default = "default_confidentiality")]
    pub confidentiality: String,
    /// Topics that must never be put on a session's agenda (compared case-insensitively).
    #[serde(default)]
    pub off_limit_topics: Vec<String>,
    /// How often the pair is expected to meet, in days (1–90, default 14).
    #[serde(default = "default_cadence")]
    #[schema(minimum = 1, maximum = 90)]
    pub meeting_cadence_days: i32,
    /// How many sessions make a complete mentoring relationship (1–50, default 6).
    #[serde(default = "default_target")]
    #[schema(minimum = 1, maximum = 50)]
    pub target_sessions: i32,
    /// The usual length of a session (15–480, default 60).
    #[serde(default = "default_minutes")]
    #[schema(minimum = 15, maximum = 480)]
    pub session_minutes: i32,
    #[serde(default)]
    pub location_guidance: Option<String>,
}

fn default_confidentiality() -> String {
    "What is said in a session stays in the pair, unless both agree to share it.".into()
}
fn default_cadence() -> i32 {
    14
}
fn default_target() -> i32 {
    6
}
fn default_minutes() -> i32 {
    60
}

impl Default for GroundRules {
    fn default() -> Self {
        GroundRules {
            confidentiality: default_confidentiality(),
            off_limit_topics: Vec::new(),
            meeting_cadence_days: default_cadence(),
            target_sessions: default_target(),
            session_minutes: default_minutes(),
            location_guidance: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CrossDepartment {
    /// Pairs from the same department are refused.
    Required,
    /// Cross-department pairs score higher, same-department ones are allowed.
    #[default]
    Preferred,
    /// Departments play no part.
    Ignored,
}

/// Relative weights of the matching engine's factors (each 0–100).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchingWeights {
    #[serde(default = "one")]
    pub shared_topics: f64,
    #[serde(default = "half")]
    pub level_gap: f64,
    #[serde(default = "half")]
    pub cross_department: f64,
    #[serde(default = "quarter")]
    pub shared_languages: f64,
    /// Same time zone, same location.
    #[serde(default = "quarter")]
    pub proximity: f64,
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn quarter() -> f64 {
    0.25
}

impl Default for MatchingWeights {
    fn default() -> Self {
        MatchingWeights {
            shared_topics: one(),
            level_gap: half(),
            cross_department: half(),
            shared_languages: quarter(),
            proximity: quarter(),
        }
    }
}

/// What the matching engine (and manual pairing) reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"min_level_gap": 2, "cross_department": "required", "weights": {"shared_topics": 1.0, "level_gap": 0.5, "cross_department": 0.5, "shared_languages": 0.25}}))]
pub struct MatchingSettings {
    /// The mentee's level must exceed the mentor's by at least this much (0–100, default 1).
    #[serde(default = "default_gap")]
    #[schema(minimum = 0, maximum = 100)]
    pub min_level_gap: i32,
    #[serde(default)]
    pub cross_department: CrossDepartment,
    #[serde(default)]
    pub weights: MatchingWeights,
    /// The policy that scores candidates: `builtin`, or a ready matcher plugin release as `name@version`.
    #[serde(default = "builtin")]
    #[schema(example = "builtin")]
    pub policy: String,
    /// Off (`null`) unless the programme opts in: the special-category attributes a matcher plugin may read, and
    /// why. Each opt-in, and each run that reads them, is recorded with this purpose in the audit trail.
    #[serde(default)]
    pub special_category: Option<SpecialCategoryMatching>,
}

/// A programme's opt-in to matching on special-category attributes (GDPR Art. 9). A matcher plugin then finds, for
/// each person who recorded them with consent, the named attributes under the `$sensitive` member of the profile's
/// `attributes`; the built-in policy ignores them. Nobody else sees them: not proposals, events, webhooks or exports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"attributes": ["first_generation_graduate"], "purpose": "Pair first-generation graduates with leaders who were not, at their request"}))]
pub struct SpecialCategoryMatching {
    /// Names of the sensitive attributes the matcher may read (1 to 20).
    #[schema(min_items = 1, max_items = 20)]
    pub attributes: Vec<String>,
    /// Why matching needs them, in words the organisation would show the people concerned (1 to 500 characters).
    #[schema(max_length = 500)]
    pub purpose: String,
}

impl SpecialCategoryMatching {
    /// The line the audit trail keeps for an opt-in or a run that reads the attributes.
    pub fn audit_purpose(&self) -> String {
        format!(
            "matching reads special-category attributes [{}]: {}",
            self.attributes.join(", "),
            self.purpose
        )
    }
}

impl Default for MatchingSettings {
    fn default() -> Self {
        MatchingSettings {
            min_level_gap: default_gap(),
            cross_department: CrossDepartment::default(),
            weights: MatchingWeights::default(),
            policy: builtin(),
            special_category: None,
        }
    }
}

pub(crate) fn builtin() -> String {
    super::plugins::BUILTIN.to_string()
}

fn default_gap() -> i32 {
    1
}

/// When a pair counts as at risk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"inactivity_days": null, "mentee_cancellations_in_a_row": 2, "late_cancellations": 3, "role_reversion_in_a_row": 2}))]
pub struct RiskSettings {
    /// An active pair with no session held in this many days and none scheduled in the next as many is at risk.
    /// `null` (default) means twice the meeting cadence.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 365)]
    pub inactivity_days: Option<i32>,
    /// This many cancellations in a row by the mentee (the senior side) put the pair at risk (default 2).
    #[serde(default = "two")]
    #[schema(minimum = 1, maximum = 100)]
    pub mentee_cancellations_in_a_row: i32,
    /// This many late cancellations (under 24 h before the start), by either side, put the pair at risk (default 3).
    #[serde(default = "three")]
    #[schema(minimum = 1, maximum = 100)]
    pub late_cancellations: i32,
    /// This many role-reversion pulses in a row in which the mentor says the mentee did most of the talking put the
    /// pair at risk (default 2; see `POST /v1/programmes/{id}/pulses/role-reversion`).
    #[serde(default = "two")]
    #[schema(minimum = 1, maximum = 100)]
    pub role_reversion_in_a_row: i32,
}

fn two() -> i32 {
    2
}
fn three() -> i32 {
    3
}

impl Default for RiskSettings {
    fn default() -> Self {
        RiskSettings {
            inactivity_days: None,
            mentee_cancellations_in_a_row: two(),
            late_cancellations: three(),
            role_reversion_in_a_row: two(),
        }
    }
}

impl RiskSettings {
    pub fn inactivity_days(&self, rules: &GroundRules) -> i64 {
        self.inactivity_days
            .map(i64::from)
            .unwrap_or(2 * rules.meeting_cadence_days as i64)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-1111-7000-8000-000000000001",
    "name": "Digital fluency 2027",
    "description": "Graduates mentor the executive team on digital tools and culture.",
    "goals": ["digital fluency", "inclusive leadership"],
    "topics": ["AI tools", "social media", "hybrid work"],
    "ground_rules": {"confidentiality": "What is said in a session stays in the pair.", "off_limit_topics": ["individual salaries"], "meeting_cadence_days": 14, "target_sessions": 6, "session_minutes": 60, "location_guidance": null},
    "ground_rules_version": 1,
    "starts_on": "2027-01-11",
    "ends_on": "2027-06-30",
    "managers": ["01936b2e-8f4a-7c3d-9a1b-000000000009"],
    "matching": {"min_level_gap": 1, "cross_department": "preferred", "weights": {"shared_topics": 1.0, "level_gap": 0.5, "cross_department": 0.5, "shared_languages": 0.25}},
    "risk": {"inactivity_days": null, "mentee_cancellations_in_a_row": 2, "late_cancellations": 3, "role_reversion_in_a_row": 2},
    "state": "enrolling",
    "allowed_transitions": ["matching"],
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct Programme {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub goals: Vec<String>,
    /// The catalogue of discussion topics the programme offers; enrolments pick from it.
    pub topics: Vec<String>,
    pub ground_rules: GroundRules,
    /// Goes up each time the ground rules change after a pair agreed to them; pairs must agree to the current one.
    pub ground_rules_version: i32,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// Participants who manage this programme (with a `programme_manager` token).
    pub managers: Vec<Uuid>,
    pub matching: MatchingSettings,
    pub risk: RiskSettings,
    /// What scores the programme's surveys: `builtin`, or a ready survey-scorer plugin release as `name@version`.
    #[serde(default = "builtin")]
    #[schema(example = "builtin")]
    pub survey_scorer: String,
    /// A template to clone programmes from (`POST /v1/programmes/{id}/clone`): it stays a `draft` (it can only be
    /// archived), so nobody enrols in it.
    #[serde(default)]
    pub template: bool,
    pub state: ProgrammeState,
    /// The states `POST /transitions` accepts from here.
    #[serde(default)]
    pub allowed_transitions: Vec<ProgrammeState>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Programme {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }

    /// Fills the derived fields after a load or a change.
    pub fn derive(mut self) -> Programme {
        self.allowed_transitions = self
            .state
            .next()
            .iter()
            .copied()
            .filter(|to| !self.template || *to == ProgrammeState::Archived)
            .collect();
        self
    }

    pub fn is_manager(&self, participant_id: Uuid) -> bool {
        self.managers.contains(&participant_id)
    }
}

/// The body of `POST /v1/programmes`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Digital fluency 2027",
    "description": "Graduates mentor the executive team on digital tools and culture.",
    "goals": ["digital fluency"],
    "topics": ["AI tools", "social media", "hybrid work"],
    "ground_rules": {"off_limit_topics": ["individual salaries"], "meeting_cadence_days": 14},
    "starts_on": "2027-01-11",
    "ends_on": "2027-06-30",
    "matching": {"min_level_gap": 2, "cross_department": "required"}
}))]
pub struct CreateProgramme {
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub goals: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    /// Omitted fields take their defaults.
    pub ground_rules: Option<GroundRules>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    #[serde(default)]
    pub managers: Vec<Uuid>,
    pub matching: Option<MatchingSettings>,
    pub risk: Option<RiskSettings>,
    /// `builtin` (default) or a survey-scorer plugin release as `name@version`.
    pub survey_scorer: Option<String>,
    /// Create it as a template to clone programmes from.
    #[serde(default)]
    pub template: bool,
}

/// The body of `PATCH /v1/programmes/{id}`: absent fields stay; the nested objects (`ground_rules`, `matching`,
/// `risk`) are JSON Merge Patches (RFC 7396), so a patch never loosens a rule it did not name.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ground_rules": {"off_limit_topics": ["individual salaries", "reorganisations"], "meeting_cadence_days": 14}}))]
pub struct UpdateProgramme {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::participants::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub goals: Option<Vec<String>>,
    pub topics: Option<Vec<String>>,
    /// A JSON Merge Patch (RFC 7396) of the ground rules: fields not named keep their values; `null` returns a field
    /// to its default.
    #[schema(value_type = Option<GroundRules>)]
    pub ground_rules: Option<serde_json::Value>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub managers: Option<Vec<Uuid>>,
    /// A JSON Merge Patch of the matching settings (`{"matching": {"policy": "acme@1.0.0"}}` changes the policy and
    /// nothing else; `weights` merge the same way).
    #[schema(value_type = Option<MatchingSettings>)]
    pub matching: Option<serde_json::Value>,
    /// A JSON Merge Patch of the risk settings.
    #[schema(value_type = Option<RiskSettings>)]
    pub risk: Option<serde_json::Value>,
    pub survey_scorer: Option<String>,
    /// Mark a `draft` programme as a template (or no longer one).
    pub template: Option<bool>,
}

/// The body of `POST /v1/programmes/{id}/clone`: the new programme's name and dates. Everything else that shapes a
/// programme comes from the source — description, goals, topics, ground rules, matching settings and policy plugin,
/// risk settings, survey scorer, surveys and pulses — and nothing about people: no enrolments, pairs or sessions.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Digital fluency 2028", "starts_on": "2028-01-10", "ends_on": "2028-06-30"}))]
pub struct CloneProgramme {
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// Replaces the source's description when given.
    pub description: Option<String>,
    /// Admins only: the new programme's managers (default none). A manager who clones becomes the clone's manager.
    #[serde(default)]
    pub managers: Vec<Uuid>,
    /// Make the clone a template too (default: a programme to run).
    #[serde(default)]
    pub template: bool,
}

/// The programme if the actor may see it: admins all, managers theirs, participants the ones open for enrolment and
/// the ones they are enrolled in. Anything else is reported as missing.
pub async fn visible<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<Programme> {
    let programme = scope.programme(id).await?.ok_or(DomainError::NotFound("programme"))?;
    check_visible(scope, actor, &programme).await?;
    Ok(programme)
}

async fn check_visible<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme: &Programme,
) -> DomainResult<()> {
    let ok = match actor {
        Actor::Admin => true,
        Actor::Manager(p) => programme.is_manager(p),
        Actor::Participant(p) => {
            programme.state == ProgrammeState::Enrolling || scope.enrolment_of(programme.id, p).await?.is_some()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(DomainError::NotFound("programme"))
    }
}

/// The programme, locked (on PostgreSQL) until the transaction ends, if the actor may manage it: what every change
/// to the programme starts with, so of two racing changes the second is judged against the first's result.
async fn locked_managed<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<Programme> {
    let programme = scope
        .lock_programme(id)
        .await?
        .ok_or(DomainError::NotFound("programme"))?;
    check_visible(scope, actor, &programme).await?;
    check_manager(actor)?;
    Ok(programme)
}

fn check_manager(actor: Actor) -> DomainResult<()> {
    match actor {
        Actor::Admin | Actor::Manager(_) => Ok(()),
        Actor::Participant(_) => Err(DomainError::Forbidden(
            "only the organisation's admins and the programme's managers may do this".into(),
        )),
    }
}

/// The programme if the actor may manage it (admins, and the managers it lists). A participant who can see it gets a
/// 403; anyone else a 404.
pub async fn managed<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<Programme> {
    let programme = visible(scope, actor, id).await?;
    check_manager(actor)?;
    Ok(programme)
}

/// Like [`managed`], but also refuses a completed or archived programme.
pub async fn managed_open<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor, id: Uuid) -> DomainResult<Programme> {
    let programme = managed(scope, actor, id).await?;
    ensure_open(&programme)?;
    Ok(programme)
}

pub fn ensure_open(programme: &Programme) -> DomainResult<()> {
    if programme.state.is_closed() {
        return Err(DomainError::Conflict {
            code: "programme_closed",
            message: format!("the programme is {}; it can no longer change", programme.state.as_str()),
        });
    }
    Ok(())
}

/// Refuses only an archived programme: a completed one still takes the pairs' reflections (notes, learnings, stories).
pub fn ensure_not_archived(programme: &Programme) -> DomainResult<()> {
    if programme.state == ProgrammeState::Archived {
        return Err(DomainError::Conflict {
            code: "programme_closed",
            message: "the programme is archived; it can no longer change".into(),
        });
    }
    Ok(())
}

/// Programmes the actor may see, in creation order.
pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    state: Option<ProgrammeState>,
    template: Option<bool>,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Programme>, bool)> {
    let (rows, has_more) = super::page(
        scope.list_programmes(actor, state, template, after, limit + 1).await?,
        limit,
    );
    Ok((rows, has_more))
}

pub async fn create<C: ConnectionTrait>(scope: &Scope<'_, C>, cmd: CreateProgramme) -> DomainResult<Programme> {
    let mut v = Violations::default();
    let now = store::now();
    let mut programme = Programme {
        id: store::new_id(),
        name: required_text(&mut v, "name", &cmd.name, 200),
        description: optional_text(&mut v, "description", cmd.description, 4000),
        goals: label_list(&mut v, "goals", cmd.goals, 50),
        topics: label_list(&mut v, "topics", cmd.topics, TOPICS_MAX),
        ground_rules: cmd.ground_rules.unwrap_or_default(),
        ground_rules_version: 1,
        starts_on: cmd.starts_on,
        ends_on: cmd.ends_on,
        managers: Vec::new(),
        matching: cmd.matching.unwrap_or_default(),
        risk: cmd.risk.unwrap_or_default(),
        survey_scorer: cmd.survey_scorer.unwrap_or_else(builtin),
        template: cmd.template,
        state: ProgrammeState::Draft,
        allowed_transitions: Vec::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    programme.ground_rules = check_ground_rules(&mut v, programme.ground_rules);
    check_settings(&mut v, &programme);
    check_plugins(scope, &mut v, &programme, None).await?;
    programme.managers = check_managers(scope, &mut v, cmd.managers).await?;
    v.into_result()?;
    let programme = programme.derive();
    scope.insert_programme(&programme).await?;
    events::append(scope, EventPayload::ProgrammeCreated(programme.clone())).await?;
    Ok(programme)
}

/// A new `draft` programme shaped like `id` (see [`CloneProgramme`]), with copies of its surveys; emits
/// `programme.created` and a `survey.created` per survey. Admins and the source's managers clone.
pub async fn clone_programme<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: CloneProgramme,
) -> DomainResult<Programme> {
    let source = managed(scope, actor, id).await?;
    let managers = match actor {
        Actor::Manager(me) if cmd.managers.is_empty() => vec![me],
        Actor::Manager(_) => {
            return Err(DomainError::Forbidden(
                "only the organisation's admins may name a programme's managers".into(),
            ));
        }
        _ => cmd.managers,
    };
    let surveys = scope.list_surveys(source.id, None, 10_000).await?;
    let programme = create(
        scope,
        CreateProgramme {
            name: cmd.name,
            description: cmd.description.or(source.description),
            goals: source.goals,
            topics: source.topics,
            ground_rules: Some(source.ground_rules),
            starts_on: cmd.starts_on,
            ends_on: cmd.ends_on,
            managers,
            matching: Some(source.matching),
            risk: Some(source.risk),
            survey_scorer: Some(source.survey_scorer),
            template: cmd.template,
        },
    )
    .await?;
    let now = store::now();
    for survey in surveys {
        super::surveys::insert(
            scope,
            super::surveys::Survey {
                id: store::new_id(),
                programme_id: programme.id,
                created_at: now,
                updated_at: now,
                version: 1,
                ..survey
            },
        )
        .await?;
    }
    Ok(programme)
}

pub async fn update<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    cmd: UpdateProgramme,
    if_match: Option<&str>,
) -> DomainResult<Programme> {
    let current = locked_managed(scope, actor, id).await?;
    ensure_open(&current)?;
    super::check_if_match(&current.etag(), if_match)?;
    if let (Actor::Manager(_), Some(_)) = (actor, &cmd.managers) {
        return Err(DomainError::Forbidden(
            "only the organisation's admins may change a programme's managers".into(),
        ));
    }

    let mut v = Violations::default();
    let mut next = current.clone();
    if let Some(name) = &cmd.name {
        next.name = required_text(&mut v, "name", name, 200);
    }
    if let Some(description) = cmd.description {
        next.description = optional_text(&mut v, "description", description, 4000);
    }
    if let Some(goals) = cmd.goals {
        next.goals = label_list(&mut v, "goals", goals, 50);
    }
    if let Some(topics) = cmd.topics {
        next.topics = label_list(&mut v, "topics", topics, TOPICS_MAX);
    }
    if let Some(patch) = cmd.ground_rules
        && let Some(rules) = super::patched(&mut v, "ground_rules", &current.ground_rules, patch)
    {
        next.ground_rules = check_ground_rules(&mut v, rules);
    }
    if let Some(starts_on) = cmd.starts_on {
        next.starts_on = starts_on;
    }
    if let Some(ends_on) = cmd.ends_on {
        next.ends_on = ends_on;
    }
    if let Some(patch) = cmd.matching
        && let Some(matching) = super::patched(&mut v, "matching", &current.matching, patch)
    {
        next.matching = matching;
    }
    if let Some(patch) = cmd.risk
        && let Some(risk) = super::patched(&mut v, "risk", &current.risk, patch)
    {
        next.risk = risk;
    }
    if let Some(scorer) = cmd.survey_scorer {
        next.survey_scorer = scorer;
    }
    if let Some(template) = cmd.template {
        if template && current.state != ProgrammeState::Draft {
            v.add(
                "template",
                "not_draft",
                "only a draft programme can be a template (nobody has enrolled in it)",
            );
        }
        next.template = template;
    }
    check_settings(&mut v, &next);
    check_plugins(scope, &mut v, &next, Some(&current)).await?;
    if let Some(managers) = cmd.managers {
        next.managers = check_managers(scope, &mut v, managers).await?;
    }
    v.into_result()?;
    if next == current {
        return Ok(current);
    }

    // Ground rules never change under a pair's feet: once anyone agreed to them, a change is a new version that
    // every pair must agree to again.
    let rules_changed = next.ground_rules != current.ground_rules
        && super::pairs::anyone_agreed(scope, id, current.ground_rules_version).await?;
    if rules_changed {
        next.ground_rules_version += 1;
    }
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::ProgrammeUpdated(saved.clone())).await?;
    if saved.survey_scorer != current.survey_scorer {
        super::survey_scores::on_scorer_changed(scope, &saved).await?;
    }
    if rules_changed {
        events::append(scope, EventPayload::ProgrammeGroundRulesChanged(saved.clone())).await?;
    }
    Ok(saved)
}

/// Moves the programme to `to`, if the state machine and the move's guard allow it. Completing a programme completes
/// its running pairs and dissolves the ones still proposed, each with its own event.
pub async fn transition<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    id: Uuid,
    to: ProgrammeState,
    if_match: Option<&str>,
) -> DomainResult<Programme> {
    let current = locked_managed(scope, actor, id).await?;
    super::check_if_match(&current.etag(), if_match)?;
    if current.template && to != ProgrammeState::Archived {
        return Err(DomainError::Conflict {
            code: "programme_is_template",
            message: "a template stays a draft: clone it (POST /v1/programmes/{id}/clone) to run a programme".into(),
        });
    }
    if !current.state.next().contains(&to) {
        return Err(DomainError::IllegalTransition {
            resource: "programme",
            from: current.state.as_str().into(),
            to: to.as_str().into(),
            allowed: current.state.next().iter().map(|s| s.as_str().to_string()).collect(),
        });
    }
    match to {
        ProgrammeState::Enrolling if current.topics.is_empty() => {
            return Err(DomainError::Conflict {
                code: "no_topics",
                message: "a programme needs at least one topic before it opens for enrolment".into(),
            });
        }
        ProgrammeState::Matching => {
            let (mentors, mentees) = scope.count_active_enrolments(id).await?;
            if mentors == 0 || mentees == 0 {
                return Err(DomainError::Conflict {
                    code: "not_enough_enrolments",
                    message: format!(
                        "matching needs at least one mentor and one mentee enrolled (now {mentors} mentors, {mentees} mentees)"
                    ),
                });
            }
        }
        ProgrammeState::Active => {
            let active_pairs = scope.count_pairs_in_state(id, "active").await?;
            if active_pairs == 0 {
                return Err(DomainError::Conflict {
                    code: "no_active_pairs",
                    message: "a programme becomes active once at least one pair is active".into(),
                });
            }
        }
        _ => {}
    }
    let next = Programme {
        state: to,
        ..current.clone()
    };
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::ProgrammeStateChanged(saved.clone())).await?;
    if to == ProgrammeState::Completed {
        super::pairs::close_all(scope, &saved).await?;
    }
    Ok(saved)
}

async fn save<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    current: &Programme,
    mut next: Programme,
) -> DomainResult<Programme> {
    next.version = current.version + 1;
    next.updated_at = store::now().max(current.updated_at);
    let next = next.derive();
    if !scope.update_programme(&next, current.version).await? {
        return Err(DomainError::PreconditionFailed);
    }
    Ok(next)
}

fn check_ground_rules(v: &mut Violations, mut rules: GroundRules) -> GroundRules {
    rules.confidentiality = required_text(v, "ground_rules.confidentiality", &rules.confidentiality, 4000);
    rules.off_limit_topics = label_list(v, "ground_rules.off_limit_topics", rules.off_limit_topics, TOPICS_MAX);
    rules.location_guidance = optional_text(v, "ground_rules.location_guidance", rules.location_guidance, 2000);
    for (field, value, min, max) in [
        ("ground_rules.meeting_cadence_days", rules.meeting_cadence_days, 1, 90),
        ("ground_rules.target_sessions", rules.target_sessions, 1, 50),
        ("ground_rules.session_minutes", rules.session_minutes, 15, 480),
    ] {
        if !(min..=max).contains(&value) {
            v.add(field, "out_of_range", format!("must be between {min} and {max}"));
        }
    }
    rules
}

/// The plugin releases the programme names must be ready plugins of the right kind in this organisation. Only a
/// changed name is checked (a release cannot be deleted while named, so an unchanged one still stands).
async fn check_plugins<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    v: &mut Violations,
    p: &Programme,
    before: Option<&Programme>,
) -> DomainResult<()> {
    use crate::plugins::Kind;
    let named = [
        (
            "matching.policy",
            &p.matching.policy,
            before.map(|b| &b.matching.policy),
            Kind::Matcher,
        ),
        (
            "survey_scorer",
            &p.survey_scorer,
            before.map(|b| &b.survey_scorer),
            Kind::SurveyScorer,
        ),
    ];
    for (field, reference, previous, kind) in named {
        if reference == super::plugins::BUILTIN || Some(reference) == previous {
            continue;
        }
        match super::plugins::resolve(scope, reference, kind, field).await {
            Ok(_) => {}
            Err(DomainError::Invalid(errors)) => errors.into_iter().for_each(|e| v.push(e)),
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

fn check_settings(v: &mut Violations, p: &Programme) {
    if p.ends_on < p.starts_on {
        v.add("ends_on", "before_start", "must not be before starts_on");
    }
    if !(0..=100).contains(&p.matching.min_level_gap) {
        v.add("matching.min_level_gap", "out_of_range", "must be between 0 and 100");
    }
    let w = &p.matching.weights;
    for (field, value) in [
        ("matching.weights.shared_topics", w.shared_topics),
        ("matching.weights.level_gap", w.level_gap),
        ("matching.weights.cross_department", w.cross_department),
        ("matching.weights.shared_languages", w.shared_languages),
        ("matching.weights.proximity", w.proximity),
    ] {
        if !value.is_finite() || !(0.0..=100.0).contains(&value) {
            v.add(field, "out_of_range", "must be a number between 0 and 100");
        }
    }
    if let Some(days) = p.risk.inactivity_days
        && !(1..=365).contains(&days)
    {
        v.add("risk.inactivity_days", "out_of_range", "must be between 1 and 365");
    }
    for (field, value) in [
        (
            "risk.mentee_cancellations_in_a_row",
            p.risk.mentee_cancellations_in_a_row,
        ),
        ("risk.late_cancellations", p.risk.late_cancellations),
        ("risk.role_reversion_in_a_row", p.risk.role_reversion_in_a_row),
    ] {
        if !(1..=100).contains(&value) {
            v.add(field, "out_of_range", "must be between 1 and 100");
        }
    }
    if let Some(opt_in) = &p.matching.special_category {
        check_special_category(v, opt_in);
    }
    for (i, topic) in p.topics.iter().enumerate() {
        if super::contains_label(&p.ground_rules.off_limit_topics, topic) {
            v.add(
                format!("topics[{i}]"),
                "off_limit_topic",
                "a topic cannot also be off limits",
            );
        }
    }
}

fn check_special_category(v: &mut Violations, opt_in: &SpecialCategoryMatching) {
    const FIELD: &str = "matching.special_category";
    if opt_in.attributes.is_empty() || opt_in.attributes.len() > 20 {
        v.add(
            format!("{FIELD}.attributes"),
            "out_of_range",
            "name 1 to 20 attributes (or set special_category to null to opt out)",
        );
    }
    for (i, name) in opt_in.attributes.iter().enumerate() {
        if name.trim().is_empty() || name.chars().count() > 100 {
            v.add(
                format!("{FIELD}.attributes[{i}]"),
                "invalid_name",
                "names are 1 to 100 characters",
            );
        } else if opt_in.attributes[..i].contains(name) {
            v.add(format!("{FIELD}.attributes[{i}]"), "duplicate", "named twice");
        }
    }
    let purpose = opt_in.purpose.trim();
    if purpose.is_empty() {
        v.add(
            format!("{FIELD}.purpose"),
            "required",
            "say why matching needs these attributes",
        );
    } else if purpose.chars().count() > 500 {
        v.add(format!("{FIELD}.purpose"), "too_long", "at most 500 characters");
    }
}

async fn check_managers<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    v: &mut Violations,
    managers: Vec<Uuid>,
) -> DomainResult<Vec<Uuid>> {
    let mut out = Vec::with_capacity(managers.len());
    if managers.len() > 50 {
        v.add("managers", "too_many", "at most 50 managers");
    }
    for (i, id) in managers.into_iter().enumerate() {
        match scope.participant(id).await? {
            Some(p) if p.active => {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            Some(_) => v.add(
                format!("managers[{i}]"),
                "participant_inactive",
                "the participant is inactive",
            ),
            None => v.add(
                format!("managers[{i}]"),
                "not_found",
                "no participant with this id in the organisation",
            ),
        }
    }
    Ok(out)
}
