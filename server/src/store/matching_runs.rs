//! Matching-run rows, and the bulk reads the matching engine needs, scoped to one organisation.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::documents::{decode, encode};
use super::documents::{find_by_id, guarded_update};
use super::entities::{enrolment, matching_run, pair, participant};
use super::{Scope, StoreResult};
use crate::domain::enrolments::{Enrolment, EnrolmentState};
use crate::domain::matching_runs::MatchingRun;
use crate::domain::pairs::Pair;
use crate::domain::participants::Participant;

fn run_row(organisation_id: Uuid, r: &MatchingRun) -> StoreResult<matching_run::ActiveModel> {
    Ok(matching_run::ActiveModel {
        id: Set(r.id),
        organisation_id: Set(organisation_id),
        programme_id: Set(r.programme_id),
        state: Set(r.state.as_str().to_string()),
        doc: Set(encode(r)?),
        version: Set(r.version),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
    })
}

fn run_from(m: matching_run::Model) -> StoreResult<MatchingRun> {
    decode("matching run", m.id, m.doc, m.version)
}

impl super::Db {
    /// Runs of every organisation still queued or running that were last touched before `before`: a run's instance
    /// touches it when it starts and when it ends, so these were left behind by an instance that stopped.
    pub async fn abandoned_matching_runs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<(Uuid, Uuid)>> {
        Ok(matching_run::Entity::find()
            .filter(matching_run::Column::State.is_in(["queued", "running"]))
            .filter(matching_run::Column::UpdatedAt.lt(before))
            .all(self.reader())
            .await?
            .into_iter()
            .map(|m| (m.organisation_id, m.id))
            .collect())
    }
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn matching_run(&self, id: Uuid) -> StoreResult<Option<MatchingRun>> {
        find_by_id!(matching_run, self, id, false).map(run_from).transpose()
    }

    pub async fn lock_matching_run(&self, id: Uuid) -> StoreResult<Option<MatchingRun>> {
        find_by_id!(matching_run, self, id, true).map(run_from).transpose()
    }

    pub async fn insert_matching_run(&self, r: &MatchingRun) -> StoreResult<()> {
        matching_run::Entity::insert(run_row(self.organisation_id, r)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    pub async fn update_matching_run(&self, r: &MatchingRun, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            matching_run,
            self,
            run_row(self.organisation_id, r)?,
            r.id,
            expected_version
        ))
    }

    /// Every participant of the organisation (for reporting lines and profiles).
    pub async fn all_participants(&self) -> StoreResult<Vec<Participant>> {
        participant::Entity::find()
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::ErasedAt.is_null())
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::participants::from_row)
            .collect()
    }

    /// The programme's active enrolments, in enrolment order.
    pub async fn active_enrolments(&self, programme_id: Uuid) -> StoreResult<Vec<Enrolment>> {
        enrolment::Entity::find()
            .filter(enrolment::Column::OrganisationId.eq(self.organisation_id))
            .filter(enrolment::Column::ProgrammeId.eq(programme_id))
            .filter(enrolment::Column::State.eq(EnrolmentState::Active.as_str()))
            .order_by_asc(enrolment::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::programmes::enrolment_from)
            .collect()
    }

    /// Every pair of the programme, whatever its state.
    pub async fn pairs_of_programme(&self, programme_id: Uuid) -> StoreResult<Vec<Pair>> {
        pair::Entity::find()
            .filter(pair::Column::OrganisationId.eq(self.organisation_id))
            .filter(pair::Column::ProgrammeId.eq(programme_id))
            .order_by_asc(pair::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::pairs::pair_from)
            .collect()
    }
}
