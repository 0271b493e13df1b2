//! Structured logs with `tracing`: human-readable text by default, JSON lines with `UPWARD_LOG_FORMAT=json`; the same
//! spans exported as OpenTelemetry traces when `UPWARD_OTLP_ENDPOINT` is set ([`traces`]); metrics for Prometheus in
//! [`metrics`].

pub mod metrics;
pub mod traces;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, LogFormat};

/// Installs the process's subscriber. Returns the trace exporter to shut down (flushing the last spans) on exit, when
/// one is configured; an exporter that cannot be built is an error, so a mistyped endpoint stops start-up.
pub fn init(config: &Config) -> Result<Option<traces::Exporting>, String> {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let (otel, exporting) = match config.otlp_endpoint.as_deref() {
        Some(endpoint) => {
            let (layer, exporting) = traces::layer(endpoint)?;
            (Some(layer), Some(exporting))
        }
        None => (None, None),
    };
    // Colour codes only for a terminal: in a file or a log collector they are noise around every field.
    let ansi = std::io::stdout().is_terminal();
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    // A second initialisation (tests build many apps in one process) is harmless; ignore it.
    let _ = match config.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stdout),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stdout),
            )
            .try_init(),
    };
    Ok(exporting)
}
