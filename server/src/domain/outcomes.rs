//! Outcomes: does the programme work? Retention of its mentors and mentees against a comparison group of people who
//! never took part, and the would-recommend curve by the number of sessions a pair had held. Every figure rests on
//! counts that are reported with it; a group of fewer than k people (`UPWARD_MIN_GROUP_SIZE`) is suppressed, because
//! in a small department "who left" points at someone.
//!
//! The statistics are the textbook ones, chosen so an HR analyst can recompute them: the Wilson score interval for
//! one proportion, and Newcombe's hybrid score interval (his method 10, 1998) for the difference of two independent
//! proportions. Pure functions first, then the two reads that feed them.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Months, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::pairs::PairState;
use super::surveys::{nps, round2, share};
use super::{Actor, DomainError, DomainResult, Violations, programmes};
use crate::store::outcomes::{DirectoryEntry, RecommendAnswer};
use crate::store::{self, Scope};

/// The normal quantile for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The months after a pair's start at which retention is read.
pub const HORIZONS: [u32; 3] = [3, 6, 12];

// ---- statistics ----

/// The Wilson score interval of `successes` out of `n` (as proportions, 0–1); `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Newcombe's hybrid score interval for `x1/n1 − x2/n2` (proportions, −1 to 1): the difference and its 95% bounds.
pub fn newcombe(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<(f64, f64, f64)> {
    let (l1, u1) = wilson(x1, n1)?;
    let (l2, u2) = wilson(x2, n2)?;
    let p1 = x1 as f64 / n1 as f64;
    let p2 = x2 as f64 / n2 as f64;
    let d = p1 - p2;
    let low = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let high = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some((d, low, high))
}

// ---- retention ----

/// How many of a group were still employed at a horizon.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Retained {
    /// People whose horizon has been reached (their start plus the horizon lies in the past); `null` when suppressed.
    pub people: Option<u64>,
    /// Of those, still employed at the horizon (not left, or left after it).
    pub still_employed: Option<u64>,
    /// `still_employed / people` (%).
    pub rate: Option<f64>,
}

/// A 95% confidence interval, in percentage points.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// Retention at one horizon: the programme's people against the comparison group.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Horizon {
    /// Months after the pair started.
    pub months: u32,
    /// Whether anyone in the programme has reached this horizon yet; when not, every figure is `null`.
    pub reached: bool,
    /// People in the programme whose horizon is still ahead (not counted in `participants`).
    pub not_yet_reached: u64,
    /// Whether the figures are withheld because one of the two groups has fewer than `min_group_size` people.
    pub suppressed: bool,
    pub participants: Retained,
    pub comparison: Retained,
    /// `participants.rate − comparison.rate`, in percentage points.
    pub difference: Option<f64>,
    /// Newcombe's hybrid score interval for the difference (95%), in percentage points.
    pub confidence_interval: Option<Interval>,
}

/// Retention of one side of the programme's pairs.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SideRetention {
    /// People of this side whose pair started.
    pub people: u64,
    /// Distinct people in the comparison group (each at the earliest start date they were matched to).
    pub comparison_people: u64,
    pub horizons: Vec<Horizon>,
}

/// `GET /v1/programmes/{id}/outcomes/retention`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "programme_id": "01936b2e-1111-7000-8000-000000000001", "computed_at": "2027-03-01T09:00:00Z",
    "min_group_size": 5, "level_band": 1,
    "method": "Share still employed 3, 6 and 12 months after the pair started ...",
    "mentors": {"people": 24, "comparison_people": 130, "horizons": [
        {"months": 3, "reached": true, "not_yet_reached": 0, "suppressed": false,
         "participants": {"people": 24, "still_employed": 24, "rate": 100.0},
         "comparison": {"people": 130, "still_employed": 119, "rate": 91.54},
         "difference": 8.46, "confidence_interval": {"low": -1.43, "high": 13.77}},
        {"months": 12, "reached": false, "not_yet_reached": 24, "suppressed": false,
         "participants": {"people": null, "still_employed": null, "rate": null},
         "comparison": {"people": null, "still_employed": null, "rate": null},
         "difference": null, "confidence_interval": null}
    ]},
    "mentees": {"people": 24, "comparison_people": 31, "horizons": []}
}))]
pub struct Retention {
    pub programme_id: Uuid,
    pub computed_at: DateTime<Utc>,
    /// k: a horizon where either group has fewer people is suppressed.
    pub min_group_size: u64,
    /// Comparison people are within this many levels of the participant they are matched to.
    pub level_band: u32,
    /// How the figures are computed, in a sentence.
    pub method: String,
    pub mentors: SideRetention,
    pub mentees: SideRetention,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RetentionQuery {
    /// How many levels above or below a participant a comparison person may be (0–5, default 1).
    #[param(minimum = 0, maximum = 5)]
    pub level_band: Option<u32>,
}

pub const RETENTION_METHOD: &str = "Share still employed 3, 6 and 12 months after the pair started (the person's \
    earliest started pair in the programme). The comparison group: people who were never enrolled in any programme, \
    in the same department and within `level_band` levels of a participant, in the directory and not yet left on \
    that participant's start date, each counted once from the earliest such date. A horizon counts only people whose \
    horizon has passed. The difference is in percentage points, with Newcombe's hybrid score 95% interval.";

/// One person followed from a start date.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Followed {
    pub start: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

/// `(people whose horizon passed, of them still employed, people whose horizon is ahead)`.
pub fn retained_at(people: &[Followed], months: u32, now: DateTime<Utc>) -> (u64, u64, u64) {
    let (mut reached, mut retained, mut ahead) = (0, 0, 0);
    for p in people {
        let Some(horizon) = p.start.checked_add_months(Months::new(months)) else {
            continue;
        };
        if horizon > now {
            ahead += 1;
            continue;
        }
        reached += 1;
        if p.left_at.is_none_or(|left| left > horizon) {
            retained += 1;
        }
    }
    (reached, retained, ahead)
}

/// The comparison group of `participants` (person → start date): directory people never enrolled, in the same
/// department and within `band` levels, present on the start date; each once, from the earliest date they match.
pub fn comparison_group(
    participants: &HashMap<Uuid, DateTime<Utc>>,
    directory: &[DirectoryEntry],
    ever_enrolled: &HashSet<Uuid>,
    band: u32,
) -> Vec<Followed> {
    let by_id: HashMap<Uuid, &DirectoryEntry> = directory.iter().map(|d| (d.id, d)).collect();
    let department = |d: &DirectoryEntry| d.department.as_deref().map(str::to_lowercase);
    // Departments lower-cased once per person, not twice per comparison.
    let candidates: Vec<(&DirectoryEntry, Option<String>)> = directory
        .iter()
        .filter(|d| !ever_enrolled.contains(&d.id))
        .map(|d| (d, department(d)))
        .collect();
    let mut earliest: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for (id, start) in participants {
        let Some(person) = by_id.get(id) else { continue };
        let person_department = department(person);
        for (c, c_department) in &candidates {
            let same_department = *c_department == person_department;
            let present = c.since <= *start && c.left_at.is_none_or(|left| left > *start);
            if same_department && c.level.abs_diff(person.level) <= band && present {
                let at = earliest.entry(c.id).or_insert(*start);
                *at = (*at).min(*start);
            }
        }
    }
    earliest
        .into_iter()
        .map(|(id, start)| Followed {
            start,
            left_at: by_id[&id].left_at,
        })
        .collect()
}

/// One side's horizons.
pub fn side_retention(participants: &[Followed], comparison: &[Followed], now: DateTime<Utc>, k: u64) -> Vec<Horizon> {
    HORIZONS
        .iter()
        .map(|&months| {
            let (n1, x1, ahead) = retained_at(participants, months, now);
            let (n2, x2, _) = retained_at(comparison, months, now);
            let reached = n1 > 0;
            let suppressed = reached && (n1 < k || n2 < k);
            let figures = reached && !suppressed;
            let group = |n: u64, x: u64| match figures {
                true => Retained {
                    people: Some(n),
                    still_employed: Some(x),
                    rate: share(x, n),
                },
                false => Retained::default(),
            };
            let difference = newcombe(x1, n1, x2, n2).filter(|_| figures);
            Horizon {
                months,
                reached,
                not_yet_reached: ahead,
                suppressed,
                participants: group(n1, x1),
                comparison: group(n2, x2),
                difference: difference.map(|(d, _, _)| round2(d * 100.0)),
                confidence_interval: difference.map(|(_, low, high)| Interval {
                    low: round2(low * 100.0),
                    high: round2(high * 100.0),
                }),
            }
        })
        .collect()
}

/// Retention of a programme's mentors and mentees against their comparison groups (admins and the programme's
/// managers).
pub async fn retention<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    query: &RetentionQuery,
    k: u64,
) -> DomainResult<Retention> {
    let band = query.level_band.unwrap_or(1);
    let mut v = Violations::default();
    if band > 5 {
        v.add("level_band", "out_of_range", "must be between 0 and 5");
    }
    v.into_result()?;
    let programme = programmes::managed(scope, actor, programme_id).await?;
    let now = store::now();
    // Each person from their earliest started pair, per side.
    let mut mentors: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    let mut mentees: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for pair in scope.pairs_of_programme(programme.id).await? {
        let Some(started) = pair.activated_at.filter(|_| pair.state != PairState::Proposed) else {
            continue;
        };
        for (side, id) in [
            (&mut mentors, pair.mentor.participant_id),
            (&mut mentees, pair.mentee.participant_id),
        ] {
            let at = side.entry(id).or_insert(started);
            *at = (*at).min(started);
        }
    }
    let directory = scope.directory().await?;
    let ever_enrolled = scope.ever_enrolled().await?;
    let left: HashMap<Uuid, Option<DateTime<Utc>>> = directory.iter().map(|d| (d.id, d.left_at)).collect();
    let side = |people: &HashMap<Uuid, DateTime<Utc>>| {
        // Erased people are gone from the directory, and from the figures.
        let followed: Vec<Followed> = people
            .iter()
            .filter_map(|(id, start)| {
                left.get(id).map(|left_at| Followed {
                    start: *start,
                    left_at: *left_at,
                })
            })
            .collect();
        let comparison = comparison_group(people, &directory, &ever_enrolled, band);
        SideRetention {
            people: followed.len() as u64,
            comparison_people: comparison.len() as u64,
            horizons: side_retention(&followed, &comparison, now, k),
        }
    };
    Ok(Retention {
        programme_id: programme.id,
        computed_at: now,
        min_group_size: k,
        level_band: band,
        method: RETENTION_METHOD.into(),
        mentors: side(&mentors),
        mentees: side(&mentees),
    })
}

// ---- the would-recommend curve ----

/// The answers given after a pair had held a number of sessions.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CurvePoint {
    /// Sessions the pair had held when the answer was given.
    pub sessions_held: u32,
    pub answers: u64,
    /// Whether the point is withheld (fewer than `min_group_size` answers); its figures are then `null`.
    pub suppressed: bool,
    /// Answers of 9 or 10.
    pub promoters: Option<u64>,
    /// Answers of 7 or 8.
    pub passives: Option<u64>,
    /// Answers of 0 to 6.
    pub detractors: Option<u64>,
    /// % promoters − % detractors.
    pub nps: Option<f64>,
    /// % promoters: "after N sessions, X% would recommend".
    pub would_recommend_share: Option<f64>,
}

/// `GET /v1/programmes/{id}/outcomes/would-recommend` and `GET /v1/outcomes/would-recommend`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "programme_id": "01936b2e-1111-7000-8000-000000000001", "computed_at": "2027-03-01T09:00:00Z", "min_group_size": 5,
    "answers": 60,
    "points": [
        {"sessions_held": 1, "answers": 20, "suppressed": false, "promoters": 11, "passives": 6, "detractors": 3, "nps": 40.0, "would_recommend_share": 55.0},
        {"sessions_held": 6, "answers": 33, "suppressed": false, "promoters": 32, "passives": 1, "detractors": 0, "nps": 96.97, "would_recommend_share": 96.97},
        {"sessions_held": 7, "answers": 2, "suppressed": true, "promoters": null, "passives": null, "detractors": null, "nps": null, "would_recommend_share": null}
    ]
}))]
pub struct RecommendCurve {
    /// `null` for the curve across every programme of the organisation.
    pub programme_id: Option<Uuid>,
    pub computed_at: DateTime<Utc>,
    pub min_group_size: u64,
    /// Every `nps` answer counted (suppressed points included).
    pub answers: u64,
    /// One point per number of sessions held, in order.
    pub points: Vec<CurvePoint>,
}

/// Groups answers by the sessions their pair had held when they were given (held at or before the answer).
pub fn curve(answers: &[RecommendAnswer], held: &HashMap<Uuid, Vec<DateTime<Utc>>>, k: u64) -> Vec<CurvePoint> {
    let mut counts: BTreeMap<u32, (u64, u64, u64)> = BTreeMap::new();
    for a in answers {
        let sessions = held
            .get(&a.pair_id)
            .map_or(0, |times| times.iter().filter(|t| **t <= a.answered_at).count() as u32);
        let c = counts.entry(sessions).or_default();
        match a.value {
            9.. => c.0 += 1,
            7 | 8 => c.1 += 1,
            _ => c.2 += 1,
        }
    }
    counts
        .into_iter()
        .map(|(sessions_held, (promoters, passives, detractors))| {
            let n = promoters + passives + detractors;
            let shown = n >= k;
            CurvePoint {
                sessions_held,
                answers: n,
                suppressed: !shown,
                promoters: shown.then_some(promoters),
                passives: shown.then_some(passives),
                detractors: shown.then_some(detractors),
                nps: nps(n, promoters, detractors).filter(|_| shown),
                would_recommend_share: share(promoters, n).filter(|_| shown),
            }
        })
        .collect()
}

/// The would-recommend curve of one programme (admins and its managers) or, with `None`, of every programme of the
/// organisation (admins).
pub async fn would_recommend<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Option<Uuid>,
    k: u64,
) -> DomainResult<RecommendCurve> {
    match programme_id {
        Some(id) => {
            programmes::managed(scope, actor, id).await?;
        }
        None if actor != Actor::Admin => {
            return Err(DomainError::Forbidden(
                "only admins see every programme's figures".into(),
            ));
        }
        None => {}
    }
    let answers = scope.recommend_answers(programme_id).await?;
    let held = scope.held_sessions(programme_id).await?;
    Ok(RecommendCurve {
        programme_id,
        computed_at: store::now(),
        min_group_size: k,
        answers: answers.len() as u64,
        points: curve(&answers, &held, k),
    })
}

// ---- change between baseline and follow-up ----

/// The change in one question's answers for one side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Change {
    /// People who answered the question in both the baseline and the follow-up.
    pub people: u64,
    /// Whether the figures are withheld (fewer than `min_group_size` people); they are then `null`.
    pub suppressed: bool,
    pub baseline_mean: Option<f64>,
    pub follow_up_mean: Option<f64>,
    /// The mean of each person's follow-up answer minus their baseline answer.
    pub mean_change: Option<f64>,
    /// The paired 95% confidence interval of `mean_change` (Student's t with `people − 1` degrees of freedom);
    /// `null` with fewer than two people.
    pub confidence_interval: Option<Interval>,
}

/// One question asked in both the baseline and the follow-up.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct QuestionChange {
    pub question_id: String,
    pub kind: super::surveys::QuestionKind,
    /// The follow-up's wording.
    pub prompt: String,
    pub mentors: Change,
    pub mentees: Change,
}

/// `GET /v1/programmes/{id}/outcomes/change`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "programme_id": "01936b2e-1111-7000-8000-000000000001", "computed_at": "2027-03-01T09:00:00Z", "min_group_size": 5,
    "method": "For each numeric question asked in both a baseline survey ...",
    "questions": [{"question_id": "confidence_with_ai", "kind": "likert", "prompt": "I am confident using AI tools.",
        "mentees": {"people": 12, "suppressed": false, "baseline_mean": 2.25, "follow_up_mean": 3.75, "mean_change": 1.5,
                    "confidence_interval": {"low": 0.98, "high": 2.02}},
        "mentors": {"people": 3, "suppressed": true, "baseline_mean": null, "follow_up_mean": null, "mean_change": null,
                    "confidence_interval": null}}]
}))]
pub struct ChangeReport {
    pub programme_id: Uuid,
    pub computed_at: DateTime<Utc>,
    pub min_group_size: u64,
    pub method: String,
    /// One entry per question id asked (as `nps` or `likert`) by both a `baseline` and a `follow_up` survey.
    pub questions: Vec<QuestionChange>,
}

pub const CHANGE_METHOD: &str = "For each numeric question asked in both a baseline survey (sent when a pair starts) \
    and a follow-up survey (sent when it completes) — matched by question id — each person's first baseline answer is \
    paired with their last follow-up answer. The mean change is the mean of the differences, with a paired 95% \
    confidence interval from Student's t distribution with n − 1 degrees of freedom. Mentors and mentees apart.";

/// The figures of paired `(baseline, follow-up)` answers.
pub fn paired_change(pairs: &[(i32, i32)], k: u64) -> Change {
    let n = pairs.len() as u64;
    if n < k {
        return Change {
            people: n,
            suppressed: true,
            ..Change::default()
        };
    }
    let nf = n as f64;
    let mean = |f: &dyn Fn(&(i32, i32)) -> f64| pairs.iter().map(f).sum::<f64>() / nf;
    let d = mean(&|(b, f)| f64::from(f - b));
    let interval = (n >= 2).then(|| {
        let variance = pairs.iter().map(|(b, f)| (f64::from(f - b) - d).powi(2)).sum::<f64>() / (nf - 1.0);
        let t = t_quantile_975(nf - 1.0);
        let half = t * (variance / nf).sqrt();
        Interval {
            low: round2(d - half),
            high: round2(d + half),
        }
    });
    Change {
        people: n,
        suppressed: false,
        baseline_mean: Some(round2(mean(&|(b, _)| f64::from(*b)))),
        follow_up_mean: Some(round2(mean(&|(_, f)| f64::from(*f)))),
        mean_change: Some(round2(d)),
        confidence_interval: interval,
    }
}

/// The 97.5th percentile of Student's t distribution with `df` degrees of freedom.
fn t_quantile_975(df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df).map_or(Z95, |t| t.inverse_cdf(0.975))
}

/// The change in each question both a baseline and a follow-up survey of the programme ask (admins and its
/// managers).
pub async fn change<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    k: u64,
) -> DomainResult<ChangeReport> {
    use super::surveys::{Measure, QuestionKind};
    let programme = programmes::managed(scope, actor, programme_id).await?;
    let surveys = scope.list_surveys(programme.id, None, 10_000).await?;
    let numeric = |kind: QuestionKind| matches!(kind, QuestionKind::Nps | QuestionKind::Likert);
    let asked = |measure: Measure| -> HashMap<String, (QuestionKind, String)> {
        surveys
            .iter()
            .filter(|s| s.measure == Some(measure))
            .flat_map(|s| s.questions.iter())
            .filter(|q| numeric(q.kind))
            .map(|q| (q.id.clone(), (q.kind, q.prompt.clone())))
            .collect()
    };
    let baseline_questions = asked(Measure::Baseline);
    let follow_up_questions = asked(Measure::FollowUp);
    let measure_of: HashMap<Uuid, Measure> = surveys.iter().filter_map(|s| Some((s.id, s.measure?))).collect();
    let ids: Vec<Uuid> = measure_of.keys().copied().collect();
    let answers = scope.measured_answers(&ids).await?;
    let mut side_of: HashMap<(Uuid, Uuid), bool> = HashMap::new(); // (pair, person) → is the mentor
    for pair in scope.pairs_of_programme(programme.id).await? {
        side_of.insert((pair.id, pair.mentor.participant_id), true);
        side_of.insert((pair.id, pair.mentee.participant_id), false);
    }
    // (question, person) → (first baseline, last follow-up), with the person's side.
    type Firsts = (Option<(DateTime<Utc>, i32)>, Option<(DateTime<Utc>, i32)>, bool);
    let mut by_person: BTreeMap<(String, Uuid), Firsts> = BTreeMap::new();
    for a in &answers {
        let (Some(measure), Some(mentor)) = (
            measure_of.get(&a.survey_id),
            side_of.get(&(a.pair_id, a.participant_id)),
        ) else {
            continue;
        };
        let entry = by_person
            .entry((a.question_id.clone(), a.participant_id))
            .or_insert((None, None, *mentor));
        match measure {
            Measure::Baseline if entry.0.is_none_or(|(at, _)| a.answered_at < at) => {
                entry.0 = Some((a.answered_at, a.value));
            }
            Measure::FollowUp if entry.1.is_none_or(|(at, _)| a.answered_at > at) => {
                entry.1 = Some((a.answered_at, a.value));
            }
            _ => {}
        }
    }
    let mut questions = Vec::new();
    let mut ids: Vec<&String> = follow_up_questions
        .keys()
        .filter(|id| {
            baseline_questions
                .get(*id)
                .is_some_and(|(kind, _)| Some(kind) == follow_up_questions.get(*id).map(|q| &q.0))
        })
        .collect();
    ids.sort();
    for id in ids {
        let (kind, prompt) = &follow_up_questions[id];
        let mut sides: [Vec<(i32, i32)>; 2] = [Vec::new(), Vec::new()];
        for ((question, _), (baseline, follow_up, mentor)) in &by_person {
            if question == id
                && let (Some((_, b)), Some((_, f))) = (baseline, follow_up)
            {
                sides[usize::from(!*mentor)].push((*b, *f));
            }
        }
        questions.push(QuestionChange {
            question_id: id.clone(),
            kind: *kind,
            prompt: prompt.clone(),
            mentors: paired_change(&sides[0], k),
            mentees: paired_change(&sides[1], k),
        });
    }
    Ok(ChangeReport {
        programme_id: programme.id,
        computed_at: store::now(),
        min_group_size: k,
        method: CHANGE_METHOD.into(),
        questions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn wilson_matches_the_published_examples() {
        // Newcombe (1998), table II: 81/263 → 0.2553 to 0.3662; 15/148 → 0.0624 to 0.1605.
        let (l, u) = wilson(81, 263).unwrap();
        assert!(close(l, 0.2553) && close(u, 0.3662), "{l} {u}");
        let (l, u) = wilson(15, 148).unwrap();
        assert!(close(l, 0.0624) && close(u, 0.1605), "{l} {u}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn newcombe_matches_the_published_examples() {
        // Newcombe (1998), table II, method 10: 56/70 − 48/80 = 0.2000, 0.0524 to 0.3339; 9/10 − 3/10 = 0.6000,
        // 0.1705 to 0.8090; 10/10 − 0/10 = 1, 0.6075 to 1.
        let (d, l, u) = newcombe(56, 70, 48, 80).unwrap();
        assert!(close(d, 0.2) && close(l, 0.0524) && close(u, 0.3339), "{d} {l} {u}");
        let (d, l, u) = newcombe(9, 10, 3, 10).unwrap();
        assert!(close(d, 0.6) && close(l, 0.1705) && close(u, 0.8090), "{d} {l} {u}");
        let (d, l, u) = newcombe(10, 10, 0, 10).unwrap();
        assert!(close(d, 1.0) && close(l, 0.6075) && close(u, 1.0), "{d} {l} {u}");
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_paired_change_has_a_t_interval() {
        // Differences 1, 2, 2, 3: mean 2, sd 0.8165, t(3) = 3.1824 → 2 ± 1.2992.
        let c = paired_change(&[(2, 3), (2, 4), (1, 3), (1, 4)], 3);
        assert_eq!(c.mean_change, Some(2.0));
        assert_eq!(c.baseline_mean, Some(1.5));
        assert_eq!(c.follow_up_mean, Some(3.5));
        assert_eq!(c.confidence_interval, Some(Interval { low: 0.7, high: 3.3 }));
        assert!(paired_change(&[(1, 2), (2, 3)], 3).suppressed);
    }

    #[test]
    fn a_horizon_counts_only_people_who_reached_it() {
        let now = at("2026-01-01T00:00:00Z");
        let people = [
            Followed {
                start: at("2025-01-01T00:00:00Z"),
                left_at: None,
            },
            // Left 4 months in: retained at 3, not at 6.
            Followed {
                start: at("2025-01-01T00:00:00Z"),
                left_at: Some(at("2025-05-01T00:00:00Z")),
            },
            // Started 4 months ago: counted at 3 only.
            Followed {
                start: at("2025-09-01T00:00:00Z"),
                left_at: None,
            },
        ];
        assert_eq!(retained_at(&people, 3, now), (3, 3, 0));
        assert_eq!(retained_at(&people, 6, now), (2, 1, 1));
        assert_eq!(retained_at(&people, 12, now), (2, 1, 1));
    }
}
