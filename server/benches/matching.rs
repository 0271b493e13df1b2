//! The matching engine end to end on synthetic data: N mentors × N mentees (default 1,000 × 1,000 = a million
//! candidates), built-in policy. Prints each stage's time (median of the runs) and the process's peak memory.
//!
//!     cargo bench -p upward-server --bench matching            # 1,000 × 1,000, 5 runs
//!     MATCHING_N=300 MATCHING_RUNS=3 cargo bench -p upward-server --bench matching

use std::time::Instant;

use upward_server::matching::{self, policy::BuiltinPolicy, synthetic};

fn main() {
    let n: usize = std::env::var("MATCHING_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runs: usize = std::env::var("MATCHING_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let inputs = synthetic(n);
    let mut totals = Vec::new();
    let mut stages = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let outcome = matching::run(&inputs, &BuiltinPolicy, &matching::solver::Stop::never())
            .expect("the built-in policy never fails");
        totals.push(started.elapsed().as_secs_f64() * 1000.0);
        stages.push(outcome.stats.clone());
        assert!(!outcome.proposals.is_empty());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let totals_copy = totals;
    let s = &stages[0];
    println!(
        "matching {n} × {n}: {} candidates, {} mentor slots; median of {runs}: total {:.0} ms = candidates {:.0} ms + scoring {:.0} ms + assignment {:.0} ms (+ explanations)",
        s.candidates,
        n,
        median(totals_copy.clone()),
        median(stages.iter().map(|s| s.candidates_ms).collect()),
        median(stages.iter().map(|s| s.scoring_ms).collect()),
        median(stages.iter().map(|s| s.assignment_ms).collect()),
    );
    // The same run through the default-matcher plugin, when it has been built.
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let wasm = std::path::Path::new(&target).join("wasm32-wasip2/release/default_matcher.wasm");
    if let Ok(bytes) = std::fs::read(&wasm) {
        use upward_server::plugins::{Host, Limits, matcher::PluginPolicy};
        let host = Host::new().expect("the plugin host starts");
        let started = Instant::now();
        let component = host.compile(&bytes).expect("the plugin compiles");
        let compile_ms = started.elapsed().as_secs_f64() * 1000.0;
        let plugin = PluginPolicy::new(&host, "default-matcher", &component, Limits::default(), "{}".into())
            .expect("the plugin is a matcher");
        let mut plugin_totals = Vec::new();
        let mut plugin_scoring = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let outcome = matching::run(&inputs, &plugin, &matching::solver::Stop::never()).expect("the plugin scores");
            plugin_totals.push(started.elapsed().as_secs_f64() * 1000.0);
            plugin_scoring.push(outcome.stats.scoring_ms);
        }
        let builtin_total = median(totals_copy.clone());
        let plugin_total = median(plugin_totals);
        // Instantiation alone: a fresh store and instance per call, as each batch gets.
        let calls = 2000;
        let started = Instant::now();
        for _ in 0..calls {
            plugin.instantiate_only().expect("instantiates");
        }
        let per_instance_us = started.elapsed().as_secs_f64() * 1e6 / calls as f64;
        println!(
            "plugin default-matcher ({} KiB, compiled in {compile_ms:.0} ms): total {plugin_total:.0} ms (scoring {:.0} ms) = {:.2}× the built-in; one instantiation {per_instance_us:.1} µs",
            bytes.len() / 1024,
            median(plugin_scoring),
            plugin_total / builtin_total,
        );
    } else {
        println!("(build plugins/ for wasm32-wasip2 to compare the default-matcher plugin)");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!("peak memory: {}", line.trim_start_matches("VmHWM:").trim());
    }
}
