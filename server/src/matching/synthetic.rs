//! Deterministic synthetic inputs, for the benchmark and for tests that compare policies.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::Inputs;
use crate::domain::enrolments::{Enrolment, EnrolmentRole, EnrolmentState};
use crate::domain::participants::Participant;
use crate::domain::programmes::{GroundRules, MatchingSettings, Programme, ProgrammeState, RiskSettings};

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

/// Deterministic synthetic people: mentors at levels 1–4, mentees 6–10, eight departments, a few topics each.
pub fn synthetic(n: usize) -> Inputs {
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
        survey_scorer: "builtin".into(),
        template: false,
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
            left_at: None,
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
