//! The board report: everything HR shows to keep a programme funded, in one document — the programme's health, the
//! retention comparison, the would-recommend curve, the change in the leaders, sessions month by month and who
//! cancelled. `api::report` renders it as JSON, CSV tables or a printable HTML page; this module only assembles it,
//! from the same functions the individual outcome routes use, so the report never disagrees with them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::metrics::{self, ProgrammeMetrics};
use super::outcomes::{self, ChangeReport, RecommendCurve, Retention, RetentionQuery};
use super::programmes::{self, ProgrammeState};
use super::sessions::{Session, SessionState};
use super::{Actor, DomainResult};
use crate::store::{self, Scope};

/// The programme the report is about.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ReportProgramme {
    pub id: Uuid,
    pub name: String,
    pub state: ProgrammeState,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

/// Sessions of one calendar month (UTC): held ones by when they were held, cancelled and missed ones by when they
/// were to start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct MonthSessions {
    /// `YYYY-MM`.
    #[schema(example = "2026-11")]
    pub month: String,
    pub held: u64,
    pub cancelled: u64,
    pub no_shows: u64,
}

/// `GET /v1/programmes/{id}/report` as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ProgrammeReport {
    pub programme: ReportProgramme,
    pub computed_at: DateTime<Utc>,
    /// k: figures resting on fewer people are suppressed.
    pub min_group_size: u64,
    /// Pairs, sessions (with cancellations by side, on time and late) and survey figures.
    pub health: ProgrammeMetrics,
    pub retention: Retention,
    pub would_recommend: RecommendCurve,
    pub change: ChangeReport,
    /// Oldest first; months with no session are left out.
    pub sessions_by_month: Vec<MonthSessions>,
}

/// Groups sessions by month.
pub fn by_month(sessions: &[Session]) -> Vec<MonthSessions> {
    let mut months: BTreeMap<String, MonthSessions> = BTreeMap::new();
    for s in sessions {
        let (at, field): (DateTime<Utc>, fn(&mut MonthSessions) -> &mut u64) = match s.state {
            SessionState::Completed => (s.held_at.unwrap_or(s.starts_at).with_timezone(&Utc), |m| &mut m.held),
            SessionState::Cancelled => (s.starts_at.with_timezone(&Utc), |m| &mut m.cancelled),
            SessionState::NoShow => (s.starts_at.with_timezone(&Utc), |m| &mut m.no_shows),
            SessionState::Scheduled => continue,
        };
        let month = at.format("%Y-%m").to_string();
        let entry = months.entry(month.clone()).or_insert_with(|| MonthSessions {
            month,
            ..MonthSessions::default()
        });
        *field(entry) += 1;
    }
    months.into_values().collect()
}

/// The report of one programme (admins and its managers).
pub async fn programme<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    k: u64,
) -> DomainResult<ProgrammeReport> {
    let programme = programmes::managed(scope, actor, programme_id).await?;
    let health = metrics::programme(scope, actor, programme.id).await?;
    let retention = outcomes::retention(scope, actor, programme.id, &RetentionQuery::default(), k).await?;
    let would_recommend = outcomes::would_recommend(scope, actor, Some(programme.id), k).await?;
    let change = outcomes::change(scope, actor, programme.id, k).await?;
    let sessions_by_month = by_month(&scope.sessions_of_programme(programme.id).await?);
    Ok(ProgrammeReport {
        programme: ReportProgramme {
            id: programme.id,
            name: programme.name,
            state: programme.state,
            starts_on: programme.starts_on,
            ends_on: programme.ends_on,
        },
        computed_at: store::now(),
        min_group_size: k,
        health,
        retention,
        would_recommend,
        change,
        sessions_by_month,
    })
}
