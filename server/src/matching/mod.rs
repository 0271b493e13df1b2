//! The matching engine: candidates (every mentor–mentee pair the pair service's hard rules allow, and not dissolved
//! together before), scores from the programme's policy in batches, and a globally optimal assignment honouring each
//! mentor's remaining capacity. Pure computation over loaded data: `domain::matching_runs` loads, runs and records.

pub mod policy;
pub mod solver;
mod synthetic;

pub use synthetic::synthetic;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::enrolments::Enrolment;
use crate::domain::pairs::pairing_rules;
use crate::domain::participants::Participant;
use crate::domain::programmes::Programme;
use policy::{Candidate, Factor, MatchingPolicy, PolicyError, Side, Verdict};

/// Candidates scored per policy call.
pub const BATCH: usize = 100_000;

/// Chosen pairs explained per policy call: explaining costs an interpreted plugin about ten times what scoring does,
/// so explanations go in smaller calls, each with its own budget.
pub const EXPLAIN_BATCH: usize = 256;

/// Everything a run reads, loaded beforehand.
pub struct Inputs {
    pub programme: Programme,
    /// Active mentor enrolments with their participant.
    pub mentors: Vec<(Participant, Enrolment)>,
    pub mentees: Vec<(Participant, Enrolment)>,
    /// Each participant's managers, nearest first.
    pub lines: HashMap<Uuid, Vec<Uuid>>,
    /// Open pairs per participant in this programme.
    pub open: HashMap<Uuid, u64>,
    /// (mentor, mentee) pairs that are open, or were dissolved, in this programme.
    pub open_pairs: HashSet<(Uuid, Uuid)>,
    pub dissolved: HashSet<(Uuid, Uuid)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Proposal {
    pub mentor_id: Uuid,
    pub mentee_id: Uuid,
    pub score: f64,
    pub factors: Vec<Factor>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Unmatched {
    pub participant_id: Uuid,
    #[schema(example = "mentee")]
    pub role: String,
    #[schema(example = "no eligible mentor: insufficient_level_gap ×4, same_department ×2")]
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    pub mentors: u64,
    pub mentees: u64,
    /// Pairs the hard rules allowed.
    pub candidates: u64,
    /// Candidates the policy vetoed.
    pub vetoed: u64,
    pub candidates_ms: f64,
    pub scoring_ms: f64,
    pub assignment_ms: f64,
    /// Sum of the proposals' scores.
    pub total_score: f64,
}

pub struct Outcome {
    pub proposals: Vec<Proposal>,
    pub unmatched: Vec<Unmatched>,
    pub stats: Stats,
    /// What went wrong without failing the run (explanations the policy could not give).
    pub warnings: Vec<String>,
}

/// Why a run produced no assignment.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Stopped(#[from] solver::Stopped),
}

/// Runs the three stages. Deterministic for the same inputs: participants are taken in enrolment order. `stop` bounds
/// the whole run: it is checked between scoring batches and inside the assignment.
pub fn run(inputs: &Inputs, policy: &dyn MatchingPolicy, stop: &solver::Stop<'_>) -> Result<Outcome, RunError> {
    let p = &inputs.programme;
    let mut stats = Stats {
        mentors: inputs.mentors.len() as u64,
        mentees: inputs.mentees.len() as u64,
        ..Default::default()
    };
    let empty = Vec::new();

    // 1. Candidates, with why the others were refused (per participant, per rule).
    let started = Instant::now();
    let mut candidates: Vec<(u32, u32)> = Vec::new();
    let mut refusals: HashMap<Uuid, BTreeMap<String, u32>> = HashMap::new();
    for (i, (mentor, me)) in inputs.mentors.iter().enumerate() {
        let line = inputs.lines.get(&mentor.id).unwrap_or(&empty);
        let mentor_open = inputs.open.get(&mentor.id).copied().unwrap_or(0);
        for (j, (mentee, te)) in inputs.mentees.iter().enumerate() {
            let key = (mentor.id, mentee.id);
            let mut broken = pairing_rules(
                p,
                mentor,
                mentee,
                Some(me),
                Some(te),
                line,
                (mentor_open, inputs.open.get(&mentee.id).copied().unwrap_or(0)),
                inputs.open_pairs.contains(&key),
            )
            .into_iter()
            .map(|e| e.code)
            .collect::<Vec<_>>();
            if inputs.dissolved.contains(&key) {
                broken.push("dissolved_before".into());
            }
            if broken.is_empty() {
                candidates.push((i as u32, j as u32));
            } else {
                for code in broken {
                    *refusals.entry(mentor.id).or_default().entry(code.clone()).or_default() += 1;
                    *refusals.entry(mentee.id).or_default().entry(code).or_default() += 1;
                }
            }
        }
    }
    stats.candidates = candidates.len() as u64;
    stats.candidates_ms = ms(started);

    // 2. Scores, in batches.
    let started = Instant::now();
    let mut scores: Vec<solver::Score> = Vec::with_capacity(candidates.len());
    for chunk in candidates.chunks(BATCH) {
        stop.check()?;
        let batch: Vec<Candidate<'_>> = chunk.iter().map(|&(i, j)| sides(inputs, i, j)).collect();
        let verdicts = policy.score(p, &batch, false)?;
        if verdicts.len() != batch.len() {
            return Err(PolicyError::WrongCount {
                expected: batch.len(),
                got: verdicts.len(),
            }
            .into());
        }
        for verdict in verdicts {
            scores.push(match verdict {
                Verdict::Score { score, .. } if score.is_finite() && score >= 0.0 => Some(score),
                Verdict::Score { score, .. } => return Err(PolicyError::BadScore(score).into()),
                Verdict::Veto { .. } => {
                    stats.vetoed += 1;
                    None
                }
            });
        }
    }
    stats.scoring_ms = ms(started);

    // 3. The optimal assignment: a row per free mentor slot, a column per mentee.
    stop.check()?;
    let started = Instant::now();
    let mut slot_owner: Vec<u32> = Vec::new();
    let mut first_slot: Vec<usize> = Vec::with_capacity(inputs.mentors.len());
    for (i, (mentor, enrolment)) in inputs.mentors.iter().enumerate() {
        first_slot.push(slot_owner.len());
        let open = inputs.open.get(&mentor.id).copied().unwrap_or(0);
        let free = (enrolment.capacity as u64).saturating_sub(open);
        slot_owner.extend(std::iter::repeat_n(i as u32, free as usize));
    }
    let (rows, cols) = (slot_owner.len(), inputs.mentees.len());
    let mut matrix: Vec<solver::Score> = vec![None; rows * cols];
    for (&(i, j), score) in candidates.iter().zip(&scores) {
        let i = i as usize;
        let end = first_slot.get(i + 1).copied().unwrap_or(rows);
        for slot in first_slot[i]..end {
            matrix[slot * cols + j as usize] = *score;
        }
    }
    let assignment = solver::assign(rows, cols, &matrix, stop)?;
    stats.assignment_ms = ms(started);

    // Explanations for the chosen pairs only (a million factor lists would not fit the budget). The assignment is
    // already decided: a policy that cannot explain it does not undo it — the proposals keep the scores they were
    // chosen by, without factors, and the run says why.
    let chosen: Vec<(u32, u32, f64)> = assignment
        .iter()
        .enumerate()
        .filter_map(|(slot, col)| col.map(|c| (slot_owner[slot], c as u32, matrix[slot * cols + c].unwrap_or(0.0))))
        .collect();
    let mut warnings = Vec::new();
    let mut proposals = Vec::with_capacity(chosen.len());
    for chunk in chosen.chunks(EXPLAIN_BATCH) {
        let batch: Vec<Candidate<'_>> = chunk.iter().map(|&(i, j, _)| sides(inputs, i, j)).collect();
        let explained = if warnings.is_empty() {
            match policy.score(p, &batch, true) {
                Ok(v) if v.len() == batch.len() => Some(v),
                Ok(v) => {
                    warnings.push(format!(
                        "explanations unavailable: the policy answered {} explanations for {} pairs; proposals carry \
                         the scores they were chosen by, without factors",
                        v.len(),
                        batch.len()
                    ));
                    None
                }
                Err(e) => {
                    warnings.push(format!(
                        "explanations unavailable: {e}; proposals carry the scores they were chosen by, without factors"
                    ));
                    None
                }
            }
        } else {
            None
        };
        for (index, &(i, j, chosen_score)) in chunk.iter().enumerate() {
            let (score, factors) = match explained.as_ref().map(|v| &v[index]) {
                Some(Verdict::Score { score, factors }) => (*score, factors.clone()),
                Some(Verdict::Veto { reason }) => {
                    warnings.push(format!(
                        "the policy vetoed a pair it had scored when asked to explain it ({reason}); it is proposed \
                         with the score it was chosen by"
                    ));
                    (chosen_score, Vec::new())
                }
                None => (chosen_score, Vec::new()),
            };
            stats.total_score += score;
            proposals.push(Proposal {
                mentor_id: inputs.mentors[i as usize].0.id,
                mentee_id: inputs.mentees[j as usize].0.id,
                score,
                factors,
            });
        }
    }

    // Everyone left out, and why.
    let matched: HashSet<Uuid> = proposals.iter().flat_map(|p| [p.mentor_id, p.mentee_id]).collect();
    let with_candidates: HashSet<Uuid> = candidates
        .iter()
        .zip(&scores)
        .filter(|(_, s)| s.is_some())
        .flat_map(|(&(i, j), _)| [inputs.mentors[i as usize].0.id, inputs.mentees[j as usize].0.id])
        .collect();
    let mut unmatched = Vec::new();
    for (role, people, other) in [
        ("mentor", &inputs.mentors, "mentee"),
        ("mentee", &inputs.mentees, "mentor"),
    ] {
        for (person, _) in people.iter() {
            if matched.contains(&person.id) {
                continue;
            }
            let reason = if with_candidates.contains(&person.id) {
                format!("every eligible {other} went to a better-scoring pair")
            } else {
                match refusals.get(&person.id) {
                    Some(rules) => {
                        let mut rules: Vec<_> = rules.iter().collect();
                        rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                        let listed: Vec<String> = rules.iter().map(|(code, n)| format!("{code} ×{n}")).collect();
                        format!("no eligible {other}: {}", listed.join(", "))
                    }
                    None => format!("no eligible {other}"),
                }
            };
            unmatched.push(Unmatched {
                participant_id: person.id,
                role: role.into(),
                reason,
            });
        }
    }
    Ok(Outcome {
        proposals,
        unmatched,
        stats,
        warnings,
    })
}

fn sides(inputs: &Inputs, i: u32, j: u32) -> Candidate<'_> {
    let (mentor, me) = &inputs.mentors[i as usize];
    let (mentee, te) = &inputs.mentees[j as usize];
    (
        Side {
            participant: mentor,
            enrolment: me,
        },
        Side {
            participant: mentee,
            enrolment: te,
        },
    )
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
