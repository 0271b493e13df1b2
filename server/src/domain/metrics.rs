//! Programme health: pairs by state, sessions held, scheduled and cancelled (by side, late ones apart), pairs that
//! reached the target, pairs at risk, survey response rate, NPS, the "would recommend" share and the mean of each
//! likert question. Every figure is a SQL aggregate; no row is loaded to count it.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::pairs::risk_window;
use super::programmes;
use super::surveys::{nps, round2, share};
use super::{Actor, DomainResult};
use crate::store::{self, Scope};

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct PairCounts {
    pub total: u64,
    pub proposed: u64,
    pub active: u64,
    pub paused: u64,
    pub completed: u64,
    pub dissolved: u64,
    /// Active pairs at risk (see a pair's `commitment.risk_reasons`).
    pub at_risk: u64,
    /// Active, paused or completed pairs that held at least `target_sessions`.
    pub reached_target: u64,
    /// `reached_target` as a share (%) of the pairs that started (active, paused or completed).
    pub reached_target_share: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct BySide {
    pub by_mentor: u64,
    pub by_mentee: u64,
    pub by_manager: u64,
    pub total: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct SessionCounts {
    pub held: u64,
    pub scheduled: u64,
    /// Cancelled 24 h or more before the start.
    pub cancelled_on_time: BySide,
    /// Cancelled under 24 h before the start.
    pub cancelled_late: BySide,
    pub no_shows: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct QuestionMean {
    pub survey_id: Uuid,
    pub question_id: String,
    pub mean: f64,
    pub answers: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct SurveyMetrics {
    pub requests: u64,
    pub responses: u64,
    /// `responses / requests` (%).
    pub response_rate: Option<f64>,
    /// Over every `nps` answer of the programme: % promoters (9–10) − % detractors (0–6).
    pub nps: Option<f64>,
    /// Share (%) of `nps` answers that are 9 or 10.
    pub would_recommend_share: Option<f64>,
    pub nps_answers: u64,
    pub likert_means: Vec<QuestionMean>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "programme_id": "01936b2e-1111-7000-8000-000000000001",
    "computed_at": "2027-03-01T09:00:00Z",
    "target_sessions": 6,
    "pairs": {"total": 40, "proposed": 2, "active": 30, "paused": 2, "completed": 4, "dissolved": 2, "at_risk": 5, "reached_target": 9, "reached_target_share": 25.0},
    "sessions": {"held": 150, "scheduled": 40, "cancelled_on_time": {"by_mentor": 6, "by_mentee": 11, "by_manager": 1, "total": 18}, "cancelled_late": {"by_mentor": 1, "by_mentee": 7, "by_manager": 0, "total": 8}, "no_shows": 3},
    "surveys": {"requests": 300, "responses": 240, "response_rate": 80.0, "nps": 62.5, "would_recommend_share": 70.0, "nps_answers": 40, "likert_means": [{"survey_id": "01936b2e-7777-7000-8000-000000000001", "question_id": "useful", "mean": 4.3, "answers": 200}]}
}))]
pub struct ProgrammeMetrics {
    pub programme_id: Uuid,
    pub computed_at: DateTime<Utc>,
    pub target_sessions: i32,
    pub pairs: PairCounts,
    pub sessions: SessionCounts,
    pub surveys: SurveyMetrics,
}

/// Raw counts as the store aggregates them.
#[derive(Default)]
pub struct RawCounts {
    pub pairs_by_state: Vec<(String, u64)>,
    pub at_risk: u64,
    pub reached_target: u64,
    /// (state, cancelled_by, late, count)
    pub sessions: Vec<(String, Option<String>, bool, u64)>,
    pub requests_by_state: Vec<(String, u64)>,
    /// (answers, promoters, detractors)
    pub nps: (u64, u64, u64),
    pub likert: Vec<(Uuid, String, f64, u64)>,
}

pub async fn programme<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
) -> DomainResult<ProgrammeMetrics> {
    let programme = programmes::managed(scope, actor, programme_id).await?;
    let now = store::now();
    let raw = scope
        .programme_counts(
            programme_id,
            programme.ground_rules.target_sessions,
            &risk_window(&programme, now),
        )
        .await?;

    let mut pairs = PairCounts {
        at_risk: raw.at_risk,
        reached_target: raw.reached_target,
        ..Default::default()
    };
    for (state, n) in &raw.pairs_by_state {
        pairs.total += n;
        match state.as_str() {
            "proposed" => pairs.proposed += n,
            "active" => pairs.active += n,
            "paused" => pairs.paused += n,
            "completed" => pairs.completed += n,
            _ => pairs.dissolved += n,
        }
    }
    pairs.reached_target_share = share(pairs.reached_target, pairs.active + pairs.paused + pairs.completed);

    let mut sessions = SessionCounts::default();
    for (state, by, late, n) in &raw.sessions {
        match state.as_str() {
            "completed" => sessions.held += n,
            "scheduled" => sessions.scheduled += n,
            "no_show" => sessions.no_shows += n,
            _ => {
                let bucket = if *late {
                    &mut sessions.cancelled_late
                } else {
                    &mut sessions.cancelled_on_time
                };
                bucket.total += n;
                match by.as_deref() {
                    Some("mentor") => bucket.by_mentor += n,
                    Some("mentee") => bucket.by_mentee += n,
                    _ => bucket.by_manager += n,
                }
            }
        }
    }

    let requests: u64 = raw.requests_by_state.iter().map(|(_, n)| n).sum();
    let responses: u64 = raw
        .requests_by_state
        .iter()
        .filter(|(s, _)| s == "answered")
        .map(|(_, n)| n)
        .sum();
    let (n, promoters, detractors) = raw.nps;
    let surveys = SurveyMetrics {
        requests,
        responses,
        response_rate: share(responses, requests),
        nps: nps(n, promoters, detractors),
        would_recommend_share: share(promoters, n),
        nps_answers: n,
        likert_means: raw
            .likert
            .into_iter()
            .map(|(survey_id, question_id, mean, answers)| QuestionMean {
                survey_id,
                question_id,
                mean: round2(mean),
                answers,
            })
            .collect(),
    };
    Ok(ProgrammeMetrics {
        programme_id,
        computed_at: now,
        target_sessions: programme.ground_rules.target_sessions,
        pairs,
        sessions,
        surveys,
    })
}
