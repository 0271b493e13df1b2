//! Plugin survey scores: the per-survey row the scorer job computes, the markings that make it stale, and the
//! answers a scorer reads (grouped by response).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::{survey_answer, survey_score};
use super::{Db, Scope, StoreResult};
use crate::plugins::scorer::{AnswerDoc, ResponseDoc};

/// A survey's plugin scores as stored.
#[derive(Clone, Debug)]
pub struct StoredScores {
    pub state: String,
    pub generation: i32,
    pub scorer: Option<String>,
    pub scores: Option<Value>,
    pub responses: i64,
    pub error: Option<String>,
    pub computed_at: Option<DateTime<Utc>>,
}

impl<C: ConnectionTrait> Scope<'_, C> {
    /// Marks a survey's plugin scores stale (creating the row), so the scorer job computes them again.
    pub async fn mark_scores_stale(&self, survey_id: Uuid, programme_id: Uuid) -> StoreResult<()> {
        let now = super::now();
        survey_score::Entity::insert(survey_score::ActiveModel {
            survey_id: Set(survey_id),
            organisation_id: Set(self.organisation_id),
            programme_id: Set(programme_id),
            state: Set("stale".into()),
            generation: Set(1),
            scorer: Set(None),
            scores: Set(None),
            responses: Set(0),
            error: Set(None),
            computed_at: Set(None),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(survey_score::Column::SurveyId)
                .value(survey_score::Column::State, Expr::value("stale"))
                .value(
                    survey_score::Column::Generation,
                    // Qualified: in PostgreSQL's DO UPDATE a bare column would be ambiguous with `excluded`.
                    Expr::col((survey_score::Entity, survey_score::Column::Generation)).add(1),
                )
                .value(survey_score::Column::UpdatedAt, Expr::value(now))
                .to_owned(),
        )
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }

    pub async fn stored_scores(&self, survey_id: Uuid) -> StoreResult<Option<StoredScores>> {
        Ok(survey_score::Entity::find_by_id(survey_id)
            .filter(survey_score::Column::OrganisationId.eq(self.organisation_id))
            .one(self.conn)
            .await?
            .map(|m| StoredScores {
                state: m.state,
                generation: m.generation,
                scorer: m.scorer,
                scores: m.scores,
                responses: m.responses,
                error: m.error,
                computed_at: m.computed_at,
            }))
    }

    /// Writes a computation's result — unless the survey was marked stale again meanwhile (then it is computed again).
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_scores(
        &self,
        survey_id: Uuid,
        generation: i32,
        failed: bool,
        scorer: &str,
        scores: Option<Value>,
        responses: i64,
        error: Option<String>,
    ) -> StoreResult<bool> {
        let now = super::now();
        let mut update = survey_score::Entity::update_many()
            .col_expr(
                survey_score::Column::State,
                Expr::value(if failed { "failed" } else { "fresh" }),
            )
            .col_expr(survey_score::Column::Scorer, Expr::value(scorer))
            .col_expr(survey_score::Column::Error, Expr::value(error))
            .col_expr(survey_score::Column::UpdatedAt, Expr::value(now));
        // A failure keeps the last good scores, and when they were computed.
        if !failed {
            update = update
                .col_expr(survey_score::Column::Scores, Expr::value(scores))
                .col_expr(survey_score::Column::Responses, Expr::value(responses))
                .col_expr(survey_score::Column::ComputedAt, Expr::value(now));
        }
        Ok(update
            .filter(survey_score::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_score::Column::SurveyId.eq(survey_id))
            .filter(survey_score::Column::Generation.eq(generation))
            .exec(self.conn)
            .await?
            .rows_affected
            == 1)
    }

    /// Every response to a survey, as a scorer reads them.
    pub async fn survey_responses(&self, survey_id: Uuid) -> StoreResult<Vec<ResponseDoc>> {
        let rows = survey_answer::Entity::find()
            .filter(survey_answer::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_answer::Column::SurveyId.eq(survey_id))
            .order_by_asc(survey_answer::Column::RequestId)
            .order_by_asc(survey_answer::Column::Id)
            .all(self.conn)
            .await?;
        let mut responses: BTreeMap<Uuid, Vec<AnswerDoc>> = BTreeMap::new();
        for a in rows {
            responses.entry(a.request_id).or_default().push(AnswerDoc {
                question_id: a.question_id,
                number: a.value,
                choice: a.choice,
                text: a.answer,
            });
        }
        Ok(responses
            .into_iter()
            .map(|(request_id, answers)| ResponseDoc {
                request_id: request_id.to_string(),
                answers,
            })
            .collect())
    }
}

impl Db {
    /// Surveys whose plugin scores are stale, or failed more than `retry_failed_after` ago: (organisation, survey,
    /// programme, generation).
    pub async fn scores_to_compute(
        &self,
        retry_failed_before: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<(Uuid, Uuid, Uuid, i32)>> {
        Ok(survey_score::Entity::find()
            .select_only()
            .column(survey_score::Column::OrganisationId)
            .column(survey_score::Column::SurveyId)
            .column(survey_score::Column::ProgrammeId)
            .column(survey_score::Column::Generation)
            .filter(
                Condition::any().add(survey_score::Column::State.eq("stale")).add(
                    Condition::all()
                        .add(survey_score::Column::State.eq("failed"))
                        .add(survey_score::Column::UpdatedAt.lt(retry_failed_before)),
                ),
            )
            .order_by_asc(survey_score::Column::UpdatedAt)
            .limit(limit)
            .into_tuple()
            .all(&self.read)
            .await?)
    }
}
