//! Webhook deliveries: one per (event, subscribed endpoint), created in the event's own transaction by [`fan_out`],
//! so an event that commits is never without its deliveries. A delivery is `pending` until an attempt succeeds
//! (`succeeded`) or the retry schedule runs out (`failed`); [`conclude`] is that state machine. Admins read the log,
//! re-send one delivery, replay a window of events after an outage, or send a `webhook.test` event.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DomainError, DomainResult, Violations};
use crate::events::Event;
use crate::store::webhook_deliveries::NewDelivery;
use crate::store::{self, Scope};
use crate::webhooks::schedule::RetrySchedule;

/// The event type of test deliveries (sent to one endpoint on request, never fanned out).
pub const TEST_EVENT: &str = "webhook.test";
/// The widest window one replay may cover.
pub const MAX_REPLAY_EVENTS: u64 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry (`next_attempt_at`).
    Pending,
    /// A 2xx answer arrived.
    Succeeded,
    /// Every attempt of the schedule failed, the endpoint answered 410 Gone, or the endpoint is disabled.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> DeliveryStatus {
        match s {
            "succeeded" => DeliveryStatus::Succeeded,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// One try of a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Attempt {
    pub id: Uuid,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; absent when it did not answer (refused, timed out, connection failed).
    pub response_status: Option<u16>,
    /// From sending the request to the end of reading the answer.
    pub latency_ms: u32,
    /// The first 4 KiB of the answer.
    pub response_body: Option<String>,
    /// What went wrong, when something did.
    pub error: Option<String>,
}

/// An event's delivery to one endpoint, with its attempts.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9b00-7000-8000-0000000000d1",
    "endpoint_id": "01936b2e-9a00-7000-8000-0000000000e1",
    "event_id": "01936b2e-9000-7000-8000-000000000001",
    "event_type": "pair.activated",
    "status": "pending",
    "attempt_count": 1,
    "next_attempt_at": "2026-11-22T09:30:05Z",
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:30:00Z",
    "attempts": [{"id": "01936b2e-9c00-7000-8000-0000000000a1", "attempted_at": "2026-11-22T09:30:00Z",
        "response_status": 503, "latency_ms": 41, "response_body": "busy", "error": "the receiver answered 503"}]
}))]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// Also the `webhook-id` header: the same on every attempt, so receivers can deduplicate.
    pub event_id: Uuid,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Oldest first.
    pub attempts: Vec<Attempt>,
}

/// The body of `POST /v1/webhook-endpoints/{id}/replay`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-11-21T00:00:00Z", "until": "2026-11-22T00:00:00Z"}))]
pub struct ReplayRequest {
    /// Events that occurred at or after this time…
    pub since: DateTime<Utc>,
    /// …and before this one (default: now).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

/// What a replay queued.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"queued": 42}))]
pub struct ReplayResult {
    /// New deliveries created, one per matching event of the window.
    pub queued: u64,
}

/// The `data` of a `webhook.test` event.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"endpoint_id": "01936b2e-9a00-7000-8000-0000000000e1",
    "message": "A test event from Upward: this endpoint receives and verifies deliveries."}))]
pub struct WebhookTest {
    pub endpoint_id: Uuid,
    pub message: String,
}

/// Creates a delivery of each event for every enabled endpoint of the organisation that subscribes to it, in the
/// events' transaction. Called by the event append only.
pub async fn fan_out<C: ConnectionTrait>(scope: &Scope<'_, C>, events: &[Event]) -> store::StoreResult<()> {
    let endpoints = scope
        .webhook_endpoints(None, super::webhook_endpoints::MAX_ENDPOINTS as u64)
        .await?;
    let deliveries: Vec<NewDelivery> = events
        .iter()
        .flat_map(|event| {
            endpoints
                .iter()
                .filter(|e| e.enabled && event.event_type != TEST_EVENT && e.subscribes_to(&event.event_type))
                .map(|e| NewDelivery {
                    id: store::new_id(),
                    endpoint_id: e.id,
                    event_id: event.id,
                    event_type: event.event_type.clone(),
                    next_attempt_at: event.occurred_at,
                    one_shot: false,
                })
        })
        .collect();
    scope.insert_deliveries(&deliveries).await
}

/// What happens to a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Failed,
}

/// The delivery state machine: success ends it; a failure waits for the next step of the schedule (or the
/// receiver's `Retry-After`), unless the schedule is spent, the attempt was a one-off re-send, or the receiver
/// answered 410 Gone.
pub fn conclude(
    attempts_made: usize,
    one_shot: bool,
    succeeded: bool,
    gone: bool,
    retry_after: Option<std::time::Duration>,
    schedule: &RetrySchedule,
    now: DateTime<Utc>,
) -> Next {
    if succeeded {
        return Next::Succeeded;
    }
    if gone || one_shot {
        return Next::Failed;
    }
    match schedule.next_wait(attempts_made, retry_after) {
        Some(wait) => Next::RetryAt(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(10))),
        None => Next::Failed,
    }
}

/// The body receivers get: the Standard Webhooks shape.
pub fn payload(event: &Event) -> String {
    json!({
        "type": event.event_type,
        "timestamp": event.occurred_at,
        "data": event.data,
    })
    .to_string()
}

pub async fn list<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    endpoint_id: Uuid,
    status: Option<DeliveryStatus>,
    event_type: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Delivery>, bool)> {
    super::webhook_endpoints::get(scope, endpoint_id).await?;
    let rows = scope
        .deliveries(endpoint_id, status, event_type, before, limit + 1)
        .await?;
    Ok(super::page(rows, limit))
}

pub async fn get<C: ConnectionTrait>(scope: &Scope<'_, C>, endpoint_id: Uuid, id: Uuid) -> DomainResult<Delivery> {
    scope
        .delivery(endpoint_id, id)
        .await?
        .ok_or(DomainError::NotFound("webhook delivery"))
}

/// Sends a delivery again now. A pending one keeps its schedule; a finished one gets one more attempt.
pub async fn retry<C: ConnectionTrait>(scope: &Scope<'_, C>, endpoint_id: Uuid, id: Uuid) -> DomainResult<Delivery> {
    let endpoint = super::webhook_endpoints::get(scope, endpoint_id).await?;
    let delivery = get(scope, endpoint_id, id).await?;
    require_enabled(&endpoint)?;
    scope.redeliver(id, delivery.status != DeliveryStatus::Pending).await?;
    get(scope, endpoint_id, id).await
}

fn require_enabled(endpoint: &super::webhook_endpoints::WebhookEndpoint) -> DomainResult<()> {
    if endpoint.enabled {
        Ok(())
    } else {
        Err(DomainError::Conflict {
            code: "endpoint_disabled",
            message: "the endpoint is disabled; enable it first (PATCH enabled: true)".into(),
        })
    }
}

/// Queues a new delivery to this endpoint of every event of the window it subscribes to (oldest first).
pub async fn replay<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    endpoint_id: Uuid,
    request: ReplayRequest,
) -> DomainResult<ReplayResult> {
    let endpoint = super::webhook_endpoints::get(scope, endpoint_id).await?;
    let now = store::now();
    let until = request.until.unwrap_or(now);
    let mut v = Violations::default();
    if until <= request.since {
        v.add("until", "before_since", "must be after `since`");
    }
    v.into_result()?;
    require_enabled(&endpoint)?;
    let mut queued = 0;
    let mut after = None;
    loop {
        let events = scope.events_between(request.since, until, after, 1_000).await?;
        let Some(last) = events.last() else { break };
        after = Some(last.id);
        let deliveries: Vec<NewDelivery> = events
            .iter()
            .filter(|e| e.event_type != TEST_EVENT && endpoint.subscribes_to(&e.event_type))
            .map(|e| NewDelivery {
                id: store::new_id(),
                endpoint_id,
                event_id: e.id,
                event_type: e.event_type.clone(),
                next_attempt_at: now,
                one_shot: false,
            })
            .collect();
        queued += deliveries.len() as u64;
        if queued > MAX_REPLAY_EVENTS {
            return Err(DomainError::Invalid(vec![super::FieldError {
                field: "since".into(),
                code: "window_too_large".into(),
                message: format!("the window holds more than {MAX_REPLAY_EVENTS} events; replay smaller windows"),
            }]));
        }
        scope.insert_deliveries(&deliveries).await?;
    }
    Ok(ReplayResult { queued })
}

/// Records a `webhook.test` event (in the event log, like any event) and delivers it to this endpoint only.
pub async fn send_test<C: ConnectionTrait>(scope: &Scope<'_, C>, endpoint_id: Uuid) -> DomainResult<Delivery> {
    let endpoint = super::webhook_endpoints::get(scope, endpoint_id).await?;
    require_enabled(&endpoint)?;
    let event = Event {
        id: store::new_id(),
        event_type: TEST_EVENT.into(),
        occurred_at: store::now(),
        organisation_id: scope.organisation_id(),
        data: crate::events::EventPayload::WebhookTest(WebhookTest {
            endpoint_id: endpoint.id,
            message: "A test event from Upward: this endpoint receives and verifies deliveries.".into(),
        })
        .data(),
    };
    scope.insert_event(&event).await?;
    let id = store::new_id();
    scope
        .insert_deliveries(&[NewDelivery {
            id,
            endpoint_id,
            event_id: event.id,
            event_type: event.event_type.clone(),
            next_attempt_at: event.occurred_at,
            one_shot: true,
        }])
        .await?;
    get(scope, endpoint_id, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_retries_on_schedule_then_fails() {
        let schedule = RetrySchedule::parse("1s,2s").unwrap();
        let now = Utc::now();
        assert_eq!(conclude(1, false, true, false, None, &schedule, now), Next::Succeeded);
        assert!(matches!(conclude(1, false, false, false, None, &schedule, now), Next::RetryAt(at) if at > now));
        assert!(matches!(
            conclude(2, false, false, false, None, &schedule, now),
            Next::RetryAt(_)
        ));
        assert_eq!(conclude(3, false, false, false, None, &schedule, now), Next::Failed);
        assert_eq!(
            conclude(1, false, false, true, None, &schedule, now),
            Next::Failed,
            "410 Gone"
        );
        assert_eq!(
            conclude(1, true, false, false, None, &schedule, now),
            Next::Failed,
            "one-off re-send"
        );
    }
}
