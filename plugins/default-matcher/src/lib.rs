//! The built-in matching policy reimplemented as a plugin of the `matcher` world: the same factors (shared topics,
//! cross-department, level gap, proximity, shared languages) with the programme's weights, so a test can show both
//! give identical scores.

wit_bindgen::generate!({
    path: "../../plugin-sdk/wit",
    world: "matcher",
});

use exports::upward::plugin::matching::Guest;
use upward::plugin::types::{Candidate, CrossDepartment, Explanation, Factor, Profile, ProgrammeContext, Verdict};

struct DefaultMatcher;

fn weight(programme: &ProgrammeContext, name: &str) -> f64 {
    programme
        .weights
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0.0, |(_, w)| *w)
}

/// Departments lower-cased once per profile (not once per candidate: allocation is the costly part in a guest).
fn departments(profiles: &[Profile]) -> Vec<Option<String>> {
    profiles
        .iter()
        .map(|p| p.department.as_ref().map(|d| d.to_lowercase()))
        .collect()
}

fn factors(
    programme: &ProgrammeContext,
    mentor: &Profile,
    mentee: &Profile,
    mentor_department: &Option<String>,
    mentee_department: &Option<String>,
) -> [(&'static str, f64, f64); 5] {
    let shared = mentor.topics.iter().filter(|t| mentee.topics.contains(t)).count();
    let fewer = mentor.topics.len().min(mentee.topics.len());
    let topics = if fewer == 0 { 0.0 } else { shared as f64 / fewer as f64 };
    let departments = match (mentor_department, mentee_department) {
        (Some(x), Some(y)) if x != y => 1.0,
        _ => 0.0,
    };
    let department_weight = match programme.cross_department {
        CrossDepartment::Ignored => 0.0,
        _ => weight(programme, "cross_department"),
    };
    let gap = ((mentee.level - mentor.level).max(0) as f64 / 6.0).min(1.0);
    let mut proximity = 0.0;
    if mentor.timezone.is_some() && mentor.timezone == mentee.timezone {
        proximity += 0.5;
    }
    if mentor.location.is_some() && mentor.location == mentee.location {
        proximity += 0.5;
    }
    let languages = if mentor.languages.iter().any(|l| mentee.languages.contains(l)) {
        1.0
    } else {
        0.0
    };
    [
        ("shared_topics", topics, weight(programme, "shared_topics")),
        ("cross_department", departments, department_weight),
        ("level_gap", gap, weight(programme, "level_gap")),
        ("proximity", proximity, weight(programme, "proximity")),
        ("shared_languages", languages, weight(programme, "shared_languages")),
    ]
}

fn index(mentors: &[Profile], mentees: &[Profile], c: &Candidate) -> Result<(usize, usize), String> {
    let (i, j) = (c.0 as usize, c.1 as usize);
    if i < mentors.len() && j < mentees.len() {
        Ok((i, j))
    } else {
        Err(format!("candidate ({i}, {j}) is out of range"))
    }
}

impl Guest for DefaultMatcher {
    fn score(
        programme: ProgrammeContext,
        mentors: Vec<Profile>,
        mentees: Vec<Profile>,
        candidates: Vec<Candidate>,
    ) -> Result<Vec<Verdict>, String> {
        let (md, td) = (departments(&mentors), departments(&mentees));
        candidates
            .iter()
            .map(|c| {
                let (i, j) = index(&mentors, &mentees, c)?;
                let parts = factors(&programme, &mentors[i], &mentees[j], &md[i], &td[j]);
                Ok(Verdict::Score(parts.iter().map(|(_, v, w)| v * w).sum()))
            })
            .collect()
    }

    fn explain(
        programme: ProgrammeContext,
        mentors: Vec<Profile>,
        mentees: Vec<Profile>,
        candidates: Vec<Candidate>,
    ) -> Result<Vec<Explanation>, String> {
        let (md, td) = (departments(&mentors), departments(&mentees));
        candidates
            .iter()
            .map(|c| {
                let (i, j) = index(&mentors, &mentees, c)?;
                let parts = factors(&programme, &mentors[i], &mentees[j], &md[i], &td[j]);
                Ok(Explanation {
                    score: parts.iter().map(|(_, v, w)| v * w).sum(),
                    factors: parts
                        .iter()
                        .map(|(name, value, weight)| Factor {
                            name: name.to_string(),
                            value: *value,
                            weight: *weight,
                            contribution: value * weight,
                        })
                        .collect(),
                })
            })
            .collect()
    }
}

export!(DefaultMatcher);
