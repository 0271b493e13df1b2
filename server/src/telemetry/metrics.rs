//! Prometheus metrics. Subsystems record through the `metrics` facade (the helpers below keep names and labels in one
//! place); a scrape samples what is cheaper to read than to track (the database pools, the webhook backlog, the
//! process) and renders the text format. One recorder per process: tests that run several servers in one process
//! share it, which only ever adds to counters.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::Db;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Latency buckets (seconds) for requests: 1 ms to 10 s.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// For background work (plugin calls, runs, syncs, delivery lag): 1 ms to 30 min.
const JOB_BUCKETS: &[f64] = &[0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0];
const FUEL_BUCKETS: &[f64] = &[1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// Installs the process's recorder (once); `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Prefix("upward_http_".into()), REQUEST_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_fuel".into()), FUEL_BUCKETS))
                .and_then(|b| b.set_buckets(JOB_BUCKETS))
                .and_then(|b| b.install_recorder())
                .map_err(|e| tracing::warn!(error = %e, "metrics are off: the recorder could not be installed"))
                .ok()?;
            describe();
            let process = metrics_process::Collector::default();
            process.describe();
            let _ = PROCESS.set(process);
            // The exporter keeps histograms as summaries of recent values until told to let go of old samples.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        "upward_http_requests_total",
        "HTTP requests answered, by route template, method and status class"
    );
    describe_histogram!(
        "upward_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route template, method and status class"
    );
    describe_gauge!(
        "upward_db_pool_connections",
        "Database connections by pool (write, read) and state (in_use, idle)"
    );
    describe_gauge!("upward_db_pool_max_connections", "The most connections each pool opens");
    describe_gauge!(
        "upward_webhook_deliveries_due",
        "Webhook deliveries due now or overdue (all instances)"
    );
    describe_gauge!(
        "upward_webhook_oldest_due_age_seconds",
        Unit::Seconds,
        "How long the oldest due webhook delivery has been due"
    );
    describe_gauge!(
        "upward_webhook_deliveries_in_flight",
        "Webhook requests this instance has on the wire"
    );
    describe_counter!(
        "upward_webhook_attempts_total",
        "Webhook delivery attempts by outcome (succeeded, failed, gone, refused)"
    );
    describe_histogram!(
        "upward_webhook_delivery_lag_seconds",
        Unit::Seconds,
        "From an event's commit to its successful delivery"
    );
    describe_counter!(
        "upward_plugin_invocations_total",
        "Plugin invocations by kind and outcome"
    );
    describe_histogram!(
        "upward_plugin_invocation_duration_seconds",
        Unit::Seconds,
        "Plugin invocation time by kind"
    );
    describe_histogram!(
        "upward_plugin_invocation_fuel",
        "Fuel (wasm instructions, roughly) a plugin invocation used, by kind"
    );
    describe_counter!(
        "upward_matching_runs_total",
        "Matching runs finished, by outcome (succeeded, failed)"
    );
    describe_histogram!(
        "upward_matching_run_duration_seconds",
        Unit::Seconds,
        "From a matching run's start to its end"
    );
    describe_counter!("upward_hris_syncs_total", "HRIS syncs finished, by outcome");
    describe_histogram!(
        "upward_hris_sync_duration_seconds",
        Unit::Seconds,
        "From an HRIS sync's start to its end"
    );
    describe_counter!(
        "upward_db_point_reads_total",
        "SQLite primary-key reads served on the request's own thread (outcome `read`), or handed to the connection \
         pool (`skipped`: the database was busy, or a value was in a form the point reader does not decode)"
    );
    describe_counter!(
        "upward_timed_events_total",
        "Time-based events emitted (session.upcoming, programme.ending_soon, pair.at_risk), by type"
    );
}

/// `2xx`, `4xx`, … — a bounded label.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The counter and histogram of one (route, method, status class) series, registered once: building the labelled
/// key and finding it in the registry on every request cost more than the increments themselves.
type RequestSeries = (&'static str, &'static str, metrics::Counter, metrics::Histogram);

static REQUEST_SERIES: std::sync::LazyLock<std::sync::RwLock<std::collections::HashMap<String, Vec<RequestSeries>>>> =
    std::sync::LazyLock::new(Default::default);

/// One answered request. `route` is the template (`/v1/pairs/{id}`), never the path, so the label stays bounded.
pub fn request(route: &str, method: &str, status: u16, elapsed: Duration) {
    if HANDLE.get().is_none_or(Option::is_none) {
        return;
    }
    // Any token is a valid HTTP method: only the standard ones become labels.
    let method: &'static str = match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    let class = status_class(status);
    let seconds = elapsed.as_secs_f64();
    let find = |series: &[RequestSeries]| {
        series
            .iter()
            .find(|(m, c, _, _)| *m == method && *c == class)
            .map(|(_, _, counter, histogram)| (counter.clone(), histogram.clone()))
    };
    let known = REQUEST_SERIES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(route)
        .and_then(|series| find(series));
    let (counter, histogram) = match known {
        Some(handles) => handles,
        None => {
            let labels = [
                ("route", route.to_string()),
                ("method", method.to_string()),
                ("status", class.to_string()),
            ];
            let counter = counter!("upward_http_requests_total", &labels);
            let histogram = histogram!("upward_http_request_duration_seconds", &labels);
            let mut all = REQUEST_SERIES.write().unwrap_or_else(|e| e.into_inner());
            let series = all.entry(route.to_string()).or_default();
            if find(series).is_none() {
                series.push((method, class, counter.clone(), histogram.clone()));
            }
            (counter, histogram)
        }
    };
    counter.increment(1);
    histogram.record(seconds);
}

/// A point read done on the calling thread (`true`) or handed to the pool. The two handles are registered once: this
/// is the hottest read.
pub fn point_read(read: bool) {
    static HANDLES: std::sync::LazyLock<(metrics::Counter, metrics::Counter)> = std::sync::LazyLock::new(|| {
        (
            counter!("upward_db_point_reads_total", "outcome" => "read"),
            counter!("upward_db_point_reads_total", "outcome" => "skipped"),
        )
    });
    if HANDLE.get().is_none_or(Option::is_none) {
        return;
    }
    let (done, skipped) = &*HANDLES;
    if read { done } else { skipped }.increment(1);
}

pub fn plugin_invocation(kind: &'static str, outcome: &str, duration_ms: f64, fuel: u64) {
    counter!("upward_plugin_invocations_total", "kind" => kind, "outcome" => outcome.to_string()).increment(1);
    histogram!("upward_plugin_invocation_duration_seconds", "kind" => kind).record(duration_ms / 1000.0);
    histogram!("upward_plugin_invocation_fuel", "kind" => kind).record(fuel as f64);
}

pub fn webhook_attempt(outcome: &'static str) {
    counter!("upward_webhook_attempts_total", "outcome" => outcome).increment(1);
}

pub fn webhook_delivered(lag: chrono::Duration) {
    histogram!("upward_webhook_delivery_lag_seconds").record(lag.num_milliseconds().max(0) as f64 / 1000.0);
}

/// Counts a webhook request on the wire for as long as the guard lives.
pub struct InFlight;

impl InFlight {
    pub fn start() -> InFlight {
        gauge!("upward_webhook_deliveries_in_flight").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!("upward_webhook_deliveries_in_flight").decrement(1.0);
    }
}

pub fn matching_run(outcome: &'static str, elapsed: Option<chrono::Duration>) {
    counter!("upward_matching_runs_total", "outcome" => outcome).increment(1);
    if let Some(elapsed) = elapsed {
        histogram!("upward_matching_run_duration_seconds").record(elapsed.num_milliseconds().max(0) as f64 / 1000.0);
    }
}

pub fn hris_sync(outcome: &str, elapsed: Option<chrono::Duration>) {
    counter!("upward_hris_syncs_total", "outcome" => outcome.to_string()).increment(1);
    if let Some(elapsed) = elapsed {
        histogram!("upward_hris_sync_duration_seconds").record(elapsed.num_milliseconds().max(0) as f64 / 1000.0);
    }
}

pub fn timed_event(event_type: &'static str) {
    counter!("upward_timed_events_total", "type" => event_type).increment(1);
}

/// Samples the pools, the webhook backlog and the process, then renders every metric in the text format.
pub async fn scrape(db: &Db) -> Option<String> {
    let handle = install()?;
    for (pool, stats) in db.pool_stats() {
        gauge!("upward_db_pool_connections", "pool" => pool, "state" => "in_use").set(stats.in_use as f64);
        gauge!("upward_db_pool_connections", "pool" => pool, "state" => "idle").set(stats.idle as f64);
        gauge!("upward_db_pool_max_connections", "pool" => pool).set(stats.max as f64);
    }
    match db.webhook_backlog(crate::store::now()).await {
        Ok((due, oldest)) => {
            gauge!("upward_webhook_deliveries_due").set(due as f64);
            let age = oldest.map_or(0.0, |at| {
                (crate::store::now() - at).num_milliseconds().max(0) as f64 / 1000.0
            });
            gauge!("upward_webhook_oldest_due_age_seconds").set(age);
        }
        Err(e) => tracing::warn!(error = %e, "the webhook backlog could not be sampled"),
    }
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    Some(handle.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_are_bounded() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(999), "5xx");
    }
}
