//! Participants: the organisation's employee directory. Owns the rules for a valid participant (email syntax, IANA
//! timezone, level range, a manager in the same organisation, no reporting cycles) and the events each change causes.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DomainError, DomainResult, Violations, optional_text, required_text};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope, StoreError};

pub const LEVEL_MIN: i32 = 0;
pub const LEVEL_MAX: i32 = 100;
pub(crate) const TEXT_MAX: usize = 200;
const LANGUAGES_MAX: usize = 20;
const ATTRIBUTES_MAX_BYTES: usize = 8 * 1024;
/// Deeper than any real organisation chart; stops a walk up a corrupted chain from looping forever.
pub const REPORTING_LINE_MAX_DEPTH: usize = 256;

/// An employee of the organisation, as the directory knows them.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b",
    "external_id": "E-10442",
    "email": "ada.lovelace@example.com",
    "display_name": "Ada Lovelace",
    "department": "Engineering",
    "job_title": "Graduate Engineer",
    "level": 2,
    "manager_id": "01936b2e-8f4a-7c3d-9a1b-000000000001",
    "location": "London",
    "timezone": "Europe/London",
    "languages": ["en", "fr"],
    "attributes": {"cost_centre": "CC-12"},
    "active": true,
    "left_at": null,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct Participant {
    pub id: Uuid,
    /// The employee's id in the organisation's HRIS; unique in the organisation.
    pub external_id: Option<String>,
    /// Unique in the organisation; stored lower-case.
    pub email: String,
    pub display_name: String,
    pub department: Option<String>,
    pub job_title: Option<String>,
    /// Seniority: higher is more senior. In reverse mentoring the mentor is the more junior side.
    pub level: i32,
    /// The participant's manager (their reporting line).
    pub manager_id: Option<Uuid>,
    pub location: Option<String>,
    /// An IANA time zone name.
    pub timezone: Option<String>,
    /// BCP 47 language tags.
    pub languages: Vec<String>,
    /// The organisation's own fields.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub active: bool,
    /// When the directory first saw them inactive (they left, or were deactivated); `null` while active. Retention
    /// counts from here.
    pub left_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Participant {
    /// Keeps `left_at` in step with `active`: set the first time they are seen inactive, cleared when they return.
    pub fn settle_leaving(&mut self, previous: Option<&Participant>, now: DateTime<Utc>) {
        self.left_at = if self.active {
            None
        } else {
            previous.and_then(|p| p.left_at).or(Some(now))
        };
    }

    /// A strong validator for HTTP caching and `If-Match`: changes with every write, reveals nothing.
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }
}

/// The body of `POST /v1/participants`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "external_id": "E-10442",
    "email": "ada.lovelace@example.com",
    "display_name": "Ada Lovelace",
    "department": "Engineering",
    "job_title": "Graduate Engineer",
    "level": 2,
    "timezone": "Europe/London",
    "languages": ["en"]
}))]
pub struct CreateParticipant {
    pub external_id: Option<String>,
    pub email: String,
    pub display_name: String,
    pub department: Option<String>,
    pub job_title: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    pub level: i32,
    pub manager_id: Option<Uuid>,
    pub location: Option<String>,
    pub timezone: Option<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Defaults to `true`.
    pub active: Option<bool>,
}

/// The body of `PATCH /v1/participants/{id}`: absent fields stay as they are, `null` clears an optional field.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"job_title": "Senior Engineer", "level": 3, "manager_id": null}))]
pub struct UpdateParticipant {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub job_title: Option<Option<String>>,
    #[schema(minimum = 0, maximum = 100)]
    pub level: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub manager_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub timezone: Option<Option<String>>,
    pub languages: Option<Vec<String>>,
    /// A JSON Merge Patch (RFC 7396) of the attributes: keys not named stay, `null` removes a key.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    pub active: Option<bool>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from a field not sent at all (`None`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Filters of the participant list. Every filter narrows the list; all are optional.
#[derive(Clone, Debug, Default)]
pub struct ParticipantFilter {
    pub department: Option<String>,
    pub active: Option<bool>,
    pub level_min: Option<i32>,
    pub level_max: Option<i32>,
    pub manager_id: Option<Uuid>,
    /// Case-insensitive substring of the display name or email.
    pub q: Option<String>,
}

pub async fn get<C: ConnectionTrait>(scope: &Scope<'_, C>, id: Uuid) -> DomainResult<Participant> {
    scope.participant(id).await?.ok_or(DomainError::NotFound("participant"))
}

/// One page of participants in a stable order (creation order), after the participant `after`.
pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    filter: &ParticipantFilter,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Participant>, bool)> {
    let mut v = Violations::default();
    if let (Some(min), Some(max)) = (filter.level_min, filter.level_max)
        && min > max
    {
        v.add("level_min", "out_of_range", "must not be greater than level_max");
    }
    v.into_result()?;
    let (rows, has_more) = super::page(scope.list_participants(filter, after, limit + 1).await?, limit);
    Ok((rows, has_more))
}

pub async fn create<C: ConnectionTrait>(scope: &Scope<'_, C>, cmd: CreateParticipant) -> DomainResult<Participant> {
    let mut v = Violations::default();
    let email = check_email(&mut v, &cmd.email);
    let display_name = required_text(&mut v, "display_name", &cmd.display_name, TEXT_MAX);
    let external_id = optional_text(&mut v, "external_id", cmd.external_id, TEXT_MAX);
    let department = optional_text(&mut v, "department", cmd.department, TEXT_MAX);
    let job_title = optional_text(&mut v, "job_title", cmd.job_title, TEXT_MAX);
    let location = optional_text(&mut v, "location", cmd.location, TEXT_MAX);
    check_level(&mut v, cmd.level);
    let timezone = check_timezone(&mut v, cmd.timezone);
    let languages = check_languages(&mut v, cmd.languages);
    check_attributes(&mut v, &cmd.attributes);
    let id = store::new_id();
    if let Some(manager_id) = cmd.manager_id {
        check_manager(scope, &mut v, id, manager_id).await?;
    }
    v.into_result()?;

    let now = store::now();
    let mut participant = Participant {
        id,
        external_id,
        email,
        display_name,
        department,
        job_title,
        level: cmd.level,
        manager_id: cmd.manager_id,
        location,
        timezone,
        languages,
        attributes: cmd.attributes,
        active: cmd.active.unwrap_or(true),
        left_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    participant.settle_leaving(None, now);
    scope
        .insert_participant(&participant)
        .await
        .map_err(unique_to_conflict)?;
    events::append(scope, EventPayload::ParticipantCreated(participant.clone())).await?;
    Ok(participant)
}

/// Applies a partial update. `if_match`, when given, must equal the participant's current ETag.
pub async fn update<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    cmd: UpdateParticipant,
    if_match: Option<&str>,
) -> DomainResult<Participant> {
    let current = get(scope, id).await?;
    super::check_if_match(&current.etag(), if_match)?;

    let mut v = Violations::default();
    let mut next = current.clone();
    if let Some(email) = &cmd.email {
        next.email = check_email(&mut v, email);
    }
    if let Some(name) = &cmd.display_name {
        next.display_name = required_text(&mut v, "display_name", name, TEXT_MAX);
    }
    if let Some(value) = cmd.external_id {
        next.external_id = optional_text(&mut v, "external_id", value, TEXT_MAX);
    }
    if let Some(value) = cmd.department {
        next.department = optional_text(&mut v, "department", value, TEXT_MAX);
    }
    if let Some(value) = cmd.job_title {
        next.job_title = optional_text(&mut v, "job_title", value, TEXT_MAX);
    }
    if let Some(value) = cmd.location {
        next.location = optional_text(&mut v, "location", value, TEXT_MAX);
    }
    if let Some(level) = cmd.level {
        check_level(&mut v, level);
        next.level = level;
    }
    if let Some(value) = cmd.timezone {
        next.timezone = check_timezone(&mut v, value);
    }
    if let Some(languages) = cmd.languages {
        next.languages = check_languages(&mut v, languages);
    }
    if let Some(patch) = cmd.attributes {
        let mut merged = Value::Object(current.attributes.clone());
        super::merge_patch(&mut merged, Value::Object(patch));
        let attributes = match merged {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        check_attributes(&mut v, &attributes);
        next.attributes = attributes;
    }
    if let Some(manager_id) = cmd.manager_id {
        if let Some(manager_id) = manager_id
            && Some(manager_id) != current.manager_id
        {
            check_manager(scope, &mut v, id, manager_id).await?;
        }
        next.manager_id = manager_id;
    }
    if let Some(active) = cmd.active {
        next.active = active;
    }
    v.into_result()?;

    let event = match (current.active, next.active) {
        (true, false) => EventPayload::ParticipantDeactivated,
        (false, true) => EventPayload::ParticipantReactivated,
        _ => EventPayload::ParticipantUpdated,
    };
    if next == current {
        // Nothing changed: no write, no event, same ETag.
        return Ok(current);
    }
    let saved = save(scope, &current, next).await?;
    events::append(scope, event(saved.clone())).await?;
    if current.active && !saved.active {
        super::pairs::pause_for_leaver(scope, saved.id).await?;
    }
    Ok(saved)
}

/// Deactivates a participant (they keep their history; their tokens stop working; their active pairs pause with
/// `participant_left`). Deactivating an inactive participant changes nothing and emits nothing.
pub async fn deactivate<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    if_match: Option<&str>,
) -> DomainResult<Participant> {
    let current = get(scope, id).await?;
    super::check_if_match(&current.etag(), if_match)?;
    if !current.active {
        return Ok(current);
    }
    let next = Participant {
        active: false,
        ..current.clone()
    };
    let saved = save(scope, &current, next).await?;
    events::append(scope, EventPayload::ParticipantDeactivated(saved.clone())).await?;
    super::pairs::pause_for_leaver(scope, saved.id).await?;
    Ok(saved)
}

/// The chain of managers above a participant, nearest first, up to the top of the organisation.
pub async fn reporting_line<C: ConnectionTrait>(scope: &Scope<'_, C>, id: Uuid) -> DomainResult<Vec<Participant>> {
    let participant = get(scope, id).await?;
    let mut line = Vec::new();
    let mut next = participant.manager_id;
    while let Some(manager_id) = next {
        if line.len() >= REPORTING_LINE_MAX_DEPTH || manager_id == id {
            break;
        }
        let Some(manager) = scope.participant(manager_id).await? else {
            break;
        };
        next = manager.manager_id;
        line.push(manager);
    }
    Ok(line)
}

/// Writes `next` over `current`, guarded by the version read, so a concurrent writer makes this a 412, not a lost
/// update.
async fn save<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    current: &Participant,
    mut next: Participant,
) -> DomainResult<Participant> {
    next.version = current.version + 1;
    next.updated_at = store::now().max(current.updated_at);
    next.settle_leaving(Some(current), next.updated_at);
    let written = scope
        .update_participant(&next, current.version)
        .await
        .map_err(unique_to_conflict)?;
    if !written {
        return Err(DomainError::PreconditionFailed);
    }
    Ok(next)
}

fn unique_to_conflict(err: StoreError) -> DomainError {
    match err {
        StoreError::UniqueViolation(message) if message.contains("external_id") => DomainError::Conflict {
            code: "external_id_taken",
            message: "another participant of this organisation has this external_id".into(),
        },
        StoreError::UniqueViolation(message) if message.contains("email") => DomainError::Conflict {
            code: "email_taken",
            message: "another participant of this organisation has this email".into(),
        },
        other => DomainError::Store(other),
    }
}

async fn check_manager<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    v: &mut Violations,
    participant_id: Uuid,
    manager_id: Uuid,
) -> DomainResult<()> {
    if manager_id == participant_id {
        v.add(
            "manager_id",
            "reporting_cycle",
            "a participant cannot be their own manager",
        );
        return Ok(());
    }
    // Another organisation's participant is reported exactly like a missing one.
    let Some(mut cursor) = scope.participant(manager_id).await? else {
        v.add(
            "manager_id",
            "not_found",
            "no participant with this id in the organisation",
        );
        return Ok(());
    };
    // Walk up from the new manager: meeting the participant means the change would close a loop.
    for _ in 0..REPORTING_LINE_MAX_DEPTH {
        match cursor.manager_id {
            Some(up) if up == participant_id => {
                v.add(
                    "manager_id",
                    "reporting_cycle",
                    "the manager reports (directly or indirectly) to this participant",
                );
                return Ok(());
            }
            Some(up) => match scope.participant(up).await? {
                Some(next) => cursor = next,
                None => return Ok(()),
            },
            None => return Ok(()),
        }
    }
    v.add(
        "manager_id",
        "reporting_line_too_deep",
        "the reporting line is deeper than 256 levels",
    );
    Ok(())
}

/// Checks and normalises an email: trimmed, lower-cased, one `@`, a dotted domain, no whitespace.
pub(crate) fn check_email(v: &mut Violations, raw: &str) -> String {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
                    && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.')
                    && !local
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c))
            }
            None => false,
        };
    if !valid {
        v.add("email", "invalid_format", "is not a valid email address");
    }
    email
}

pub(crate) fn check_level(v: &mut Violations, level: i32) {
    if !(LEVEL_MIN..=LEVEL_MAX).contains(&level) {
        v.add(
            "level",
            "out_of_range",
            format!("must be between {LEVEL_MIN} and {LEVEL_MAX}"),
        );
    }
}

pub(crate) fn check_timezone(v: &mut Violations, raw: Option<String>) -> Option<String> {
    let tz = raw.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())?;
    match tz.parse::<chrono_tz::Tz>() {
        Ok(parsed) => Some(parsed.name().to_string()),
        Err(_) => {
            v.add(
                "timezone",
                "unknown_timezone",
                "is not an IANA time zone name (e.g. Europe/London)",
            );
            Some(tz)
        }
    }
}

/// Checks BCP 47 tags loosely (a 2–3 letter language, then alphanumeric subtags) and drops duplicates.
fn check_languages(v: &mut Violations, raw: Vec<String>) -> Vec<String> {
    if raw.len() > LANGUAGES_MAX {
        v.add("languages", "too_many", format!("at most {LANGUAGES_MAX} languages"));
    }
    let mut languages: Vec<String> = Vec::with_capacity(raw.len());
    for (i, tag) in raw.into_iter().enumerate() {
        let tag = tag.trim().to_string();
        let mut parts = tag.split('-');
        let primary_ok = parts
            .next()
            .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
        let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !(primary_ok && rest_ok) || tag.len() > 35 {
            v.add(
                format!("languages[{i}]"),
                "invalid_format",
                "is not a BCP 47 language tag (e.g. en, pt-BR)",
            );
        } else if !languages.iter().any(|l| l.eq_ignore_ascii_case(&tag)) {
            languages.push(tag);
        }
    }
    languages
}

fn check_attributes(v: &mut Violations, attributes: &Map<String, Value>) {
    // Where a matcher finds the special-category attributes a programme opted in to; no ordinary attribute may pose
    // as them.
    if attributes.contains_key(super::matching_runs::SENSITIVE_MEMBER) {
        v.add(
            format!("attributes.{}", super::matching_runs::SENSITIVE_MEMBER),
            "reserved",
            "this name is reserved for special-category attributes (see sensitive-attributes)",
        );
    }
    let size = serde_json::to_string(attributes).map(|s| s.len()).unwrap_or(usize::MAX);
    if size > ATTRIBUTES_MAX_BYTES {
        v.add(
            "attributes",
            "too_large",
            format!("must serialise to at most {ATTRIBUTES_MAX_BYTES} bytes"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email_ok(raw: &str) -> bool {
        let mut v = Violations::default();
        check_email(&mut v, raw);
        v.is_empty()
    }

    #[test]
    fn emails() {
        assert!(email_ok("ada@example.com"));
        assert!(email_ok("  Ada.Lovelace+mentor@Sub.Example.co.uk "));
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@.com",
        ] {
            assert!(!email_ok(bad), "{bad} should be refused");
        }
    }

    #[test]
    fn languages_are_checked_and_deduplicated() {
        let mut v = Violations::default();
        let langs = check_languages(&mut v, vec!["en".into(), "pt-BR".into(), "EN".into()]);
        assert!(v.is_empty());
        assert_eq!(langs, vec!["en".to_string(), "pt-BR".to_string()]);
        check_languages(&mut v, vec!["english language".into()]);
        assert!(!v.is_empty());
    }
}
