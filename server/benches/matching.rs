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
        let outcome = matching::run(&inputs, &BuiltinPolicy).expect("the built-in policy never fails");
        totals.push(started.elapsed().as_secs_f64() * 1000.0);
        stages.push(outcome.stats.clone());
        assert!(!outcome.proposals.is_empty());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let s = &stages[0];
    println!(
        "matching {n} × {n}: {} candidates, {} mentor slots; median of {runs}: total {:.0} ms = candidates {:.0} ms + scoring {:.0} ms + assignment {:.0} ms (+ explanations)",
        s.candidates,
        n,
        median(totals),
        median(stages.iter().map(|s| s.candidates_ms).collect()),
        median(stages.iter().map(|s| s.scoring_ms).collect()),
        median(stages.iter().map(|s| s.assignment_ms).collect()),
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!("peak memory: {}", line.trim_start_matches("VmHWM:").trim());
    }
}
