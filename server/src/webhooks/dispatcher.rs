//! The dispatcher: delivers pending deliveries from the database, which is the queue. On each wake-up (a write
//! committed here, a message from another instance through Redis, or the poll interval) it looks for endpoints with
//! due deliveries and runs one worker per endpoint: the worker leases up to `endpoint_concurrency` of that
//! endpoint's deliveries, sends them at once, records the attempts in one transaction, and goes again until
//! nothing is due. So a slow or dead receiver only ever holds its own worker, a global semaphore bounds the
//! requests in flight, and a lease that outlives a dead instance makes its deliveries claimable again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;
use uuid::Uuid;

use super::schedule::RetrySchedule;
use super::sender::{AttemptResult, Sender};
use super::signer;
use crate::domain::webhook_deliveries::{self, DeliveryStatus, Next};
use crate::events::Event;
use crate::store::webhook_deliveries::{AttemptRecord, Claimed, Outcome, Target};
use crate::store::{Db, Scope, StoreResult, webhook_endpoints::signing_secrets};

/// The least time between two looks for endpoints with due work, when no worker runs and when some do (they drain
/// their endpoints meanwhile; the look only finds endpoints that had nothing due).
const DISCOVERY_SPACING: Duration = Duration::from_millis(5);
const BUSY_DISCOVERY_SPACING: Duration = Duration::from_millis(50);
/// Rounds of `endpoint_concurrency` requests a healthy endpoint's batch holds.
const BATCH_ROUNDS: usize = 5;

/// How the dispatcher behaves; from the server configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub timeout: Duration,
    pub schedule: RetrySchedule,
    /// An endpoint failing without a single success for this long is disabled.
    pub disable_after: chrono::Duration,
    /// Requests in flight at once, over all endpoints (per instance).
    pub concurrency: usize,
    /// Requests in flight at once to one endpoint (per instance).
    pub endpoint_concurrency: usize,
    /// How often to look for due work when nothing wakes the dispatcher (retries coming due, other instances' events
    /// without Redis).
    pub poll_interval: Duration,
    /// What deliveries may reach.
    pub guard: crate::net::Guard,
}

impl Settings {
    /// How long a claim of `rounds` rounds of requests holds: a timeout per round, plus a margin for the database.
    fn lease(&self, rounds: usize) -> chrono::Duration {
        chrono::Duration::from_std(self.timeout * rounds as u32 + Duration::from_secs(10))
            .unwrap_or(chrono::Duration::minutes(5))
    }
}

/// Runs until `stopped` turns true; in-flight batches finish first (bounded by the timeout).
pub async fn run(db: Db, settings: Settings, wake: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
    let shared = Arc::new(Shared {
        db,
        sender: Sender::new(settings.timeout, settings.guard.clone()),
        in_flight: Semaphore::new(settings.concurrency.max(1)),
        active: Mutex::new(HashSet::new()),
        settings,
        wake: wake.clone(),
    });
    let mut workers = JoinSet::new();
    loop {
        match shared.db.endpoints_with_due_deliveries(1_000).await {
            Ok(endpoints) => {
                for endpoint_id in endpoints {
                    let started = shared.active.lock().map(|mut a| a.insert(endpoint_id)).unwrap_or(false);
                    if started {
                        workers.spawn(worker(shared.clone(), endpoint_id));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "looking for due webhook deliveries failed"),
        }
        while workers.try_join_next().is_some() {}
        tokio::select! {
            _ = wake.notified() => {
                // Under a stream of writes every commit wakes us: look at most every few milliseconds (running
                // workers keep draining their endpoints meanwhile).
                let busy = shared.active.lock().map(|a| !a.is_empty()).unwrap_or(false);
                tokio::time::sleep(if busy { BUSY_DISCOVERY_SPACING } else { DISCOVERY_SPACING }).await;
            }
            _ = tokio::time::sleep(shared.settings.poll_interval) => {}
            _ = stopped.changed() => break,
        }
    }
    while workers.join_next().await.is_some() {}
}

struct Shared {
    db: Db,
    sender: Sender,
    settings: Settings,
    in_flight: Semaphore,
    /// Endpoints with a running worker on this instance.
    active: Mutex<HashSet<Uuid>>,
    wake: Arc<Notify>,
}

/// Delivers one endpoint's due deliveries, batch after batch, until none is due. A batch's attempts are recorded
/// while the next batch is sent (at most one recording outstanding), so the database round trips overlap the HTTP.
async fn worker(shared: Arc<Shared>, endpoint_id: Uuid) {
    let mut limiter = RateLimiter::default();
    let mut recording: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let step = batch(&shared, endpoint_id, &mut limiter).await;
        if let Some(previous) = recording.take() {
            let _ = previous.await;
        }
        match step {
            Ok(Some(sent)) => {
                let shared = shared.clone();
                recording = Some(tokio::spawn(async move {
                    if let Err(e) = record(&shared, sent).await {
                        tracing::warn!(error = %e, endpoint_id = %endpoint_id, "recording webhook attempts failed");
                    }
                }));
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, endpoint_id = %endpoint_id, "a webhook delivery batch failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                break;
            }
        }
    }
    if let Some(previous) = recording {
        let _ = previous.await;
    }
    if let Ok(mut active) = shared.active.lock() {
        active.remove(&endpoint_id);
    }
}

/// A batch that was sent, waiting to be recorded.
struct Sent {
    target: Target,
    claimed: Vec<Claimed>,
    results: Vec<Option<(chrono::DateTime<Utc>, AttemptResult)>>,
}

/// One batch: lease, send (`endpoint_concurrency` at a time). `None` when nothing was due. A healthy endpoint gets
/// batches of several rounds of requests (fewer database round trips per delivery); a failing one, a single round.
async fn batch(shared: &Shared, endpoint_id: Uuid, limiter: &mut RateLimiter) -> StoreResult<Option<Sent>> {
    let settings = &shared.settings;
    let Some(target) = shared.db.delivery_target(endpoint_id).await? else {
        // Deleted: its deliveries went with it.
        return Ok(None);
    };
    let concurrency = settings.endpoint_concurrency.max(1);
    let rounds = if target.failing_since.is_some() {
        1
    } else {
        BATCH_ROUNDS
    };
    let mut limit = concurrency * rounds;
    if let Some(rate) = target.endpoint.rate_limit {
        limit = limiter.take(rate, limit).await;
    }
    let lease_until = crate::store::now() + settings.lease(limit.div_ceil(concurrency));
    let claimed = shared
        .db
        .claim_deliveries(endpoint_id, lease_until, limit as u64)
        .await?;
    if claimed.is_empty() {
        return Ok(None);
    }
    let event_ids: Vec<Uuid> = claimed.iter().map(|c| c.event_id).collect();
    let events = shared.db.delivery_events(&event_ids).await?;
    let results = {
        let target = &target;
        let events = &events;
        let claimed = &claimed;
        // By index: a closure over `&Claimed` items trips the spawn's `Send` check (higher-ranked lifetimes).
        futures_util::stream::iter(0..claimed.len())
            .map(move |i| {
                let event = events.iter().find(|e| e.id == claimed[i].event_id);
                send(shared, target, event)
            })
            .buffered(concurrency)
            .collect::<Vec<_>>()
            .await
    };
    Ok(Some(Sent {
        target,
        claimed,
        results,
    }))
}

/// One attempt; `None` when it was not made (the endpoint is disabled).
async fn send(
    shared: &Shared,
    target: &Target,
    event: Option<&Event>,
) -> Option<(chrono::DateTime<Utc>, AttemptResult)> {
    if !target.endpoint.enabled {
        return None;
    }
    let _permit = shared.in_flight.acquire().await.ok()?;
    let attempted_at = crate::store::now();
    let Some(event) = event else {
        // Cannot happen (the event commits with its deliveries); recorded as a failed attempt, not a panic.
        let missing = AttemptResult {
            status: None,
            latency: Duration::ZERO,
            body: None,
            error: Some("the event of this delivery is missing".into()),
            retry_after: None,
        };
        return Some((attempted_at, missing));
    };
    let body = webhook_deliveries::payload(event);
    let timestamp = attempted_at.timestamp();
    let keys: Vec<Vec<u8>> = signing_secrets(&target.secrets, attempted_at)
        .into_iter()
        .filter_map(|s| signer::decode_secret(s).ok())
        .collect();
    let id = event.id.to_string();
    let signature = signer::signature_header(&keys, &id, timestamp, &body);
    // A span per attempt; its traceparent goes with the request, so the receiver's work joins this trace.
    let span = tracing::info_span!(
        "webhook.deliver",
        otel.kind = "client",
        event_id = %event.id,
        event_type = %event.event_type,
        endpoint_id = %target.endpoint.id,
        organisation_id = %target.organisation_id,
    );
    let mut headers = vec![
        ("webhook-id", id),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    headers.extend(crate::telemetry::traces::outgoing_headers(&span));
    let result = {
        let _on_the_wire = crate::telemetry::metrics::InFlight::start();
        shared
            .sender
            .send(&target.endpoint.url, &headers, body)
            .instrument(span)
            .await
    };
    let outcome = if result.succeeded() {
        crate::telemetry::metrics::webhook_delivered(crate::store::now() - event.occurred_at);
        "succeeded"
    } else if result.gone() {
        "gone"
    } else if result.status.is_none() {
        "unreachable"
    } else {
        "failed"
    };
    crate::telemetry::metrics::webhook_attempt(outcome);
    Some((attempted_at, result))
}

/// Records a batch's attempts, moves each delivery on, and keeps the endpoint's health — disabling it on 410 Gone or
/// after failing for `disable_after` — all in one transaction.
async fn record(shared: &Shared, sent: Sent) -> StoreResult<()> {
    let Sent {
        target,
        claimed,
        results,
    } = sent;
    let target = &target;
    let settings = &shared.settings;
    let txn = shared.db.begin().await?;
    let scope = Scope::new(&txn, target.organisation_id);
    let now = crate::store::now();
    let mut any_success = false;
    let mut any_failure = false;
    let mut gone = false;
    let mut disabled = None;
    let mut outcomes = Vec::with_capacity(claimed.len());
    for (c, result) in claimed.iter().zip(results) {
        let (record, next) = match result {
            None => (
                AttemptRecord {
                    attempted_at: now,
                    response_status: None,
                    latency_ms: 0,
                    response_body: None,
                    error: Some("not sent: the endpoint is disabled".into()),
                },
                Next::Failed,
            ),
            Some((attempted_at, r)) => {
                let next = webhook_deliveries::conclude(
                    c.attempt_count as usize + 1,
                    c.one_shot,
                    r.succeeded(),
                    r.gone(),
                    r.retry_after,
                    &settings.schedule,
                    now,
                );
                any_success |= r.succeeded();
                any_failure |= !r.succeeded();
                gone |= r.gone();
                let record = AttemptRecord {
                    attempted_at,
                    response_status: r.status,
                    latency_ms: r.latency.as_millis().min(u32::MAX as u128) as u32,
                    response_body: r.body,
                    error: r.error,
                };
                (record, next)
            }
        };
        let (status, next_at) = match next {
            Next::Succeeded => (DeliveryStatus::Succeeded, None),
            Next::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
            Next::Failed => (DeliveryStatus::Failed, None),
        };
        outcomes.push(Outcome {
            claimed: c,
            attempt: record,
            status,
            next_attempt_at: next_at,
        });
    }
    scope.record_attempts(&outcomes).await?;
    if any_success {
        if target.failing_since.is_some() {
            scope.set_endpoint_failing(target.endpoint.id, None).await?;
        }
    } else if any_failure {
        let failing_since = target.failing_since.unwrap_or(now);
        let reason = if gone {
            Some("the receiver answered 410 Gone")
        } else if now - failing_since >= settings.disable_after {
            Some("every delivery failed for too long")
        } else {
            None
        };
        match reason {
            Some(reason) => match crate::domain::webhook_endpoints::disable(&scope, target.endpoint.id, reason).await {
                Ok(true) => disabled = Some(reason),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, endpoint_id = %target.endpoint.id, "disabling a failing endpoint failed")
                }
            },
            None if target.failing_since.is_none() => {
                scope.set_endpoint_failing(target.endpoint.id, Some(now)).await?;
            }
            None => {}
        }
    }
    txn.commit().await?;
    if let Some(reason) = disabled {
        tracing::warn!(endpoint_id = %target.endpoint.id, reason, "disabled a webhook endpoint");
        // The disabling appended an event, which has deliveries of its own.
        shared.wake.notify_one();
    }
    Ok(())
}

/// A token bucket for an endpoint's `rate_limit` (deliveries per second, per instance).
#[derive(Default)]
struct RateLimiter {
    tokens: f64,
    last: Option<tokio::time::Instant>,
}

impl RateLimiter {
    /// Waits until at least one delivery may go, and answers how many (at most `want`).
    async fn take(&mut self, rate: u32, want: usize) -> usize {
        let rate = f64::from(rate.max(1));
        loop {
            let now = tokio::time::Instant::now();
            let elapsed = self.last.map_or(1.0, |l| (now - l).as_secs_f64());
            self.tokens = (self.tokens + elapsed * rate).min(rate);
            self.last = Some(now);
            if self.tokens >= 1.0 {
                let n = (self.tokens.floor() as usize).min(want).max(1);
                self.tokens -= n as f64;
                return n;
            }
            tokio::time::sleep(Duration::from_secs_f64((1.0 - self.tokens) / rate)).await;
        }
    }
}
