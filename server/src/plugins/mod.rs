//! The plugin host (wasmtime, component model): compiles components once (cached in memory and, serialized, on disk),
//! pre-instantiates them, and runs each invocation in a fresh store with its own limits — fuel scaled to the batch,
//! an epoch deadline, a memory cap, an output cap, a log budget — and WASI preview 2 linked with every capability
//! denied (no preopens, no environment, no sockets, no DNS), because components from any toolchain import it.
//! Invocations run where the caller runs them: always on the blocking pool, never on an HTTP worker.

pub mod cache;
pub mod connector;
pub mod inspect;
pub mod matcher;
pub mod run;
pub mod scorer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use cache::{ArtifactSource, ComponentCache};

/// How often the epoch advances: the granularity of wall-clock deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The contract versions this host implements (`upward:plugin@…`).
pub const CONTRACT_VERSIONS: &[&str] = &["0.1.0"];

/// The three kinds of plugin, one per world of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Matcher,
    SurveyScorer,
    HrisConnector,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Matcher => "matcher",
            Kind::SurveyScorer => "survey_scorer",
            Kind::HrisConnector => "hris_connector",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "matcher" => Some(Kind::Matcher),
            "survey_scorer" => Some(Kind::SurveyScorer),
            "hris_connector" => Some(Kind::HrisConnector),
            _ => None,
        }
    }

    /// The WIT world a component of this kind implements.
    pub fn world(self) -> &'static str {
        match self {
            Kind::Matcher => "matcher",
            Kind::SurveyScorer => "survey-scorer",
            Kind::HrisConnector => "hris-connector",
        }
    }

    /// The interface the world exports.
    pub fn export(self) -> &'static str {
        match self {
            Kind::Matcher => "matching",
            Kind::SurveyScorer => "scoring",
            Kind::HrisConnector => "directory",
        }
    }

    /// The contract's interfaces the world imports.
    pub fn imports(self) -> &'static [&'static str] {
        match self {
            Kind::HrisConnector => &["types", "log", "config", "http"],
            _ => &["types", "log", "config"],
        }
    }
}

/// Per-invocation limits, set per organisation within the platform's maximums.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Wall-clock budget of one invocation.
    pub timeout: Duration,
    /// Linear memory a plugin may grow to.
    pub memory_bytes: usize,
    /// Fuel granted per invocation, plus `fuel_per_item` for each item of the batch.
    pub fuel_base: u64,
    pub fuel_per_item: u64,
    /// Fuel per item when a matcher explains the pairs it chose: an interpreted plugin spends about ten times as much
    /// explaining a pair as scoring it, so explanations have their own budget.
    pub explain_fuel_per_item: u64,
    /// The largest output (strings and lists, as lifted by the host) an invocation may return.
    pub output_bytes: usize,
    /// Log bytes kept per invocation.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            fuel_base: 50_000_000,
            // ≈100 per scored pair in Rust, ≈17,000 in interpreted languages: room for the latter.
            fuel_per_item: 20_000,
            // ≈1,000 per explained pair in Rust, ≈400,000 for a Python matcher.
            explain_fuel_per_item: 500_000,
            output_bytes: 16 << 20,
            log_bytes: 64 << 10,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("the component could not be compiled: {0}")]
    Compile(String),
    #[error("the component does not implement the `{world}` world: {message}")]
    WrongWorld { world: &'static str, message: String },
    #[error("the plugin ran out of CPU (fuel)")]
    OutOfFuel,
    #[error("the plugin ran past its {0:?} deadline")]
    Timeout(Duration),
    #[error("the plugin ran out of memory (limit {0} bytes)")]
    OutOfMemory(usize),
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin returned an error: {0}")]
    Returned(String),
    #[error("the plugin's output is malformed: {0}")]
    Malformed(String),
}

impl PluginError {
    /// A stable name for the outcome of a failed invocation.
    pub fn outcome(&self) -> &'static str {
        match self {
            PluginError::Compile(_) | PluginError::WrongWorld { .. } => "invalid_component",
            PluginError::OutOfFuel => "out_of_fuel",
            PluginError::Timeout(_) => "timeout",
            PluginError::OutOfMemory(_) => "out_of_memory",
            PluginError::Trap(_) => "trap",
            PluginError::Returned(_) => "returned_error",
            PluginError::Malformed(_) => "malformed_output",
        }
    }
}

/// What one invocation spent, for the plugin's owners.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    #[schema(example = 3.2)]
    pub duration_ms: f64,
    #[schema(example = 1_250_000)]
    pub fuel_used: u64,
    /// Items in the call (candidates, responses, …).
    #[schema(example = 1000)]
    pub items: u64,
    /// The plugin's log lines, up to the log budget.
    #[schema(example = json!(["info: scored 1000 candidates"]))]
    pub logs: Vec<String>,
    /// Whether lines were dropped because the budget ran out.
    pub logs_truncated: bool,
}

/// The shared engine: one per process, with an epoch ticker and the compiled-component cache.
pub struct Host {
    engine: Engine,
    stop: Arc<AtomicBool>,
    pub cache: ComponentCache,
    /// The HTTP client connectors reach their allowed hosts with.
    http: reqwest::Client,
    /// What connectors may reach.
    guard: crate::net::Guard,
}

impl Host {
    /// A host without an on-disk cache (tests, benchmarks, `upward plugin run`).
    pub fn new() -> Result<Host, PluginError> {
        Host::with(None, Limits::default().memory_bytes * 4, crate::net::Guard::strict())
    }

    /// A host whose compiled artifacts survive restarts in `cache_dir`, with instances of up to `max_memory` bytes.
    pub fn with(cache_dir: Option<PathBuf>, max_memory: usize, guard: crate::net::Guard) -> Result<Host, PluginError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.epoch_interruption(true);
        // For profiling plugins with `perf`: names the guest's functions in /tmp/perf-<pid>.map.
        if std::env::var_os("UPWARD_PLUGIN_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(512)
            .total_memories(256)
            .max_memories_per_component(4)
            .max_memory_size(max_memory);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| PluginError::Compile(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticker, stopped) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("upward-plugin-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Compile(e.to_string()))?;
        // Names resolve through the outbound guard: the address a connector reaches is the address that was checked.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .dns_resolver(guard.resolver())
            .build()
            .map_err(|e| PluginError::Compile(e.to_string()))?;
        Ok(Host {
            cache: ComponentCache::new(engine.clone(), cache_dir),
            engine,
            stop,
            http,
            guard,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles without caching (tests and tools); the registry goes through [`ComponentCache`].
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, PluginError> {
        Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile(format!("{e:#}")))
    }

    /// Checks that a compiled component links against the world of `kind` (imports and typed exports).
    pub fn check_world(&self, kind: Kind, component: &Component) -> Result<(), PluginError> {
        match kind {
            Kind::Matcher => matcher::check(self, component),
            Kind::SurveyScorer => scorer::check(self, component),
            Kind::HrisConnector => connector::check(self, component),
        }
    }

    /// A linker with WASI preview 2 (every capability denied by the context) and the `log` and `config` imports.
    fn linker(&self) -> Result<Linker<State>, PluginError> {
        let mut linker = Linker::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| PluginError::Compile(e.to_string()))?;
        Ok(linker)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What a connector may reach, and how.
#[derive(Clone, Default)]
pub struct Network {
    pub allowed_hosts: Vec<String>,
    pub secrets: std::collections::HashMap<String, String>,
}

/// What one invocation's store holds.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    config: String,
    network: Network,
    http: Option<(reqwest::Client, crate::net::Guard)>,
    logs: Vec<String>,
    log_budget: usize,
    logs_truncated: bool,
    /// When the invocation's wall-clock budget ends: a connector's request waits no longer than that.
    deadline: Option<Instant>,
}

impl State {
    fn new(limits: &Limits, config: String) -> State {
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        State {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(16)
                .trap_on_grow_failure(true)
                .build(),
            config,
            network: Network::default(),
            http: None,
            logs: Vec::new(),
            log_budget: limits.log_bytes,
            logs_truncated: false,
            deadline: Some(Instant::now() + limits.timeout),
        }
    }

    fn log(&mut self, line: String) {
        if line.len() <= self.log_budget {
            self.log_budget -= line.len();
            self.logs.push(line);
        } else {
            self.log_budget = 0;
            self.logs_truncated = true;
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Where an invocation runs: the engine, its limits, the plugin's configuration and (connectors) its network.
pub(crate) struct Sandbox<'a> {
    pub engine: &'a Engine,
    pub limits: &'a Limits,
    pub config: String,
    pub network: Option<(Network, reqwest::Client, crate::net::Guard)>,
}

/// One invocation: a fresh store with fuel for `items`, the deadline and the memory cap; `instantiate` builds the
/// world's instance, `call` makes the call, `size` measures the output against the cap. Returns the result and what
/// the invocation spent, whatever happened.
pub(crate) fn invoke<W, R>(
    sandbox: Sandbox<'_>,
    items: usize,
    instantiate: impl FnOnce(&mut wasmtime::Store<State>) -> wasmtime::Result<W>,
    call: impl FnOnce(&W, &mut wasmtime::Store<State>) -> wasmtime::Result<Result<R, String>>,
    size: impl FnOnce(&R) -> usize,
) -> (Result<R, PluginError>, Usage) {
    let Sandbox {
        engine,
        limits,
        config,
        network,
    } = sandbox;
    let started = Instant::now();
    let mut state = State::new(limits, config);
    if let Some((network, client, guard)) = network {
        state.network = network;
        state.http = Some((client, guard));
    }
    let mut store = wasmtime::Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    // A new store has no fuel and a deadline of 0; instantiation already runs code, so set both first.
    let fuel = limits
        .fuel_base
        .saturating_add(limits.fuel_per_item.saturating_mul(items as u64));
    let result = (|| {
        store.set_fuel(fuel).map_err(|e| PluginError::Trap(e.to_string()))?;
        let ticks = (limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let instance = instantiate(&mut store).map_err(|e| classify(e, limits))?;
        match call(&instance, &mut store) {
            Ok(Ok(result)) => {
                let bytes = size(&result);
                if bytes > limits.output_bytes {
                    Err(PluginError::Malformed(format!(
                        "the output is {bytes} bytes, over the {} byte limit",
                        limits.output_bytes
                    )))
                } else {
                    Ok(result)
                }
            }
            Ok(Err(message)) => Err(PluginError::Returned(message)),
            Err(e) => Err(classify(e, limits)),
        }
    })();
    let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let state = store.into_data();
    let usage = Usage {
        duration_ms: started.elapsed().as_secs_f64() * 1e3,
        fuel_used,
        items: items as u64,
        logs: state.logs,
        logs_truncated: state.logs_truncated,
    };
    (result, usage)
}

/// Turns a wasmtime error into what went wrong, in the plugin author's terms.
fn classify(e: wasmtime::Error, limits: &Limits) -> PluginError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => PluginError::OutOfFuel,
        Some(wasmtime::Trap::Interrupt) => PluginError::Timeout(limits.timeout),
        Some(trap) => PluginError::Trap(trap.to_string()),
        None => {
            let message = format!("{e:#}");
            // The store's limiter refuses growth past the cap with this error (trap_on_grow_failure).
            if message.contains("forcing trap when growing memory") {
                PluginError::OutOfMemory(limits.memory_bytes)
            } else {
                PluginError::Trap(message)
            }
        }
    }
}

/// The contract's bindings, one module per world. The connector world imports every shared interface, so its
/// bindings define them and the other worlds reuse them: each host import is implemented once.
pub mod wit {
    pub mod connector {
        wasmtime::component::bindgen!({
            path: "../plugin-sdk/wit",
            world: "hris-connector",
        });
    }
    pub mod matcher {
        wasmtime::component::bindgen!({
            path: "../plugin-sdk/wit",
            world: "matcher",
            with: {
                "upward:plugin/types": super::connector::upward::plugin::types,
                "upward:plugin/log": super::connector::upward::plugin::log,
                "upward:plugin/config": super::connector::upward::plugin::config,
            },
        });
    }
    pub mod scorer {
        wasmtime::component::bindgen!({
            path: "../plugin-sdk/wit",
            world: "survey-scorer",
            with: {
                "upward:plugin/types": super::connector::upward::plugin::types,
                "upward:plugin/log": super::connector::upward::plugin::log,
                "upward:plugin/config": super::connector::upward::plugin::config,
            },
        });
    }
    pub use connector::upward::plugin::{config, http, log, types};
}

impl wit::types::Host for State {}

impl wit::log::Host for State {
    fn log(&mut self, level: wit::log::Level, message: String) {
        let level = match level {
            wit::log::Level::Debug => "debug",
            wit::log::Level::Info => "info",
            wit::log::Level::Warn => "warn",
            wit::log::Level::Error => "error",
        };
        self.log(format!("{level}: {message}"));
    }
}

impl wit::config::Host for State {
    fn get(&mut self) -> String {
        self.config.clone()
    }

    fn secret(&mut self, name: String) -> Option<String> {
        self.network.secrets.get(&name).cloned()
    }
}

/// One finished invocation, as the plugin's owners see it in its records.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub usage: Usage,
    /// `None` on success, else the outcome name and the message.
    pub failure: Option<(&'static str, String)>,
}

impl Invocation {
    fn of<R>(result: &Result<R, PluginError>, usage: Usage) -> Invocation {
        Invocation {
            usage,
            failure: result.as_ref().err().map(|e| (e.outcome(), e.to_string())),
        }
    }
}
