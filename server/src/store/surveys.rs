//! Survey, survey request and answer rows, scoped to one organisation, and the aggregates behind scores and
//! programme metrics.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::documents::{decode, encode};
use super::documents::{find_by_id, guarded_update};
use super::entities::{pair, session, survey, survey_answer, survey_request};
use super::{Scope, StoreError, StoreResult};
use crate::domain::metrics::RawCounts;
use crate::domain::pairs::RiskWindow;
use crate::domain::surveys::{Answer, Milestone, RequestFilter, RequestState, Survey, SurveyRequest, Tally};

fn survey_row(organisation_id: Uuid, s: &Survey) -> StoreResult<survey::ActiveModel> {
    Ok(survey::ActiveModel {
        id: Set(s.id),
        organisation_id: Set(organisation_id),
        programme_id: Set(s.programme_id),
        milestone: Set(s.milestone.as_str().to_string()),
        active: Set(s.active),
        doc: Set(encode(s)?),
        version: Set(s.version),
        created_at: Set(s.created_at),
        updated_at: Set(s.updated_at),
    })
}

fn survey_from(m: survey::Model) -> StoreResult<Survey> {
    decode("survey", m.id, m.doc, m.version)
}

fn request_from(m: survey_request::Model, survey: &Survey) -> SurveyRequest {
    SurveyRequest {
        id: m.id,
        survey_id: m.survey_id,
        programme_id: m.programme_id,
        pair_id: m.pair_id,
        participant_id: m.participant_id,
        trigger: m.trigger,
        state: if m.state == RequestState::Answered.as_str() {
            RequestState::Answered
        } else {
            RequestState::Pending
        },
        created_at: m.created_at,
        answered_at: m.answered_at,
        title: survey.title.clone(),
        questions: survey.questions.clone(),
    }
}

/// `COUNT(*)`, not `COUNT(id)`: counting a column makes the database read every row for it, while `*` lets it count
/// from a covering index alone.
fn count_rows() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust("COUNT(*)")
}

impl<C: ConnectionTrait> Scope<'_, C> {
    /// The number of rows a query matches, as one `SELECT COUNT(*)` (sea-orm's `count` wraps the full select).
    async fn count<E: EntityTrait>(&self, query: sea_orm::Select<E>) -> StoreResult<u64> {
        let n: Option<i64> = query
            .select_only()
            .column_as(count_rows(), "n")
            .into_tuple()
            .one(self.conn)
            .await?;
        Ok(n.unwrap_or(0) as u64)
    }

    pub async fn survey(&self, id: Uuid) -> StoreResult<Option<Survey>> {
        find_by_id!(survey, self, id, false).map(survey_from).transpose()
    }

    pub async fn list_surveys(&self, programme_id: Uuid, after: Option<Uuid>, limit: u64) -> StoreResult<Vec<Survey>> {
        let mut query = survey::Entity::find()
            .filter(survey::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey::Column::ProgrammeId.eq(programme_id));
        if let Some(after) = after {
            query = query.filter(survey::Column::Id.gt(after));
        }
        query
            .order_by_asc(survey::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(survey_from)
            .collect()
    }

    pub async fn active_surveys(&self, programme_id: Uuid, milestone: Milestone) -> StoreResult<Vec<Survey>> {
        survey::Entity::find()
            .filter(survey::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey::Column::ProgrammeId.eq(programme_id))
            .filter(survey::Column::Milestone.eq(milestone.as_str()))
            .filter(survey::Column::Active.eq(true))
            .order_by_asc(survey::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(survey_from)
            .collect()
    }

    pub async fn insert_survey(&self, s: &Survey) -> StoreResult<()> {
        survey::Entity::insert(survey_row(self.organisation_id, s)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    pub async fn update_survey(&self, s: &Survey, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            survey,
            self,
            survey_row(self.organisation_id, s)?,
            s.id,
            expected_version
        ))
    }

    // ---- requests ----

    pub async fn survey_request(&self, id: Uuid) -> StoreResult<Option<SurveyRequest>> {
        let Some(row) = find_by_id!(survey_request, self, id, false) else {
            return Ok(None);
        };
        let survey = self
            .survey(row.survey_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("survey request {id} without its survey")))?;
        Ok(Some(request_from(row, &survey)))
    }

    pub async fn list_survey_requests(
        &self,
        filter: &RequestFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<SurveyRequest>> {
        let mut query =
            survey_request::Entity::find().filter(survey_request::Column::OrganisationId.eq(self.organisation_id));
        if let Some(p) = filter.participant_id {
            query = query.filter(survey_request::Column::ParticipantId.eq(p));
        }
        if let Some(p) = filter.programme_id {
            query = query.filter(survey_request::Column::ProgrammeId.eq(p));
        }
        if let Some(state) = filter.state {
            query = query.filter(survey_request::Column::State.eq(state.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(survey_request::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(survey_request::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?;
        // The page's surveys in one query.
        let mut ids: Vec<Uuid> = rows.iter().map(|r| r.survey_id).collect();
        ids.sort();
        ids.dedup();
        let surveys: HashMap<Uuid, Survey> = survey::Entity::find()
            .filter(survey::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey::Column::Id.is_in(ids))
            .all(self.conn)
            .await?
            .into_iter()
            .map(|m| survey_from(m).map(|s| (s.id, s)))
            .collect::<StoreResult<_>>()?;
        rows.into_iter()
            .map(|r| {
                let survey = surveys
                    .get(&r.survey_id)
                    .ok_or_else(|| StoreError::Corrupt(format!("survey request {} without its survey", r.id)))?;
                Ok(request_from(r, survey))
            })
            .collect()
    }

    pub async fn survey_request_exists(
        &self,
        survey_id: Uuid,
        participant_id: Uuid,
        trigger: &str,
    ) -> StoreResult<bool> {
        Ok(survey_request::Entity::find()
            .filter(survey_request::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_request::Column::SurveyId.eq(survey_id))
            .filter(survey_request::Column::ParticipantId.eq(participant_id))
            .filter(survey_request::Column::Trigger.eq(trigger))
            .count(self.conn)
            .await?
            > 0)
    }

    pub async fn insert_survey_request(&self, r: &SurveyRequest) -> StoreResult<()> {
        survey_request::Entity::insert(survey_request::ActiveModel {
            id: Set(r.id),
            organisation_id: Set(self.organisation_id),
            programme_id: Set(r.programme_id),
            survey_id: Set(r.survey_id),
            participant_id: Set(r.participant_id),
            pair_id: Set(r.pair_id),
            trigger: Set(r.trigger.clone()),
            state: Set(r.state.as_str().to_string()),
            answered_at: Set(r.answered_at),
            created_at: Set(r.created_at),
        })
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }

    /// Marks a pending request answered; `false` if it was not pending (someone answered first).
    pub async fn mark_request_answered(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let result = survey_request::Entity::update_many()
            .col_expr(
                survey_request::Column::State,
                Expr::value(RequestState::Answered.as_str()),
            )
            .col_expr(survey_request::Column::AnsweredAt, Expr::value(at))
            .filter(survey_request::Column::Id.eq(id))
            .filter(survey_request::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_request::Column::State.eq(RequestState::Pending.as_str()))
            .exec(self.conn)
            .await?;
        Ok(result.rows_affected == 1)
    }

    pub async fn insert_answers(&self, request: &SurveyRequest, answers: &[Answer]) -> StoreResult<()> {
        if answers.is_empty() {
            return Ok(());
        }
        survey_answer::Entity::insert_many(answers.iter().map(|a| survey_answer::ActiveModel {
            id: Set(super::new_id()),
            organisation_id: Set(self.organisation_id),
            programme_id: Set(request.programme_id),
            survey_id: Set(request.survey_id),
            request_id: Set(request.id),
            question_id: Set(a.question_id.clone()),
            kind: Set(a.kind.as_str().to_string()),
            value: Set(a.value),
            choice: Set(a.choice.clone()),
            answer: Set(a.text.clone()),
        }))
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }

    pub async fn count_survey_requests(&self, survey_id: Uuid) -> StoreResult<u64> {
        Ok(survey_request::Entity::find()
            .filter(survey_request::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_request::Column::SurveyId.eq(survey_id))
            .count(self.conn)
            .await?)
    }

    /// The survey's answers counted per question and value (or choice), by the database.
    pub async fn survey_tally(&self, survey_id: Uuid) -> StoreResult<Tally> {
        let rows: Vec<(String, Option<i32>, Option<String>, i64)> = survey_answer::Entity::find()
            .select_only()
            .column(survey_answer::Column::QuestionId)
            .column(survey_answer::Column::Value)
            .column(survey_answer::Column::Choice)
            .column_as(count_rows(), "n")
            .filter(survey_answer::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_answer::Column::SurveyId.eq(survey_id))
            .filter(survey_answer::Column::Kind.ne("text"))
            .group_by(survey_answer::Column::QuestionId)
            .group_by(survey_answer::Column::Value)
            .group_by(survey_answer::Column::Choice)
            .into_tuple()
            .all(self.conn)
            .await?;
        let mut tally = Tally {
            responses: survey_request::Entity::find()
                .filter(survey_request::Column::OrganisationId.eq(self.organisation_id))
                .filter(survey_request::Column::SurveyId.eq(survey_id))
                .filter(survey_request::Column::State.eq(RequestState::Answered.as_str()))
                .count(self.conn)
                .await?,
            ..Default::default()
        };
        for (question, value, choice, n) in rows {
            if let Some(value) = value {
                *tally
                    .numeric
                    .entry(question.clone())
                    .or_default()
                    .entry(value)
                    .or_default() += n as u64;
            }
            if let Some(choice) = choice {
                *tally.choices.entry(question).or_default().entry(choice).or_default() += n as u64;
            }
        }
        Ok(tally)
    }

    /// Every count behind a programme's metrics, one aggregate query each.
    pub async fn programme_counts(
        &self,
        programme_id: Uuid,
        target_sessions: i32,
        risk: &RiskWindow,
    ) -> StoreResult<RawCounts> {
        let org = self.organisation_id;
        let pairs = || {
            pair::Entity::find()
                .filter(pair::Column::OrganisationId.eq(org))
                .filter(pair::Column::ProgrammeId.eq(programme_id))
        };
        let pairs_by_state: Vec<(String, i64)> = pairs()
            .select_only()
            .column(pair::Column::State)
            .column_as(count_rows(), "n")
            .group_by(pair::Column::State)
            .into_tuple()
            .all(self.conn)
            .await?;
        let at_risk = self.count(pairs().filter(super::pairs::at_risk(risk))).await?;
        let reached_target = self
            .count(
                pairs()
                    .filter(pair::Column::State.is_in(["active", "paused", "completed"]))
                    .filter(pair::Column::SessionsHeld.gte(target_sessions)),
            )
            .await?;
        let sessions: Vec<(String, Option<String>, bool, i64)> = session::Entity::find()
            .select_only()
            .column(session::Column::State)
            .column(session::Column::CancelledBy)
            .column(session::Column::Late)
            .column_as(count_rows(), "n")
            .filter(session::Column::OrganisationId.eq(org))
            .filter(session::Column::ProgrammeId.eq(programme_id))
            .group_by(session::Column::State)
            .group_by(session::Column::CancelledBy)
            .group_by(session::Column::Late)
            .into_tuple()
            .all(self.conn)
            .await?;
        let requests_by_state: Vec<(String, i64)> = survey_request::Entity::find()
            .select_only()
            .column(survey_request::Column::State)
            .column_as(count_rows(), "n")
            .filter(survey_request::Column::OrganisationId.eq(org))
            .filter(survey_request::Column::ProgrammeId.eq(programme_id))
            .group_by(survey_request::Column::State)
            .into_tuple()
            .all(self.conn)
            .await?;
        let answers = || {
            survey_answer::Entity::find()
                .filter(survey_answer::Column::OrganisationId.eq(org))
                .filter(survey_answer::Column::ProgrammeId.eq(programme_id))
        };
        let count_when = |condition: sea_orm::sea_query::SimpleExpr| {
            sea_orm::sea_query::SimpleExpr::from(Func::sum(Expr::case(condition, 1).finally(0)))
        };
        let nps: Option<(i64, Option<i64>, Option<i64>)> = answers()
            .filter(survey_answer::Column::Kind.eq("nps"))
            .select_only()
            .column_as(count_rows(), "n")
            .column_as(count_when(Expr::col(survey_answer::Column::Value).gte(9)), "promoters")
            .column_as(count_when(Expr::col(survey_answer::Column::Value).lte(6)), "detractors")
            .into_tuple()
            .one(self.conn)
            .await?;
        let likert: Vec<(Uuid, String, f64, i64)> = answers()
            .filter(survey_answer::Column::Kind.eq("likert"))
            .select_only()
            .column(survey_answer::Column::SurveyId)
            .column(survey_answer::Column::QuestionId)
            .column_as(Expr::cust("CAST(AVG(value) AS DOUBLE PRECISION)"), "mean")
            .column_as(count_rows(), "n")
            .group_by(survey_answer::Column::SurveyId)
            .group_by(survey_answer::Column::QuestionId)
            .order_by_asc(survey_answer::Column::SurveyId)
            .order_by_asc(survey_answer::Column::QuestionId)
            .into_tuple()
            .all(self.conn)
            .await?;
        let (n, promoters, detractors) = nps.unwrap_or((0, None, None));
        Ok(RawCounts {
            pairs_by_state: pairs_by_state.into_iter().map(|(s, n)| (s, n as u64)).collect(),
            at_risk,
            reached_target,
            sessions: sessions
                .into_iter()
                .map(|(s, by, late, n)| (s, by, late, n as u64))
                .collect(),
            requests_by_state: requests_by_state.into_iter().map(|(s, n)| (s, n as u64)).collect(),
            nps: (n as u64, promoters.unwrap_or(0) as u64, detractors.unwrap_or(0) as u64),
            likert: likert
                .into_iter()
                .map(|(s, q, mean, n)| (s, q, mean, n as u64))
                .collect(),
        })
    }
}
