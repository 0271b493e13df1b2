//! Background work of one instance: the webhook dispatcher (and, with Redis, the relay of other instances'
//! wake-ups), time-based lifecycle events, plugin survey scores, scheduled and abandoned HRIS syncs, rotating signing keys when due, pruning expired idempotency records and old webhook deliveries, and
//! failing matching runs and finishing plugin compiles a stopped instance left behind. Each task is safe to run on
//! many instances at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api::AppState;

pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Jobs {
    pub fn start(state: Arc<AppState>) -> Jobs {
        let (stop, stopped) = watch::channel(false);
        let mut handles = Vec::new();
        if state.config.webhook_dispatcher {
            handles.push(tokio::spawn(crate::webhooks::dispatcher::run(
                state.db.clone(),
                state.config.webhook_settings(),
                state.webhooks.notify(),
                stopped.clone(),
            )));
            if let Some(url) = &state.config.redis_url
                && let Ok(client) = redis::Client::open(url.as_str())
            {
                handles.push(tokio::spawn(crate::webhooks::listen(
                    client,
                    state.webhooks.notify(),
                    stopped.clone(),
                )));
            }
        }
        handles.push(tokio::spawn(timed_events(state.clone(), stopped.clone())));
        handles.push(tokio::spawn(survey_scoring(state.clone(), stopped.clone())));
        handles.push(tokio::spawn(hris_syncs(state.clone(), stopped.clone())));
        handles.push(tokio::spawn(housekeeping(state, stopped)));
        Jobs { stop, handles }
    }

    /// Asks every job to stop and waits for them, for [`STOP_GRACE`] at most: a job still busy then (a dispatcher
    /// working through a backlog, a listener reconnecting to a Redis that is gone) is aborted. Nothing is lost by
    /// that: its leases run out and another instance, or this one restarted, takes the work over (bench/faults.py
    /// once saw SIGTERM under load never end the process after a Redis outage).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for handle in self.handles {
            let abort = handle.abort_handle();
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                tracing::warn!(
                    "a background job did not stop within the grace period; aborted (its leases will expire)"
                );
                abort.abort();
            }
        }
    }
}

/// How long a stopping instance waits for its background jobs: the webhook timeout (15 s by default) and a margin.
pub const STOP_GRACE: Duration = Duration::from_secs(20);

/// Computes stale plugin survey scores off the request path.
async fn survey_scoring(state: Arc<AppState>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(state.config.survey_scoring_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        match crate::domain::survey_scores::compute_due(&state.db, state.plugins.clone(), &state.config).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "computing plugin survey scores failed"),
        }
    }
}

/// Starts scheduled HRIS syncs as their slots come, and takes over syncs a stopped instance left running.
async fn hris_syncs(state: Arc<AppState>, mut stopped: watch::Receiver<bool>) {
    let services = crate::domain::hris_syncs::Services::of(&state);
    let mut tick = tokio::time::interval(Duration::from_millis(state.config.hris_sync_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        match crate::domain::hris_syncs::run_due(&services, crate::store::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(syncs = n, "ran HRIS syncs"),
            Err(e) => tracing::warn!(error = %e, "running HRIS syncs failed"),
        }
    }
}

/// Emits the time-based lifecycle events as they come due, then wakes the dispatchers.
async fn timed_events(state: Arc<AppState>, mut stopped: watch::Receiver<bool>) {
    let period = Duration::from_millis(state.config.timed_events_interval_ms);
    let leads = crate::domain::timed_events::Leads {
        session_upcoming: chrono::Duration::hours(state.config.session_upcoming_hours as i64),
        programme_ending_days: state.config.programme_ending_soon_days as i64,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        match crate::domain::timed_events::emit_due(&state.db, leads, crate::store::now()).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(emitted = n, "emitted time-based events");
                state.webhooks.wake();
            }
            Err(e) => tracing::warn!(error = %e, "emitting time-based events failed"),
        }
    }
}

async fn housekeeping(state: Arc<AppState>, mut stopped: watch::Receiver<bool>) {
    // Start-up already ensured a signing key; the first round is a period later.
    let period = Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        housekeeping_round(&state)
            .instrument(tracing::info_span!("housekeeping"))
            .await;
    }
}

/// One round of housekeeping: key rotation, pruning, abandoned runs, retention, stalled plugin compiles.
async fn housekeeping_round(state: &AppState) {
    if let Err(e) = state.auth.keys().ensure_signing_key().await {
        tracing::warn!(error = %e, "signing key rotation check failed");
    }
    let before = chrono::Utc::now() - state.idempotency_retention();
    match state.db.prune_idempotency_keys(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pruned = n, "pruned expired idempotency keys"),
        Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
    }
    let before = chrono::Utc::now() - chrono::Duration::days(state.config.webhook_retention_days as i64);
    match state.db.prune_webhook_deliveries(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pruned = n, "pruned old webhook deliveries"),
        Err(e) => tracing::warn!(error = %e, "pruning webhook deliveries failed"),
    }
    match crate::domain::matching_runs::fail_abandoned(
        &state.db,
        chrono::Duration::minutes(crate::domain::matching_runs::ABANDONED_AFTER_MINUTES),
    )
    .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(failed = n, "failed matching runs left behind by a stopped instance"),
        Err(e) => tracing::warn!(error = %e, "checking for abandoned matching runs failed"),
    }
    // Retention: each organisation's policy, applied by one instance an hour.
    match crate::domain::retention::apply_due(&state.db, &state.secrets, chrono::Duration::hours(1)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(organisations = n, "applied retention policies"),
        Err(e) => tracing::warn!(error = %e, "applying retention policies failed"),
    }
    match crate::domain::plugins::resume_stalled(&state.db, state.plugins.clone(), chrono::Duration::minutes(5)).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(resumed = n, "compiled plugins a stopped instance left compiling"),
        Err(e) => tracing::warn!(error = %e, "resuming stalled plugin compiles failed"),
    }
}
