//! The store's share of outcomes: the organisation's directory as retention reads it (department, level, since
//! when and until when each person was there), who ever enrolled, and the would-recommend answers with the time they
//! were given and the sessions their pair held. Plain columns and small projections: the figures are computed in
//! `domain::outcomes`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::entities::{enrolment, participant, session, survey_answer, survey_request};
use super::{Scope, StoreResult};

/// One person of the directory, as retention compares them.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryEntry {
    pub id: Uuid,
    pub department: Option<String>,
    pub level: i32,
    /// When the directory first had them: the earliest a person can be counted as employed.
    pub since: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

/// A would-recommend (`nps`) answer with its pair and when it was given.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendAnswer {
    pub programme_id: Uuid,
    pub pair_id: Uuid,
    pub value: i32,
    pub answered_at: DateTime<Utc>,
}

/// A numeric answer (`nps`, `likert`) with who gave it, in which pair and when.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasuredAnswer {
    pub survey_id: Uuid,
    pub question_id: String,
    pub participant_id: Uuid,
    pub pair_id: Uuid,
    pub value: i32,
    pub answered_at: DateTime<Utc>,
}

/// An answered request, as the answers to it are placed.
#[derive(Clone, Copy, Debug)]
struct Answered {
    programme_id: Uuid,
    participant_id: Uuid,
    pair_id: Uuid,
    at: DateTime<Utc>,
}

impl<C: ConnectionTrait> Scope<'_, C> {
    /// The answered requests among `ids`.
    async fn answered_requests(&self, ids: impl Iterator<Item = Uuid>) -> StoreResult<HashMap<Uuid, Answered>> {
        let ids: Vec<Uuid> = ids.collect::<HashSet<_>>().into_iter().collect();
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            type Row = (Uuid, Uuid, Uuid, Uuid, Option<DateTime<Utc>>);
            let rows: Vec<Row> = survey_request::Entity::find()
                .select_only()
                .column(survey_request::Column::Id)
                .column(survey_request::Column::ProgrammeId)
                .column(survey_request::Column::ParticipantId)
                .column(survey_request::Column::PairId)
                .column(survey_request::Column::AnsweredAt)
                .filter(survey_request::Column::OrganisationId.eq(self.organisation_id))
                .filter(survey_request::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(self.conn)
                .await?;
            for (id, programme_id, participant_id, pair_id, answered_at) in rows {
                if let Some(at) = answered_at {
                    out.insert(
                        id,
                        Answered {
                            programme_id,
                            participant_id,
                            pair_id,
                            at,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Who answered each of the answered requests among `ids`, and when: how a scorer's follow-up responses find
    /// the same people's baseline answers.
    pub async fn respondents(
        &self,
        ids: impl Iterator<Item = Uuid>,
    ) -> StoreResult<HashMap<Uuid, (Uuid, DateTime<Utc>)>> {
        Ok(self
            .answered_requests(ids)
            .await?
            .into_iter()
            .map(|(id, a)| (id, (a.participant_id, a.at)))
            .collect())
    }

    /// Everyone in the directory who has not been erased.
    pub async fn directory(&self) -> StoreResult<Vec<DirectoryEntry>> {
        type Row = (Uuid, Option<String>, i32, DateTime<Utc>, Option<DateTime<Utc>>);
        let rows: Vec<Row> = participant::Entity::find()
            .select_only()
            .column(participant::Column::Id)
            .column(participant::Column::Department)
            .column(participant::Column::Level)
            .column(participant::Column::CreatedAt)
            .column(participant::Column::LeftAt)
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::ErasedAt.is_null())
            .into_tuple()
            .all(self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, department, level, since, left_at)| DirectoryEntry {
                id,
                department,
                level,
                since,
                left_at,
            })
            .collect())
    }

    /// Everyone who was ever enrolled in one of the organisation's programmes, in any role and state.
    pub async fn ever_enrolled(&self) -> StoreResult<HashSet<Uuid>> {
        let ids: Vec<Uuid> = enrolment::Entity::find()
            .select_only()
            .column(enrolment::Column::ParticipantId)
            .distinct()
            .filter(enrolment::Column::OrganisationId.eq(self.organisation_id))
            .into_tuple()
            .all(self.conn)
            .await?;
        Ok(ids.into_iter().collect())
    }

    /// The `nps` answers of one programme (or of all), each with its pair and when it was given.
    pub async fn recommend_answers(&self, programme_id: Option<Uuid>) -> StoreResult<Vec<RecommendAnswer>> {
        let mut query = survey_answer::Entity::find()
            .select_only()
            .column(survey_answer::Column::RequestId)
            .column(survey_answer::Column::Value)
            .filter(survey_answer::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_answer::Column::Kind.eq("nps"))
            .filter(survey_answer::Column::Value.is_not_null());
        if let Some(programme_id) = programme_id {
            query = query.filter(survey_answer::Column::ProgrammeId.eq(programme_id));
        }
        let answers: Vec<(Uuid, Option<i32>)> = query.into_tuple().all(self.conn).await?;
        let requests = self.answered_requests(answers.iter().map(|(id, _)| *id)).await?;
        Ok(answers
            .into_iter()
            .filter_map(|(request_id, value)| {
                let r = requests.get(&request_id)?;
                Some(RecommendAnswer {
                    programme_id: r.programme_id,
                    pair_id: r.pair_id,
                    value: value?,
                    answered_at: r.at,
                })
            })
            .collect())
    }

    /// When each held session of one programme (or of all) was held, by pair.
    pub async fn held_sessions(&self, programme_id: Option<Uuid>) -> StoreResult<HashMap<Uuid, Vec<DateTime<Utc>>>> {
        let mut query = session::Entity::find()
            .filter(session::Column::OrganisationId.eq(self.organisation_id))
            .filter(session::Column::State.eq("completed"));
        if let Some(programme_id) = programme_id {
            query = query.filter(session::Column::ProgrammeId.eq(programme_id));
        }
        let mut by_pair: HashMap<Uuid, Vec<DateTime<Utc>>> = HashMap::new();
        for model in query.all(self.conn).await? {
            let session = super::pairs::session_from(model)?;
            let held = session.held_at.unwrap_or(session.starts_at);
            by_pair
                .entry(session.pair_id)
                .or_default()
                .push(held.with_timezone(&Utc));
        }
        Ok(by_pair)
    }

    /// The pair's answers to one question, oldest first, as `(answered at, the participant who answered, choice)`.
    pub async fn pair_answers(
        &self,
        pair_id: Uuid,
        question_id: &str,
    ) -> StoreResult<Vec<(DateTime<Utc>, Uuid, Option<String>)>> {
        type Request = (Uuid, Uuid, Option<DateTime<Utc>>);
        let requests: Vec<Request> = survey_request::Entity::find()
            .select_only()
            .column(survey_request::Column::Id)
            .column(survey_request::Column::ParticipantId)
            .column(survey_request::Column::AnsweredAt)
            .filter(survey_request::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_request::Column::PairId.eq(pair_id))
            .filter(survey_request::Column::AnsweredAt.is_not_null())
            .into_tuple()
            .all(self.conn)
            .await?;
        let by_request: HashMap<Uuid, (Uuid, DateTime<Utc>)> = requests
            .into_iter()
            .filter_map(|(id, who, at)| Some((id, (who, at?))))
            .collect();
        let mut out = Vec::new();
        let ids: Vec<Uuid> = by_request.keys().copied().collect();
        for chunk in ids.chunks(500) {
            let rows: Vec<(Uuid, Option<String>)> = survey_answer::Entity::find()
                .select_only()
                .column(survey_answer::Column::RequestId)
                .column(survey_answer::Column::Choice)
                .filter(survey_answer::Column::OrganisationId.eq(self.organisation_id))
                .filter(survey_answer::Column::QuestionId.eq(question_id))
                .filter(survey_answer::Column::RequestId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(self.conn)
                .await?;
            for (request_id, choice) in rows {
                if let Some((who, at)) = by_request.get(&request_id) {
                    out.push((*at, *who, choice));
                }
            }
        }
        out.sort_by_key(|(at, _, _)| *at);
        Ok(out)
    }

    /// The numeric answers to the given surveys.
    pub async fn measured_answers(&self, survey_ids: &[Uuid]) -> StoreResult<Vec<MeasuredAnswer>> {
        if survey_ids.is_empty() {
            return Ok(Vec::new());
        }
        type Answer = (Uuid, Uuid, String, Option<i32>);
        let answers: Vec<Answer> = survey_answer::Entity::find()
            .select_only()
            .column(survey_answer::Column::RequestId)
            .column(survey_answer::Column::SurveyId)
            .column(survey_answer::Column::QuestionId)
            .column(survey_answer::Column::Value)
            .filter(survey_answer::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_answer::Column::SurveyId.is_in(survey_ids.iter().copied()))
            .filter(survey_answer::Column::Value.is_not_null())
            .into_tuple()
            .all(self.conn)
            .await?;
        let requests = self.answered_requests(answers.iter().map(|a| a.0)).await?;
        Ok(answers
            .into_iter()
            .filter_map(|(request_id, survey_id, question_id, value)| {
                let r = requests.get(&request_id)?;
                Some(MeasuredAnswer {
                    survey_id,
                    question_id,
                    participant_id: r.participant_id,
                    pair_id: r.pair_id,
                    value: value?,
                    answered_at: r.at,
                })
            })
            .collect())
    }

    /// Every session of a programme (for the month-by-month figures of its report).
    pub async fn sessions_of_programme(
        &self,
        programme_id: Uuid,
    ) -> StoreResult<Vec<crate::domain::sessions::Session>> {
        session::Entity::find()
            .filter(session::Column::OrganisationId.eq(self.organisation_id))
            .filter(session::Column::ProgrammeId.eq(programme_id))
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::pairs::session_from)
            .collect()
    }
}
