//! The event catalogue and the outbox append. Every change appends its event through [`append`] on the same scope —
//! and therefore the same transaction — as the change itself: no change without its event, no event without its
//! change. Webhook delivery reads this log.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::enrolments::Enrolment;
use crate::domain::hris_connections::HrisConnection;
use crate::domain::hris_syncs::HrisSync;
use crate::domain::identity_providers::IdentityProvider;
use crate::domain::journal::{Learning, Note};
use crate::domain::matching_runs::MatchingRun;
use crate::domain::pairs::Pair;
use crate::domain::participant_imports::ParticipantImport;
use crate::domain::participants::Participant;
use crate::domain::plugins::{Plugin, PluginLimitsView};
use crate::domain::privacy::ErasureNotice;
use crate::domain::programmes::Programme;
use crate::domain::retention::{RetentionReport, RetentionSettings};
use crate::domain::sessions::Session;
use crate::domain::surveys::{Survey, SurveyRequest};
use crate::domain::webhook_deliveries::WebhookTest;
use crate::domain::webhook_endpoints::WebhookEndpoint;
use crate::store::{self, Scope, StoreResult};

/// One entry of the event catalogue: its name, the schema of its `data`, and what it means.
pub struct EventType {
    pub name: &'static str,
    /// The OpenAPI schema of `data`.
    pub schema: &'static str,
    pub description: &'static str,
}

/// Declares the typed payloads, their names and the catalogue in one table, so they cannot drift apart.
macro_rules! catalogue {
    ($( $variant:ident($ty:ty) => $name:literal, $schema:literal, $doc:literal; )*) => {
        /// A domain event with its typed payload: `data` is the resource as it stands after the change.
        #[derive(Clone, Debug)]
        pub enum EventPayload { $( $variant($ty), )* }

        /// Every event type Upward emits, with what it means. Subscribers filter on these names.
        pub const CATALOGUE: &[EventType] = &[
            $( EventType { name: $name, schema: $schema, description: $doc }, )*
        ];

        impl EventPayload {
            pub fn event_type(&self) -> &'static str {
                match self { $( EventPayload::$variant(_) => $name, )* }
            }

            pub(crate) fn data(&self) -> Value {
                let result = match self { $( EventPayload::$variant(x) => serde_json::to_value(x), )* };
                // Serialising plain structs of strings, numbers and maps cannot fail.
                result.unwrap_or(Value::Null)
            }
        }
    };
}

catalogue! {
    ParticipantCreated(Participant) => "participant.created", "Participant", "A participant was added to the directory.";
    ParticipantUpdated(Participant) => "participant.updated", "Participant", "A participant's fields changed.";
    ParticipantDeactivated(Participant) => "participant.deactivated", "Participant",
        "A participant was deactivated; their tokens stop working.";
    ParticipantReactivated(Participant) => "participant.reactivated", "Participant",
        "A deactivated participant was made active again.";
    ParticipantErased(ErasureNotice) => "participant.erased", "ErasureNotice",
        "A participant's personal data was erased (ids only; their earlier events are redacted in place).";
    DataRetentionUpdated(RetentionSettings) => "data_retention.updated", "RetentionSettings",
        "The organisation's retention policy changed.";
    DataRetentionApplied(RetentionReport) => "data_retention.applied", "RetentionReport",
        "A housekeeping round applied the retention policy (what it deleted, whom it erased; ids and counts only).";
    IdentityProviderUpdated(IdentityProvider) => "identity_provider.updated", "IdentityProvider",
        "The organisation registered or changed its identity provider.";
    IdentityProviderDeleted(IdentityProvider) => "identity_provider.deleted", "IdentityProvider",
        "The organisation removed its identity provider; its tokens are no longer accepted.";
    ProgrammeCreated(Programme) => "programme.created", "Programme", "A programme was created (in `draft`).";
    ProgrammeUpdated(Programme) => "programme.updated", "Programme", "A programme's settings changed.";
    ProgrammeStateChanged(Programme) => "programme.state_changed", "Programme",
        "A programme moved to another state (`data.state`).";
    ProgrammeEndingSoon(Programme) => "programme.ending_soon", "Programme",
        "A running programme ends soon (`data.ends_on`, 14 days ahead by default); sent once per end date.";
    ProgrammeGroundRulesChanged(Programme) => "programme.ground_rules_changed", "Programme",
        "The ground rules changed after pairs agreed to them: a new `ground_rules_version` every pair must agree to.";
    EnrolmentCreated(Enrolment) => "enrolment.created", "Enrolment", "A participant enrolled as a mentor or a mentee.";
    EnrolmentUpdated(Enrolment) => "enrolment.updated", "Enrolment", "An enrolment's topics, goals, capacity or availability changed.";
    EnrolmentWithdrawn(Enrolment) => "enrolment.withdrawn", "Enrolment",
        "A participant withdrew; their open pairs in the programme are dissolved.";
    PairProposed(Pair) => "pair.proposed", "Pair", "A pair was proposed; both sides must agree to the ground rules.";
    PairAgreementRecorded(Pair) => "pair.agreement_recorded", "Pair",
        "One side of a pair agreed to the current ground rules.";
    PairActivated(Pair) => "pair.activated", "Pair", "Both sides agreed: the pair is active.";
    PairPaused(Pair) => "pair.paused", "Pair", "A pair was paused (`data.state_reason` says why).";
    PairResumed(Pair) => "pair.resumed", "Pair", "A paused pair is active again.";
    PairCompleted(Pair) => "pair.completed", "Pair", "A pair completed its mentoring relationship.";
    PairDissolved(Pair) => "pair.dissolved", "Pair", "A pair was dissolved (`data.state_reason` says why).";
    PairAtRisk(Pair) => "pair.at_risk", "Pair",
        "An active pair became at risk (`data.commitment.risk_reasons`); sent once until it recovers.";
    SessionScheduled(Session) => "session.scheduled", "Session", "A pair scheduled a session.";
    SessionUpcoming(Session) => "session.upcoming", "Session",
        "A scheduled session starts soon (24 hours ahead by default); sent once per start time.";
    SessionRescheduled(Session) => "session.rescheduled", "Session", "A scheduled session's time, mode, place or agenda changed.";
    SessionCompleted(Session) => "session.completed", "Session", "A session took place.";
    SessionCancelled(Session) => "session.cancelled", "Session",
        "A session was cancelled (`data.cancellation` says by whom, why, and whether late).";
    SessionNoShow(Session) => "session.no_show", "Session", "Someone did not come to a session.";
    NoteCreated(Note) => "note.created", "Note", "A pair member wrote a note (the event never carries the text).";
    NoteUpdated(Note) => "note.updated", "Note", "A note changed or was shared (the event never carries the text).";
    NoteDeleted(Note) => "note.deleted", "Note", "A note was deleted (the event never carries the text).";
    LearningCreated(Learning) => "learning.created", "Learning", "A mentor or mentee recorded a learning and its actions.";
    LearningUpdated(Learning) => "learning.updated", "Learning", "A learning or the status of its actions changed.";
    LearningPublicationRequested(Learning) => "learning.publication_requested", "Learning",
        "A learning's author asked to publish it as a story; the other side's consent is awaited.";
    LearningPublicationDeclined(Learning) => "learning.publication_declined", "Learning",
        "The other side declined to publish a learning as a story; it stays the pair's.";
    LearningPublished(Learning) => "learning.published", "Learning",
        "A learning was published as a programme story, with both sides' consent.";
    SurveyCreated(Survey) => "survey.created", "Survey", "A survey was added to a programme.";
    SurveyUpdated(Survey) => "survey.updated", "Survey", "A survey's title or active flag changed.";
    SurveyRequested(SurveyRequest) => "survey.requested", "SurveyRequest",
        "A milestone sent a survey to a participant.";
    SurveyResponseSubmitted(SurveyRequest) => "survey.response_submitted", "SurveyRequest",
        "A participant answered a survey request (the event carries no answers).";
    MatchingRunQueued(MatchingRun) => "matching_run.queued", "MatchingRun", "A matching run was requested.";
    MatchingRunSucceeded(MatchingRun) => "matching_run.succeeded", "MatchingRun",
        "A matching run finished: its proposals and unmatched participants are ready.";
    MatchingRunFailed(MatchingRun) => "matching_run.failed", "MatchingRun", "A matching run failed (`data.error`).";
    MatchingRunAccepted(MatchingRun) => "matching_run.accepted", "MatchingRun",
        "A matching run's proposals were accepted: each created pair has its own `pair.proposed`.";
    PluginUploaded(Plugin) => "plugin.uploaded", "Plugin",
        "A plugin release was uploaded and passed the upload checks; it is `compiling`.";
    PluginReady(Plugin) => "plugin.ready", "Plugin", "A plugin release compiled and links as its kind: programmes may use it.";
    PluginFailed(Plugin) => "plugin.failed", "Plugin", "A plugin release did not compile or link (`data.error`).";
    PluginUpdated(Plugin) => "plugin.updated", "Plugin", "A plugin release's configuration or description changed.";
    PluginDeleted(Plugin) => "plugin.deleted", "Plugin", "A plugin release was deleted.";
    PluginLimitsUpdated(PluginLimitsView) => "plugin_limits.updated", "PluginLimitsView",
        "The organisation changed its per-invocation plugin limits.";
    HrisConnectionCreated(HrisConnection) => "hris_connection.created", "HrisConnection",
        "An HRIS connection was added (the event carries secret names, never values).";
    HrisConnectionUpdated(HrisConnection) => "hris_connection.updated", "HrisConnection",
        "An HRIS connection's connector, configuration, secrets (names only), schedule or state changed.";
    HrisConnectionDeleted(HrisConnection) => "hris_connection.deleted", "HrisConnection", "An HRIS connection was deleted.";
    ParticipantImportCompleted(ParticipantImport) => "participant_import.completed", "ParticipantImport",
        "A participant import finished: `data.counts` says what it created, updated and deactivated (in a dry run: would).";
    HrisSyncCompleted(HrisSync) => "hris.sync_completed", "HrisSync",
        "An HRIS sync finished: `data.counts` says what it created, updated and deactivated (in a dry run: would).";
    HrisSyncFailed(HrisSync) => "hris.sync_failed", "HrisSync",
        "An HRIS sync failed (`data.error`): the connector's error, a limit or the time budget. Pages applied before stay applied.";
    WebhookEndpointCreated(WebhookEndpoint) => "webhook_endpoint.created", "WebhookEndpoint",
        "A webhook endpoint was added (the event never carries its secret).";
    WebhookEndpointUpdated(WebhookEndpoint) => "webhook_endpoint.updated", "WebhookEndpoint",
        "A webhook endpoint's URL, event types, state, rate limit or metadata changed.";
    WebhookEndpointSecretRotated(WebhookEndpoint) => "webhook_endpoint.secret_rotated", "WebhookEndpoint",
        "A webhook endpoint's signing secret was rotated; the previous one signs alongside for 24 hours.";
    WebhookEndpointDeleted(WebhookEndpoint) => "webhook_endpoint.deleted", "WebhookEndpoint", "A webhook endpoint was deleted.";
    WebhookEndpointDisabled(WebhookEndpoint) => "webhook_endpoint.disabled", "WebhookEndpoint",
        "Upward disabled a webhook endpoint (`data.disabled_reason`): it answered 410 Gone, or every delivery failed for days.";
    WebhookTest(WebhookTest) => "webhook.test", "WebhookTest",
        "Sent to one endpoint on request (`POST /v1/webhook-endpoints/{id}/test`); never sent to the others.";
}

/// An event as recorded in the log.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9000-7000-8000-000000000001",
    "type": "participant.created",
    "occurred_at": "2026-11-22T09:30:00Z",
    "organisation_id": "01936b2e-0000-7000-8000-000000000001",
    "data": {"id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b", "email": "ada.lovelace@example.com", "display_name": "Ada Lovelace", "level": 2, "active": true}
}))]
pub struct Event {
    pub id: Uuid,
    /// One of the catalogue's names, e.g. `participant.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub organisation_id: Uuid,
    /// The resource after the change.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Appends an event to the outbox in the scope's transaction.
pub async fn append<C: ConnectionTrait>(scope: &Scope<'_, C>, payload: EventPayload) -> StoreResult<Event> {
    let event = Event {
        id: store::new_id(),
        event_type: payload.event_type().to_string(),
        occurred_at: store::now(),
        organisation_id: scope.organisation_id(),
        data: payload.data(),
    };
    scope.insert_event(&event).await?;
    crate::domain::webhook_deliveries::fan_out(scope, std::slice::from_ref(&event)).await?;
    Ok(event)
}

/// Appends many events at once, in order — the same guarantee as [`append`], in a few statements instead of a few
/// per event.
pub async fn append_all<C: ConnectionTrait>(scope: &Scope<'_, C>, payloads: Vec<EventPayload>) -> StoreResult<()> {
    if payloads.is_empty() {
        return Ok(());
    }
    let events: Vec<Event> = payloads
        .into_iter()
        .map(|payload| Event {
            id: store::new_id(),
            event_type: payload.event_type().to_string(),
            occurred_at: store::now(),
            organisation_id: scope.organisation_id(),
            data: payload.data(),
        })
        .collect();
    scope.insert_events(&events).await?;
    crate::domain::webhook_deliveries::fan_out(scope, &events).await
}
