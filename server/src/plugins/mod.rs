//! The plugin host (wasmtime, component model): compiles components once, pre-instantiates them, and runs each
//! invocation in a fresh store with its own limits — fuel scaled to the batch, an epoch deadline, a memory cap — and
//! WASI preview 2 linked with every capability denied (no preopens, no environment, no sockets, no DNS), because
//! components from any toolchain import it. Invocations run where the caller runs them: the matching engine calls
//! from the blocking pool, never from an HTTP worker.

pub mod matcher;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the epoch advances: the granularity of wall-clock deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Per-invocation limits, set per organisation within the platform's maximums.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock budget of one invocation.
    pub timeout: Duration,
    /// Linear memory a plugin may grow to.
    pub memory_bytes: usize,
    /// Fuel granted per invocation, plus `fuel_per_item` for each item of the batch.
    pub fuel_base: u64,
    pub fuel_per_item: u64,
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
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin returned an error: {0}")]
    Returned(String),
    #[error("the plugin's output is malformed: {0}")]
    Malformed(String),
}

/// The shared engine: one per process, with an epoch ticker.
pub struct Host {
    engine: Engine,
    stop: Arc<AtomicBool>,
}

impl Host {
    pub fn new() -> Result<Host, PluginError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(512)
            .total_memories(256)
            .max_memories_per_component(4)
            .max_memory_size(Limits::default().memory_bytes * 4);
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
        Ok(Host { engine, stop })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn compile(&self, bytes: &[u8]) -> Result<Component, PluginError> {
        Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile(format!("{e:#}")))
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

/// What one invocation's store holds.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    config: String,
    logs: Vec<String>,
    log_budget: usize,
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
            logs: Vec::new(),
            log_budget: limits.log_bytes,
        }
    }

    fn log(&mut self, line: String) {
        if line.len() <= self.log_budget {
            self.log_budget -= line.len();
            self.logs.push(line);
        } else {
            self.log_budget = 0;
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

/// Turns a wasmtime error into what went wrong, in the plugin author's terms.
fn classify(e: wasmtime::Error, timeout: Duration) -> PluginError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => PluginError::OutOfFuel,
        Some(wasmtime::Trap::Interrupt) => PluginError::Timeout(timeout),
        Some(trap) => PluginError::Trap(trap.to_string()),
        None => PluginError::Trap(format!("{e:#}")),
    }
}
