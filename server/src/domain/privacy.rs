//! Data protection: what Upward holds about a person, and how it is erased. The [`REGISTER`] names every table and
//! what erasure and export do with it (a test fails when a table is missing from it); the redaction rules are pure
//! functions over documents, used alike on a table's rows and on the payloads of the events about the person; the
//! erasure service applies them in one transaction with its `participant.erased` event.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::participants::Participant;
use super::{DomainError, DomainResult};
use crate::events::{self, EventPayload};
use crate::store::{self, Scope};

/// What erasure does to a table's rows about the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnErasure {
    /// Holds no personal data (configuration, keys, aggregates, ids only).
    Nothing,
    /// The rows about the person are deleted.
    Delete,
    /// The rows stay (metrics, replay and deduplication need them) with the personal fields redacted in place.
    Redact,
}

/// One table of the database and its place in data protection.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Holding {
    pub table: &'static str,
    /// What personal data it can hold, in words a data protection officer reads.
    pub holds: &'static str,
    pub on_erasure: OnErasure,
    /// Whether a subject access export includes the person's rows of it.
    pub exported: bool,
}

const fn holding(table: &'static str, holds: &'static str, on_erasure: OnErasure, exported: bool) -> Holding {
    Holding {
        table,
        holds,
        on_erasure,
        exported,
    }
}

/// Every table, and what erasure and export do with it. A table added by a migration and not listed here fails
/// `every_table_is_in_the_register` (tests/api/privacy.rs).
pub const REGISTER: &[Holding] = &[
    holding(
        "participants",
        "name, email, external id, job, department, location, time zone, languages, \
        the organisation's attributes, reporting line; sealed special-category attributes and their consent",
        OnErasure::Redact,
        true,
    ),
    holding(
        "enrolments",
        "the person's topics, goals and availability",
        OnErasure::Redact,
        true,
    ),
    holding(
        "pairs",
        "who is paired with whom (ids only) and ground-rule agreements",
        OnErasure::Nothing,
        true,
    ),
    holding(
        "sessions",
        "place, agenda and topics of the pair's sessions, cancellation reasons",
        OnErasure::Redact,
        true,
    ),
    holding(
        "notes",
        "what the person wrote about their sessions (sealed)",
        OnErasure::Delete,
        true,
    ),
    holding(
        "learnings",
        "learnings, actions and stories the person wrote (sealed)",
        OnErasure::Delete,
        true,
    ),
    holding(
        "calendar_feeds",
        "the SHA-256 of the person's calendar-feed secret (the address their calendar app reads)",
        OnErasure::Delete,
        false,
    ),
    holding(
        "survey_requests",
        "which surveys the person was asked (ids only)",
        OnErasure::Nothing,
        true,
    ),
    holding(
        "survey_answers",
        "the person's answers; free text is removed, numbers stay for aggregates",
        OnErasure::Redact,
        true,
    ),
    holding(
        "survey_scores",
        "aggregates over many answers",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "events",
        "copies of every resource as it changed (the event log, replay)",
        OnErasure::Redact,
        true,
    ),
    holding(
        "webhook_deliveries",
        "ids only; the payload is the event's",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "webhook_attempts",
        "a receiver's response body, which may echo a payload",
        OnErasure::Redact,
        false,
    ),
    holding(
        "idempotency_keys",
        "stored responses of retried requests",
        OnErasure::Delete,
        false,
    ),
    holding(
        "matching_runs",
        "proposals with their explanations, unmatched lists",
        OnErasure::Redact,
        false,
    ),
    holding(
        "hris_syncs",
        "a sync's report, which lists records in error",
        OnErasure::Redact,
        false,
    ),
    holding(
        "participant_imports",
        "an import's report, which lists records in error (emails, external ids)",
        OnErasure::Redact,
        false,
    ),
    holding(
        "hris_sync_changes",
        "the diff of a sync: directory records",
        OnErasure::Delete,
        false,
    ),
    holding(
        "plugin_invocations",
        "a plugin's messages and logs",
        OnErasure::Delete,
        false,
    ),
    holding(
        "programme_managers",
        "who manages a programme",
        OnErasure::Delete,
        false,
    ),
    holding(
        "timed_notices",
        "which reminders were sent (ids only)",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "erasure_suppressions",
        "keyed hashes of erased people's email and external id",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "audit_log",
        "who read or changed what (ids, addresses); kept for accountability",
        OnErasure::Nothing,
        true,
    ),
    holding("audit_heads", "the audit chain's last hash", OnErasure::Nothing, false),
    holding(
        "data_retention",
        "the organisation's retention policy",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "organisations",
        "the organisation's name and client credentials",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "programmes",
        "programme settings and ground rules",
        OnErasure::Nothing,
        false,
    ),
    holding("surveys", "survey questions", OnErasure::Nothing, false),
    holding("plugins", "plugin releases", OnErasure::Nothing, false),
    holding("plugin_components", "plugin code", OnErasure::Nothing, false),
    holding("plugin_limits", "plugin limits", OnErasure::Nothing, false),
    holding(
        "webhook_endpoints",
        "endpoint URLs and signing secrets",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "hris_connections",
        "connector settings and sealed credentials",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "identity_providers",
        "the organisation's identity provider",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "signing_keys",
        "the server's token keys (sealed)",
        OnErasure::Nothing,
        false,
    ),
    holding(
        "server_secrets",
        "sealed server-wide secrets",
        OnErasure::Nothing,
        false,
    ),
    holding("seaql_migrations", "applied migrations", OnErasure::Nothing, false),
];

/// The text that replaces a person's name, email or external id inside free text that stays.
pub const ERASED: &str = "[erased]";

/// The person being erased: what identifies them in documents.
#[derive(Clone, Debug)]
pub struct Subject {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// Their pairs: sessions of these pairs lose their place, agenda and topics.
    pub pair_ids: HashSet<Uuid>,
}

impl Subject {
    pub fn of(p: &Participant, pair_ids: HashSet<Uuid>) -> Subject {
        Subject {
            id: p.id,
            email: p.email.clone(),
            display_name: p.display_name.clone(),
            external_id: p.external_id.clone(),
            pair_ids,
        }
    }

    /// The strings whose presence makes a row "about" the person (the store searches for them).
    pub fn needles(&self) -> Vec<String> {
        let mut needles = vec![self.id.to_string(), self.email.to_lowercase()];
        if self.display_name.chars().count() >= 3 {
            needles.push(self.display_name.to_lowercase());
        }
        if let Some(external_id) = &self.external_id {
            needles.push(external_id.to_lowercase());
        }
        needles
    }

    /// The identifying strings replaced in free text (ids are pseudonymous and stay, so links survive).
    fn identifiers(&self) -> Vec<&str> {
        let mut out = vec![self.email.as_str(), self.display_name.as_str()];
        out.extend(self.external_id.as_deref());
        out.retain(|s| !s.trim().is_empty());
        out
    }
}

/// The anonymised stub that stays in place of an erased participant: the id (so pairs, sessions and metrics keep
/// their links) and the level (seniority gaps in programme figures); nothing that names or locates them.
pub fn tombstone(p: &Participant) -> Participant {
    Participant {
        id: p.id,
        external_id: None,
        email: format!("erased-{}@erased.invalid", p.id.simple()),
        display_name: "Erased participant".into(),
        department: None,
        job_title: None,
        level: p.level,
        manager_id: None,
        location: None,
        timezone: None,
        languages: Vec::new(),
        attributes: Default::default(),
        active: false,
        left_at: p.left_at,
        created_at: p.created_at,
        updated_at: p.updated_at,
        version: p.version,
    }
}

fn is(value: &Value, key: &str, id: Uuid) -> bool {
    value.get(key).and_then(Value::as_str) == Some(id.to_string().as_str())
}

fn clear(doc: &mut Value, key: &str, to: Value) {
    if let Some(slot) = doc.get_mut(key) {
        *slot = to;
    }
}

/// Redacts one document about `subject`: a row of `kind` (a table, or an event type such as `session.completed`,
/// whose payload is that resource). `tombstone` is the participant's stub, for the participant's own documents.
/// Whatever the kind, any remaining copy of their name, email or external id inside text becomes [`ERASED`].
pub fn redact(kind: &str, doc: &mut Value, subject: &Subject, tombstone: &Value) {
    let resource = kind.split('.').next().unwrap_or(kind).trim_end_matches('s');
    match resource {
        "participant" if is(doc, "id", subject.id) => *doc = tombstone.clone(),
        "enrolment" if is(doc, "participant_id", subject.id) => {
            clear(doc, "goals", Value::Null);
            clear(doc, "availability", Value::Null);
            clear(doc, "topics", Value::Array(Vec::new()));
            if let Some(withdrawal) = doc.get_mut("withdrawal").filter(|w| w.is_object()) {
                clear(withdrawal, "reason", Value::String(ERASED.into()));
            }
        }
        "session"
            if doc
                .get("pair_id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .is_some_and(|pair: Uuid| subject.pair_ids.contains(&pair)) =>
        {
            clear(doc, "location", Value::Null);
            clear(doc, "agenda", Value::Array(Vec::new()));
            clear(doc, "topics_discussed", Value::Array(Vec::new()));
            if let Some(cancellation) = doc.get_mut("cancellation").filter(|c| c.is_object()) {
                clear(cancellation, "reason", Value::String(ERASED.into()));
            }
        }
        "learning" if is(doc, "author_id", subject.id) => {
            if let Some(object) = doc.as_object_mut() {
                object.remove(crate::secrets::SEALED_MEMBER);
                object.insert("text".into(), Value::String(String::new()));
                object.insert("actions".into(), Value::Array(Vec::new()));
                object.insert("story_title".into(), Value::Null);
            }
        }
        "matching_run" => {
            if let Some(Value::Array(proposals)) = doc.get_mut("proposals") {
                for proposal in proposals {
                    if is(proposal, "mentor_id", subject.id) || is(proposal, "mentee_id", subject.id) {
                        clear(proposal, "factors", Value::Array(Vec::new()));
                    }
                }
            }
            if let Some(Value::Array(unmatched)) = doc.get_mut("unmatched") {
                unmatched.retain(|u| !is(u, "participant_id", subject.id));
            }
        }
        _ => {}
    }
    scrub(doc, &subject.identifiers());
}

/// Replaces every occurrence of the identifiers inside string values (case-insensitively), recursively.
pub fn scrub(value: &mut Value, identifiers: &[&str]) {
    match value {
        Value::String(text) => {
            for identifier in identifiers {
                if let Some(replaced) = replace_ignoring_case(text, identifier) {
                    *text = replaced;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, identifiers)),
        Value::Object(members) => members.values_mut().for_each(|v| scrub(v, identifiers)),
        _ => {}
    }
}

fn replace_ignoring_case(text: &str, needle: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII; only then fall back to an exact-case replace.
    if lower.len() != text.len() || !lower.contains(&needle) {
        return text.contains(&needle).then(|| text.replace(&needle, ERASED));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(&needle) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str(ERASED);
        rest = at + needle.len();
    }
    out.push_str(&text[rest..]);
    Some(out)
}

/// What an erasure removed and redacted, table by table (returned to the caller, and the figures of its event).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErasureReport {
    /// The erased participant (their id stays, as an anonymised stub that pairs and sessions still point at).
    pub participant_id: Uuid,
    pub erased_at: DateTime<Utc>,
    /// `request` (an org_admin asked) or `retention` (the organisation's retention policy).
    pub reason: String,
    /// Rows deleted, by table.
    pub deleted: std::collections::BTreeMap<String, u64>,
    /// Rows redacted in place, by table.
    pub redacted: std::collections::BTreeMap<String, u64>,
}

/// Erases a participant: every copy of their personal data, as the register says, with `participant.erased`, in the
/// scope's transaction. The bytes leave the database files when the caller settles the erasure after commit
/// ([`crate::store::Db::settle_erasure`]).
pub async fn erase<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    reason: &str,
    suppression: &crate::secrets::Digester,
) -> DomainResult<ErasureReport> {
    let current = scope
        .participant(id)
        .await?
        .ok_or(DomainError::NotFound("participant"))?;
    // An active person leaves first, as deactivation does (their active pairs pause): an erased person cannot be
    // in a running pair.
    let current = if current.active {
        super::participants::deactivate(scope, id, None).await?
    } else {
        current
    };
    let now = store::now();
    let pair_ids: HashSet<Uuid> = scope.pair_ids_of(id).await?.into_iter().collect();
    let subject = Subject::of(&current, pair_ids);
    let stub = tombstone(&current);
    let stub_json = serde_json::to_value(&stub).unwrap_or(Value::Null);
    let needles = subject.needles();
    let mut report = ErasureReport {
        participant_id: id,
        erased_at: now,
        reason: reason.into(),
        ..Default::default()
    };
    let count = |map: &mut std::collections::BTreeMap<String, u64>, table: &str, n: u64| {
        if n > 0 {
            *map.entry(table.to_string()).or_default() += n;
        }
    };

    // The suppression list first: what identifies them is about to go.
    let digests = suppression_digests(suppression, &current);
    scope.suppress(&digests, now).await?;

    scope.tombstone_participant(&stub, now).await?;
    count(&mut report.redacted, "participants", 1);
    let (notes, learnings) = scope.delete_journal_of(id).await?;
    count(&mut report.deleted, "notes", notes);
    count(&mut report.deleted, "learnings", learnings);
    count(
        &mut report.redacted,
        "survey_answers",
        scope.clear_answer_texts_of(id).await?,
    );
    count(&mut report.deleted, "programme_managers", scope.drop_manager(id).await?);
    count(
        &mut report.deleted,
        "calendar_feeds",
        scope.delete_calendar_feed(id).await?,
    );

    // Documents that stay, redacted in place.
    let mut session_needles: Vec<String> = subject.pair_ids.iter().map(Uuid::to_string).collect();
    session_needles.extend(needles.iter().cloned());
    for (table, search) in [
        ("enrolments", &needles),
        ("sessions", &session_needles),
        ("matching_runs", &needles),
        ("hris_syncs", &needles),
        ("participant_imports", &needles),
        ("events", &session_needles),
    ] {
        let mut touched = 0;
        for row in scope.documents_mentioning(table, search).await? {
            let mut doc = row.doc.clone();
            let kind = row.kind.as_deref().unwrap_or(table);
            redact(kind, &mut doc, &subject, &stub_json);
            if doc != row.doc {
                scope.rewrite_document(table, row.id, &doc).await?;
                touched += 1;
            }
        }
        count(&mut report.redacted, table, touched);
    }
    // Copies that go.
    for (table, column) in [
        ("hris_sync_changes", "doc"),
        ("plugin_invocations", "doc"),
        ("idempotency_keys", "response_body"),
    ] {
        count(
            &mut report.deleted,
            table,
            scope.delete_mentioning(table, column, &needles).await?,
        );
    }
    count(
        &mut report.redacted,
        "webhook_attempts",
        scope.clear_responses_mentioning(&needles).await?,
    );
    events::append(
        scope,
        EventPayload::ParticipantErased(ErasureNotice {
            id,
            erased_at: now,
            reason: reason.into(),
        }),
    )
    .await?;
    Ok(report)
}

/// The `participant.erased` payload: ids only.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErasureNotice {
    /// The erased participant's id (now an anonymised stub).
    pub id: Uuid,
    pub erased_at: DateTime<Utc>,
    /// `request` or `retention`.
    pub reason: String,
}

/// The keyed hashes that keep an HRIS sync from recreating the person: of their external id and of their email.
pub fn suppression_digests(digester: &crate::secrets::Digester, p: &Participant) -> Vec<(String, &'static str)> {
    let mut out = vec![(digester.email(&p.email), "email")];
    if let Some(external_id) = &p.external_id {
        out.push((digester.external_id(external_id), "external_id"));
    }
    out
}

/// Everything Upward holds about one person, in one document (GDPR Art. 15 and 20).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PersonalDataExport {
    pub exported_at: DateTime<Utc>,
    pub participant: Participant,
    /// Their special-category attributes and the consent they are kept under, if any.
    pub sensitive_attributes: Option<super::special_category::SensitiveAttributes>,
    /// Their enrolments in every programme.
    pub enrolments: Vec<super::enrolments::Enrolment>,
    /// Every pair they are or were in.
    pub pairs: Vec<super::pairs::Pair>,
    /// The sessions of those pairs.
    pub sessions: Vec<super::sessions::Session>,
    /// The notes they wrote.
    pub notes: Vec<super::journal::Note>,
    /// The learnings they wrote.
    pub learnings: Vec<super::journal::Learning>,
    /// Their survey answers.
    pub survey_answers: Vec<crate::store::privacy::AnswerRecord>,
    /// Events whose payload is about them, oldest first.
    pub events: Vec<crate::events::Event>,
    /// Who read or changed their record (the audit trail's entries about them).
    pub audit_entries: Vec<super::audit::AuditEntry>,
}

/// The export of one participant's data.
pub async fn export<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    sealer: &crate::secrets::SecretBox,
    id: Uuid,
) -> DomainResult<PersonalDataExport> {
    let participant = scope
        .participant(id)
        .await?
        .ok_or(DomainError::NotFound("participant"))?;
    let held = scope.holdings_of(id).await?;
    let sensitive_attributes =
        Some(super::special_category::read(scope, sealer, id).await?).filter(|s| s.is_recorded());
    Ok(PersonalDataExport {
        exported_at: store::now(),
        participant,
        sensitive_attributes,
        enrolments: held.enrolments,
        pairs: held.pairs,
        sessions: held.sessions,
        notes: held.notes,
        learnings: held.learnings,
        survey_answers: held.answers,
        events: held.events,
        audit_entries: scope.audit_of_subject(id).await?,
    })
}

/// Lifts the suppression of an email and/or external id (an erased person who rejoins), so a sync may create them
/// again; how many entries were lifted.
pub async fn lift<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    digester: &crate::secrets::Digester,
    email: Option<&str>,
    external_id: Option<&str>,
) -> DomainResult<u64> {
    let mut digests = Vec::new();
    if let Some(email) = email {
        digests.push(digester.email(email));
    }
    if let Some(external_id) = external_id {
        digests.push(digester.external_id(external_id));
    }
    if digests.is_empty() {
        return Err(DomainError::Invalid(vec![super::FieldError::new(
            "email",
            "required",
            "name an email, an external_id or both",
        )]));
    }
    Ok(scope.lift_suppressions(&digests).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subject() -> Subject {
        Subject {
            id: Uuid::from_u128(7),
            email: "ada@example.com".into(),
            display_name: "Ada Lovelace".into(),
            external_id: Some("E-7".into()),
            pair_ids: HashSet::from([Uuid::from_u128(70)]),
        }
    }

    #[test]
    fn free_text_loses_every_identifier_whatever_its_case() {
        let mut doc = json!({"message": "ADA LOVELACE (ada@Example.com, E-7) has no mentor", "n": 3});
        scrub(&mut doc, &subject().identifiers());
        assert_eq!(
            doc,
            json!({"message": "[erased] ([erased], [erased]) has no mentor", "n": 3})
        );
    }

    #[test]
    fn a_session_of_their_pair_keeps_its_times_and_loses_its_words() {
        let mut doc = json!({"pair_id": Uuid::from_u128(70), "state": "cancelled", "location": "Room 4",
            "agenda": ["pay gaps"], "topics_discussed": ["x"], "cancellation": {"reason": "ill", "late": true}});
        redact("session.cancelled", &mut doc, &subject(), &Value::Null);
        assert_eq!(
            doc,
            json!({"pair_id": Uuid::from_u128(70), "state": "cancelled", "location": null, "agenda": [],
                "topics_discussed": [], "cancellation": {"reason": "[erased]", "late": true}})
        );
        let mut other = json!({"pair_id": Uuid::from_u128(71), "agenda": ["kept"]});
        redact("sessions", &mut other, &subject(), &Value::Null);
        assert_eq!(other["agenda"], json!(["kept"]));
    }

    #[test]
    fn a_matching_run_forgets_why_they_were_proposed_or_left_out() {
        let id = Uuid::from_u128(7);
        let mut doc = json!({
            "proposals": [{"mentor_id": id, "mentee_id": Uuid::from_u128(8), "factors": [{"name": "topics"}]}],
            "unmatched": [{"participant_id": id, "reason": "no mentor"}, {"participant_id": Uuid::from_u128(9)}]
        });
        redact("matching_run.succeeded", &mut doc, &subject(), &Value::Null);
        assert_eq!(doc["proposals"][0]["factors"], json!([]));
        assert_eq!(doc["unmatched"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn their_own_record_becomes_the_stub() {
        let stub = json!({"id": Uuid::from_u128(7), "display_name": "Erased participant"});
        let mut doc = json!({"id": Uuid::from_u128(7), "display_name": "Ada Lovelace"});
        redact("participant.updated", &mut doc, &subject(), &stub);
        assert_eq!(doc, stub);
    }
}
