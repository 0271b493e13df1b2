//! The host's imports (`config`, `log`, and for connectors `http`), or — natively, under `cargo test` — the
//! [`crate::testing`] harness standing in for them. Every world imports the same `config` and `log` interfaces; the
//! enabled world's bindings reach them.

#[cfg(target_arch = "wasm32")]
mod imports {
    #[cfg(all(not(feature = "matcher"), not(feature = "survey-scorer"), feature = "hris-connector"))]
    pub use crate::connector::bindings::upward::plugin::{config, log};
    #[cfg(feature = "matcher")]
    pub use crate::matcher::bindings::upward::plugin::{config, log};
    #[cfg(all(not(feature = "matcher"), feature = "survey-scorer"))]
    pub use crate::scorer::bindings::upward::plugin::{config, log};
}

#[cfg(all(
    target_arch = "wasm32",
    any(feature = "matcher", feature = "survey-scorer", feature = "hris-connector")
))]
pub fn config() -> String {
    imports::config::get()
}

#[cfg(all(
    target_arch = "wasm32",
    any(feature = "matcher", feature = "survey-scorer", feature = "hris-connector")
))]
pub fn secret(name: &str) -> Option<String> {
    imports::config::secret(name)
}

#[cfg(all(
    target_arch = "wasm32",
    any(feature = "matcher", feature = "survey-scorer", feature = "hris-connector")
))]
pub fn log(level: u8, message: &str) {
    use imports::log::{Level, log};
    let level = match level {
        0 => Level::Debug,
        1 => Level::Info,
        2 => Level::Warn,
        _ => Level::Error,
    };
    log(level, message)
}

#[cfg(not(all(
    target_arch = "wasm32",
    any(feature = "matcher", feature = "survey-scorer", feature = "hris-connector")
)))]
pub fn config() -> String {
    crate::testing::state(|s| s.config.clone())
}

#[cfg(not(all(
    target_arch = "wasm32",
    any(feature = "matcher", feature = "survey-scorer", feature = "hris-connector")
)))]
pub fn secret(name: &str) -> Option<String> {
    crate::testing::state(|s| s.secrets.get(name).cloned())
}

#[cfg(not(all(
    target_arch = "wasm32",
    any(feature = "matcher", feature = "survey-scorer", feature = "hris-connector")
)))]
pub fn log(level: u8, message: &str) {
    let level = ["debug", "info", "warn", "error"][level.min(3) as usize];
    crate::testing::state(|s| s.logs.push(format!("{level}: {message}")))
}
