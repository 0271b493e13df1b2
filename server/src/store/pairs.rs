//! Pair and session rows, scoped to one organisation.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::documents::{decode, encode};
use super::documents::{find_by_id, guarded_update};
use super::entities::{pair, session};
use super::{Scope, StoreResult};
use crate::domain::pairs::{Pair, PairFilter, PairState, RiskWindow};
use crate::domain::sessions::{Session, SessionState};

fn pair_row(organisation_id: Uuid, p: &Pair) -> StoreResult<pair::ActiveModel> {
    Ok(pair::ActiveModel {
        id: Set(p.id),
        organisation_id: Set(organisation_id),
        programme_id: Set(p.programme_id),
        mentor_id: Set(p.mentor.participant_id),
        mentee_id: Set(p.mentee.participant_id),
        state: Set(p.state.as_str().to_string()),
        sessions_held: Set(p.commitment.sessions_held),
        late_cancellations: Set(p.commitment.cancellations.late),
        mentee_cancel_streak: Set(p.commitment.mentee_cancellations_in_a_row),
        reversion_streak: Set(p.commitment.role_reversion_in_a_row),
        last_activity_at: Set(p.last_activity_at()),
        next_session_at: Set(p.commitment.next_session_at),
        doc: Set(encode(p)?),
        version: Set(p.version),
        created_at: Set(p.created_at),
        updated_at: Set(p.updated_at),
    })
}

pub(super) fn pair_from(m: pair::Model) -> StoreResult<Pair> {
    decode("pair", m.id, m.doc, m.version)
}

fn session_row(organisation_id: Uuid, s: &Session) -> StoreResult<session::ActiveModel> {
    Ok(session::ActiveModel {
        id: Set(s.id),
        organisation_id: Set(organisation_id),
        programme_id: Set(s.programme_id),
        pair_id: Set(s.pair_id),
        state: Set(s.state.as_str().to_string()),
        starts_at: Set(s.starts_at.with_timezone(&chrono::Utc)),
        cancelled_by: Set(s.cancellation.as_ref().map(|c| c.cancelled_by.as_str().to_string())),
        late: Set(s.cancellation.as_ref().is_some_and(|c| c.late)),
        doc: Set(encode(s)?),
        version: Set(s.version),
        created_at: Set(s.created_at),
        updated_at: Set(s.updated_at),
    })
}

pub(super) fn session_from(m: session::Model) -> StoreResult<Session> {
    decode("session", m.id, m.doc, m.version)
}

/// The SQL form of the risk rule in `Pair::derive`: an active pair, idle (no held session, nor activation, since
/// `idle_before`) with no session scheduled in the window, or too many mentee cancellations in a row, or too many
/// late cancellations, or role reversion reported too many times in a row.
pub(super) fn at_risk(risk: &RiskWindow) -> Condition {
    let idle = Condition::any()
        .add(pair::Column::LastActivityAt.is_null())
        .add(pair::Column::LastActivityAt.lt(risk.idle_before));
    let nothing_planned = Condition::any()
        .add(pair::Column::NextSessionAt.is_null())
        .add(pair::Column::NextSessionAt.gt(risk.upcoming_until))
        .add(pair::Column::NextSessionAt.lt(risk.upcoming_from));
    Condition::all()
        .add(pair::Column::State.eq(PairState::Active.as_str()))
        .add(
            Condition::any()
                .add(Condition::all().add(idle).add(nothing_planned))
                .add(pair::Column::MenteeCancelStreak.gte(risk.mentee_cancellations_in_a_row))
                .add(pair::Column::LateCancellations.gte(risk.late_cancellations))
                .add(pair::Column::ReversionStreak.gte(risk.role_reversion_in_a_row)),
        )
}

/// Pairs with the participant as mentor or mentee.
fn on_either_side(participant_id: Uuid) -> Condition {
    Condition::any()
        .add(pair::Column::MentorId.eq(participant_id))
        .add(pair::Column::MenteeId.eq(participant_id))
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn pair(&self, id: Uuid) -> StoreResult<Option<Pair>> {
        find_by_id!(pair, self, id, false).map(pair_from).transpose()
    }

    /// Reads the pair and, on PostgreSQL, locks its row until the transaction ends.
    pub async fn lock_pair(&self, id: Uuid) -> StoreResult<Option<Pair>> {
        find_by_id!(pair, self, id, true).map(pair_from).transpose()
    }

    /// One page of a programme's pairs; with `programme_id` `None`, of every programme. The at-risk filter applies
    /// only with the programme's risk window (across programmes each judges risk by its own settings).
    pub async fn list_pairs(
        &self,
        programme_id: Option<Uuid>,
        filter: &PairFilter,
        risk: Option<&RiskWindow>,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Pair>> {
        let mut query = pair::Entity::find().filter(pair::Column::OrganisationId.eq(self.organisation_id));
        if let Some(programme_id) = programme_id {
            query = query.filter(pair::Column::ProgrammeId.eq(programme_id));
        }
        if let Some(programmes) = &filter.programme_ids {
            query = query.filter(pair::Column::ProgrammeId.is_in(programmes.iter().copied()));
        }
        if let Some(state) = filter.state {
            query = query.filter(pair::Column::State.eq(state.as_str()));
        }
        if let Some(p) = filter.participant_id {
            query = query.filter(on_either_side(p));
        }
        match (filter.at_risk, risk) {
            (Some(true), Some(risk)) => query = query.filter(at_risk(risk)),
            (Some(false), Some(risk)) => query = query.filter(at_risk(risk).not()),
            _ => {}
        }
        if let Some(after) = after {
            query = query.filter(pair::Column::Id.gt(after));
        }
        query
            .order_by_asc(pair::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(pair_from)
            .collect()
    }

    /// Open pairs of the programme, of one participant (either side) when given.
    pub async fn open_pairs(&self, programme_id: Uuid, participant_id: Option<Uuid>) -> StoreResult<Vec<Pair>> {
        let mut query = pair::Entity::find()
            .filter(pair::Column::OrganisationId.eq(self.organisation_id))
            .filter(pair::Column::ProgrammeId.eq(programme_id))
            .filter(pair::Column::State.is_in(PairState::OPEN));
        if let Some(p) = participant_id {
            query = query.filter(on_either_side(p));
        }
        query
            .order_by_asc(pair::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(pair_from)
            .collect()
    }

    /// A participant's pairs in a state, in every programme.
    pub async fn pairs_of_participant(&self, participant_id: Uuid, state: PairState) -> StoreResult<Vec<Pair>> {
        pair::Entity::find()
            .filter(pair::Column::OrganisationId.eq(self.organisation_id))
            .filter(pair::Column::State.eq(state.as_str()))
            .filter(on_either_side(participant_id))
            .order_by_asc(pair::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(pair_from)
            .collect()
    }

    pub async fn insert_pair(&self, p: &Pair) -> StoreResult<()> {
        pair::Entity::insert(pair_row(self.organisation_id, p)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    pub async fn update_pair(&self, p: &Pair, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            pair,
            self,
            pair_row(self.organisation_id, p)?,
            p.id,
            expected_version
        ))
    }

    pub async fn count_pairs_in_state(&self, programme_id: Uuid, state: &str) -> StoreResult<u64> {
        Ok(pair::Entity::find()
            .filter(pair::Column::OrganisationId.eq(self.organisation_id))
            .filter(pair::Column::ProgrammeId.eq(programme_id))
            .filter(pair::Column::State.eq(state))
            .count(self.conn)
            .await?)
    }

    /// Open pairs in which the participant is the mentor or the mentee.
    pub async fn count_open_pairs_of(&self, programme_id: Uuid, participant_id: Uuid) -> StoreResult<u64> {
        Ok(pair::Entity::find()
            .filter(pair::Column::OrganisationId.eq(self.organisation_id))
            .filter(pair::Column::ProgrammeId.eq(programme_id))
            .filter(pair::Column::State.is_in(PairState::OPEN))
            .filter(on_either_side(participant_id))
            .count(self.conn)
            .await?)
    }

    pub async fn open_pair_between(&self, programme_id: Uuid, mentor_id: Uuid, mentee_id: Uuid) -> StoreResult<bool> {
        Ok(pair::Entity::find()
            .filter(pair::Column::OrganisationId.eq(self.organisation_id))
            .filter(pair::Column::ProgrammeId.eq(programme_id))
            .filter(pair::Column::State.is_in(PairState::OPEN))
            .filter(pair::Column::MentorId.eq(mentor_id))
            .filter(pair::Column::MenteeId.eq(mentee_id))
            .count(self.conn)
            .await?
            > 0)
    }

    // ---- sessions ----

    pub async fn session(&self, id: Uuid) -> StoreResult<Option<Session>> {
        find_by_id!(session, self, id, false).map(session_from).transpose()
    }

    pub async fn lock_session(&self, id: Uuid) -> StoreResult<Option<Session>> {
        find_by_id!(session, self, id, true).map(session_from).transpose()
    }

    pub async fn list_sessions(
        &self,
        pair_id: Uuid,
        state: Option<SessionState>,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Session>> {
        let mut query = session::Entity::find()
            .filter(session::Column::OrganisationId.eq(self.organisation_id))
            .filter(session::Column::PairId.eq(pair_id));
        if let Some(state) = state {
            query = query.filter(session::Column::State.eq(state.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(session::Column::Id.gt(after));
        }
        query
            .order_by_asc(session::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(session_from)
            .collect()
    }

    /// The sessions of the given pairs starting in `[from, to)`, in start order (then creation order), at most
    /// `limit`.
    pub async fn sessions_between(
        &self,
        pair_ids: &[Uuid],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<Session>> {
        if pair_ids.is_empty() {
            return Ok(Vec::new());
        }
        session::Entity::find()
            .filter(session::Column::OrganisationId.eq(self.organisation_id))
            .filter(session::Column::PairId.is_in(pair_ids.iter().copied()))
            .filter(session::Column::StartsAt.gte(from))
            .filter(session::Column::StartsAt.lt(to))
            .order_by_asc(session::Column::StartsAt)
            .order_by_asc(session::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(session_from)
            .collect()
    }

    /// Every session of the pair, in start order (then creation order).
    pub async fn sessions_of_pair(&self, pair_id: Uuid) -> StoreResult<Vec<Session>> {
        session::Entity::find()
            .filter(session::Column::OrganisationId.eq(self.organisation_id))
            .filter(session::Column::PairId.eq(pair_id))
            .order_by_asc(session::Column::StartsAt)
            .order_by_asc(session::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(session_from)
            .collect()
    }

    pub async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        session::Entity::insert(session_row(self.organisation_id, s)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    pub async fn update_session(&self, s: &Session, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            session,
            self,
            session_row(self.organisation_id, s)?,
            s.id,
            expected_version
        ))
    }
}
