//! Calendar feeds: one secret per participant, stored as its SHA-256 only. Issuing replaces the row (the old
//! address stops working at once); the feed's reader finds the owner by the hash, across organisations, because the
//! address carries no organisation.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use super::entities::calendar_feed;
use super::{Db, Scope, StoreResult};

impl<C: ConnectionTrait> Scope<'_, C> {
    /// Stores the participant's feed secret (its hash), replacing any earlier one.
    pub async fn replace_calendar_feed(
        &self,
        participant_id: Uuid,
        secret_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        calendar_feed::Entity::insert(calendar_feed::ActiveModel {
            participant_id: Set(participant_id),
            organisation_id: Set(self.organisation_id),
            secret_hash: Set(secret_hash.to_string()),
            created_at: Set(at),
        })
        .on_conflict(
            OnConflict::column(calendar_feed::Column::ParticipantId)
                .update_columns([calendar_feed::Column::SecretHash, calendar_feed::Column::CreatedAt])
                .to_owned(),
        )
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }

    /// Revokes the participant's feed; answers how many rows went (0 or 1).
    pub async fn delete_calendar_feed(&self, participant_id: Uuid) -> StoreResult<u64> {
        Ok(calendar_feed::Entity::delete_many()
            .filter(calendar_feed::Column::OrganisationId.eq(self.organisation_id))
            .filter(calendar_feed::Column::ParticipantId.eq(participant_id))
            .exec(self.conn)
            .await?
            .rows_affected)
    }
}

impl Db {
    /// The organisation and participant whose feed has this secret hash.
    pub async fn calendar_feed_owner(&self, secret_hash: &str) -> StoreResult<Option<(Uuid, Uuid)>> {
        Ok(calendar_feed::Entity::find()
            .select_only()
            .column(calendar_feed::Column::OrganisationId)
            .column(calendar_feed::Column::ParticipantId)
            .filter(calendar_feed::Column::SecretHash.eq(secret_hash))
            .into_tuple()
            .one(self.reader())
            .await?)
    }
}
