//! # upward-plugin-sdk
//!
//! Write Upward plugins in Rust. Enable the feature of the world your plugin implements — `matcher`,
//! `survey-scorer` or `hris-connector` — implement its trait, and export it with the matching macro:
//!
//! ```ignore
//! use upward_plugin_sdk::matcher::{Matcher, ProgrammeContext, Profile, Verdict};
//!
//! struct SameSite;
//!
//! impl Matcher for SameSite {
//!     fn score(programme: &ProgrammeContext, mentor: &Profile, mentee: &Profile) -> Verdict {
//!         let shared = mentor.topics.iter().filter(|t| mentee.topics.contains(t)).count();
//!         Verdict::Score(shared as f64 * programme.weight("shared_topics"))
//!     }
//! }
//!
//! upward_plugin_sdk::export_matcher!(SameSite);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release` (crate type `cdylib`) and upload the `.wasm` to
//! `POST /v1/plugins`. The same code runs natively under `cargo test`: the [`testing`] harness stands in for the
//! host's `config`, `log` and `http` imports, and calls your plugin through the same batch glue the export uses.
//!
//! The contract itself is `wit/upward.wit` ([`WIT`]); other languages implement it with their own component
//! toolchains.

/// The contract this SDK implements, `upward:plugin@0.1.0`.
pub const WIT: &str = include_str!("../wit/upward.wit");
/// Its version.
pub const CONTRACT_VERSION: &str = "0.1.0";

#[cfg(feature = "matcher")]
pub mod matcher;

#[cfg(feature = "survey-scorer")]
pub mod scorer;

#[cfg(feature = "hris-connector")]
pub mod connector;

pub mod testing;

#[doc(hidden)]
pub mod host;

/// The plugin's configuration, parsed into your type (the organisation sets it, checked against the manifest's JSON
/// Schema; under `cargo test`, [`testing::set_config`]).
pub fn config<T: serde::de::DeserializeOwned>() -> Result<T, String> {
    serde_json::from_str(&host::config()).map_err(|e| format!("the plugin's configuration does not parse: {e}"))
}

/// The configuration as a JSON document.
pub fn config_json() -> String {
    host::config()
}

/// A secret by name (HRIS connectors: API keys and tokens the organisation stored); `None` when not set.
pub fn secret(name: &str) -> Option<String> {
    host::secret(name)
}

/// Log lines go to the invocation's record (capped per invocation).
pub mod log {
    use super::host;

    pub fn debug(message: &str) {
        host::log(0, message)
    }
    pub fn info(message: &str) {
        host::log(1, message)
    }
    pub fn warn(message: &str) {
        host::log(2, message)
    }
    pub fn error(message: &str) {
        host::log(3, message)
    }
}
