//! Traces: with `UPWARD_OTLP_ENDPOINT` set, the `tracing` spans (one per request, per job step, per outbound call)
//! are exported over OTLP/HTTP (protobuf) by OpenTelemetry's SDK; without it, nothing is exported and no trace header
//! is sent. W3C `traceparent` is read from requests (a request span continues the caller's trace) and written on
//! webhook deliveries and connector requests (the receiver's work joins the delivery's trace).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Set once an exporter is installed: without one, the per-request trace work (reading `traceparent`, renaming the
/// span) is skipped, since the hot read path pays for every allocation.
static EXPORTING: AtomicBool = AtomicBool::new(false);

fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The exporter's provider: flush it before the process exits.
pub struct Exporting(SdkTracerProvider);

impl Exporting {
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("traces: the last spans could not be exported: {e}");
        }
    }
}

/// The OTLP/HTTP traces URL for an endpoint given as the collector's base (`http://collector:4318`) or in full.
pub fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    if endpoint.ends_with("/v1/traces") {
        endpoint.to_string()
    } else {
        format!("{endpoint}/v1/traces")
    }
}

/// The layer that turns spans into OpenTelemetry spans, and its provider; installs the W3C propagator.
pub fn layer<S>(
    endpoint: &str,
) -> Result<
    (
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        Exporting,
    ),
    String,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("UPWARD_OTLP_ENDPOINT: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("upward")
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("upward");
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    EXPORTING.store(true, Ordering::Relaxed);
    Ok((tracing_opentelemetry::layer().with_tracer(tracer), Exporting(provider)))
}

struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` continue the trace a request's `traceparent` names (nothing when there is none, or no exporter).
pub fn continue_trace(span: &tracing::Span, headers: &actix_web::http::header::HeaderMap) {
    if !exporting() {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    let _ = span.set_parent(parent);
}

/// Names a request's span after its route once routing chose one (the span started before, as `METHOD unmatched`;
/// a started span's name is changed on the OpenTelemetry span itself, as `otel.name` no longer reaches it).
pub fn rename(span: &tracing::Span, method: &str, route: &str) {
    use opentelemetry::trace::TraceContextExt;
    if exporting() {
        span.context().span().update_name(format!("{method} {route}"));
    }
}

struct Carrier(HashMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

/// The `traceparent` (and `tracestate`) headers that make a receiver's work a child of `span`; empty without an
/// exporter.
pub fn outgoing_headers(span: &tracing::Span) -> Vec<(&'static str, String)> {
    if !exporting() {
        return Vec::new();
    }
    let mut carrier = Carrier(HashMap::new());
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut carrier));
    ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| carrier.0.remove(name).filter(|v| !v.is_empty()).map(|v| (name, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
    }
}
