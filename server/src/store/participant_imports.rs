//! Participant import rows: the report as a document with its state beside it, scoped to one organisation. The
//! diff is stored like a sync's (`hris_sync_changes`, keyed by the import's id).

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::documents::{decode, encode, find_by_id, guarded_update};
use super::entities::participant_import;
use super::{Scope, StoreResult};
use crate::domain::participant_imports::{ImportState, ParticipantImport};

fn row(organisation_id: Uuid, i: &ParticipantImport) -> StoreResult<participant_import::ActiveModel> {
    let state = match i.state {
        ImportState::Running => "running",
        ImportState::Completed => "completed",
        ImportState::Interrupted => "interrupted",
    };
    Ok(participant_import::ActiveModel {
        id: Set(i.id),
        organisation_id: Set(organisation_id),
        state: Set(state.into()),
        doc: Set(encode(i)?),
        version: Set(i.version),
        created_at: Set(i.created_at),
        updated_at: Set(super::now()),
    })
}

fn from_row(m: participant_import::Model) -> StoreResult<ParticipantImport> {
    let updated_at = m.updated_at;
    Ok(decode::<ParticipantImport>("participant import", m.id, m.doc, m.version)?.derive(super::now(), updated_at))
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn insert_participant_import(&self, i: &ParticipantImport) -> StoreResult<()> {
        participant_import::Entity::insert(row(self.organisation_id, i)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    /// Writes the import if its version is still `expected_version`.
    pub async fn update_participant_import(&self, i: &ParticipantImport, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            participant_import,
            self,
            row(self.organisation_id, i)?,
            i.id,
            expected_version
        ))
    }

    pub async fn participant_import(&self, id: Uuid) -> StoreResult<Option<ParticipantImport>> {
        find_by_id!(participant_import, self, id, false)
            .map(from_row)
            .transpose()
    }

    /// The organisation's imports, newest first, before `before`.
    pub async fn list_participant_imports(
        &self,
        before: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<ParticipantImport>> {
        let mut query = participant_import::Entity::find()
            .filter(participant_import::Column::OrganisationId.eq(self.organisation_id));
        if let Some(before) = before {
            query = query.filter(participant_import::Column::Id.lt(before));
        }
        query
            .order_by_desc(participant_import::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }
}
