//! Matching policies: what a candidate pair is worth. One trait, [`MatchingPolicy`], scores batches of candidates;
//! the built-in policy weighs shared topics, cross-department perspective, the seniority gap, proximity (time zone,
//! location) and shared languages with the programme's `matching.weights`. Plugins will implement the same trait.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::enrolments::Enrolment;
use crate::domain::participants::Participant;
use crate::domain::programmes::{CrossDepartment, Programme};

/// One side of a candidate pair.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub participant: &'a Participant,
    pub enrolment: &'a Enrolment,
}

/// A candidate pair: (mentor, mentee).
pub type Candidate<'a> = (Side<'a>, Side<'a>);

/// How much one factor contributed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Factor {
    #[schema(example = "shared_topics")]
    pub name: String,
    /// The factor's value, 0 to 1.
    pub value: f64,
    pub weight: f64,
    /// `value × weight`.
    pub contribution: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Score { score: f64, factors: Vec<Factor> },
    Veto { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy answered {got} verdicts for {expected} candidates")]
    WrongCount { expected: usize, got: usize },
    #[error("the policy gave a score that is not a finite number ≥ 0 ({0})")]
    BadScore(f64),
    #[error("{0}")]
    Failed(String),
}

pub trait MatchingPolicy: Send + Sync {
    fn name(&self) -> String;
    /// One verdict per candidate, in order. With `explain`, each score carries its factors; without, the factors may
    /// be left out (the engine asks for explanations of the chosen pairs only).
    fn score(&self, programme: &Programme, batch: &[Candidate<'_>], explain: bool)
    -> Result<Vec<Verdict>, PolicyError>;
}

pub struct BuiltinPolicy;

impl MatchingPolicy for BuiltinPolicy {
    fn name(&self) -> String {
        "builtin".into()
    }

    fn score(
        &self,
        programme: &Programme,
        batch: &[Candidate<'_>],
        explain: bool,
    ) -> Result<Vec<Verdict>, PolicyError> {
        Ok(batch
            .iter()
            .map(|(mentor, mentee)| builtin_score(programme, mentor, mentee, explain))
            .collect())
    }
}

/// The built-in policy's score of one candidate.
pub fn builtin_score(programme: &Programme, mentor: &Side<'_>, mentee: &Side<'_>, explain: bool) -> Verdict {
    let w = &programme.matching.weights;
    let (a, b) = (mentor.participant, mentee.participant);
    let shared = mentor
        .enrolment
        .topics
        .iter()
        .filter(|t| mentee.enrolment.topics.contains(t))
        .count();
    let fewer = mentor.enrolment.topics.len().min(mentee.enrolment.topics.len());
    let topics = if fewer == 0 { 0.0 } else { shared as f64 / fewer as f64 };
    let departments = match (&a.department, &b.department) {
        (Some(x), Some(y)) if x.to_lowercase() != y.to_lowercase() => 1.0,
        _ => 0.0,
    };
    let department_weight = if programme.matching.cross_department == CrossDepartment::Ignored {
        0.0
    } else {
        w.cross_department
    };
    // A real seniority gap brings a different view; beyond six levels it adds nothing more.
    let gap = ((b.level - a.level).max(0) as f64 / 6.0).min(1.0);
    let mut proximity = 0.0;
    if a.timezone.is_some() && a.timezone == b.timezone {
        proximity += 0.5;
    }
    if a.location.is_some() && a.location == b.location {
        proximity += 0.5;
    }
    let languages = if a.languages.iter().any(|l| b.languages.contains(l)) {
        1.0
    } else {
        0.0
    };
    let parts = [
        ("shared_topics", topics, w.shared_topics),
        ("cross_department", departments, department_weight),
        ("level_gap", gap, w.level_gap),
        ("proximity", proximity, w.proximity),
        ("shared_languages", languages, w.shared_languages),
    ];
    let score = parts.iter().map(|(_, value, weight)| value * weight).sum();
    let factors = if explain {
        parts
            .into_iter()
            .map(|(name, value, weight)| Factor {
                name: name.into(),
                value,
                weight,
                contribution: value * weight,
            })
            .collect()
    } else {
        Vec::new()
    };
    Verdict::Score { score, factors }
}
