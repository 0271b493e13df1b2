//! The matching engine end to end on synthetic data: N mentors × N mentees (default 1,000 × 1,000 = a million
//! candidates), built-in policy. Prints each stage's time (median of the runs) and the process's peak memory.
//!
//!     cargo bench -p upward-server --bench matching            # 1,000 × 1,000, 5 runs
//!     MATCHING_N=300 MATCHING_RUNS=3 cargo bench -p upward-server --bench matching

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use upward_server::domain::enrolments::{Enrolment, EnrolmentRole, EnrolmentState};
use upward_server::domain::participants::Participant;
use upward_server::domain::programmes::{GroundRules, MatchingSettings, Programme, ProgrammeState, RiskSettings};
use upward_server::matching::{self, Inputs, policy::BuiltinPolicy};
use uuid::Uuid;

const TOPICS: [&str; 8] = [
    "AI",
    "social",
    "hybrid",
    "data",
    "security",
    "design",
    "finance",
    "inclusion",
];

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

/// Deterministic synthetic people: mentors at levels 1–4, mentees 6–10, eight departments, a few topics each.
fn synthetic(n: usize) -> Inputs {
    let mut seed = 42u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let now = Utc::now();
    let programme = Programme {
        id: Uuid::now_v7(),
        name: "Bench".into(),
        description: None,
        goals: vec![],
        topics: TOPICS.iter().map(|t| t.to_string()).collect(),
        ground_rules: GroundRules::default(),
        ground_rules_version: 1,
        starts_on: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
        ends_on: NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(),
        managers: vec![],
        matching: MatchingSettings::default(),
        risk: RiskSettings::default(),
        state: ProgrammeState::Matching,
        allowed_transitions: vec![],
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut person = |level: i32, role: EnrolmentRole| {
        let id = Uuid::now_v7();
        let topics: Vec<String> = (0..3).map(|_| TOPICS[(next() % 8) as usize].to_string()).collect();
        let participant = Participant {
            id,
            external_id: None,
            email: format!("{id}@bench.test"),
            display_name: "x".into(),
            department: Some(format!("D{}", next() % 8)),
            job_title: None,
            level,
            manager_id: None,
            location: Some(format!("L{}", next() % 5)),
            timezone: Some(["Europe/London", "Europe/Paris", "America/New_York"][(next() % 3) as usize].into()),
            languages: vec![["en", "fr", "de"][(next() % 3) as usize].into()],
            attributes: Default::default(),
            active: true,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let enrolment = Enrolment {
            id: Uuid::now_v7(),
            programme_id: programme.id,
            participant_id: id,
            role,
            topics,
            goals: None,
            capacity: 1,
            availability: None,
            state: EnrolmentState::Active,
            withdrawal: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        (participant, enrolment)
    };
    let mentors = (0..n)
        .map(|i| person(1 + (i % 4) as i32, EnrolmentRole::Mentor))
        .collect();
    let mentees = (0..n)
        .map(|i| person(6 + (i % 5) as i32, EnrolmentRole::Mentee))
        .collect();
    Inputs {
        programme,
        mentors,
        mentees,
        lines: HashMap::new(),
        open: HashMap::new(),
        open_pairs: HashSet::new(),
        dissolved: HashSet::new(),
    }
}
