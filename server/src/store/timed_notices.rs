//! Timed notices (one row per time-based event emitted, unique per kind, subject and occasion) and the cross-tenant
//! lookups of the timed-events job: which sessions start soon, which programmes run. The job then acts on each
//! subject through its organisation's scope.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::entities::{programme, session, timed_notice};
use super::{Db, Scope, StoreResult};

impl<C: ConnectionTrait> Scope<'_, C> {
    /// Records that `kind` happened for `subject_id` on `occasion`; `false` when it already had (here or on another
    /// instance), in which case the caller emits nothing.
    pub async fn claim_notice(&self, kind: &str, subject_id: Uuid, occasion: &str) -> StoreResult<bool> {
        let inserted = timed_notice::Entity::insert(timed_notice::ActiveModel {
            id: Set(super::new_id()),
            organisation_id: Set(self.organisation_id),
            kind: Set(kind.to_string()),
            subject_id: Set(subject_id),
            occasion: Set(occasion.to_string()),
            created_at: Set(super::now()),
        })
        .on_conflict(
            OnConflict::columns([
                timed_notice::Column::Kind,
                timed_notice::Column::SubjectId,
                timed_notice::Column::Occasion,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(self.conn)
        .await?;
        Ok(inserted == 1)
    }

    /// The subjects with a notice of `kind`.
    pub async fn notices(&self, kind: &str) -> StoreResult<Vec<Uuid>> {
        Ok(timed_notice::Entity::find()
            .select_only()
            .column(timed_notice::Column::SubjectId)
            .filter(timed_notice::Column::OrganisationId.eq(self.organisation_id))
            .filter(timed_notice::Column::Kind.eq(kind))
            .into_tuple()
            .all(self.conn)
            .await?)
    }

    /// Forgets a subject's notices of `kind` (its occasion is over: a pair no longer at risk may become so again).
    pub async fn forget_notices(&self, kind: &str, subject_id: Uuid) -> StoreResult<()> {
        timed_notice::Entity::delete_many()
            .filter(timed_notice::Column::OrganisationId.eq(self.organisation_id))
            .filter(timed_notice::Column::Kind.eq(kind))
            .filter(timed_notice::Column::SubjectId.eq(subject_id))
            .exec(self.conn)
            .await?;
        Ok(())
    }
}

impl Db {
    /// Scheduled sessions starting in `(from, until]`: (organisation, session).
    pub async fn sessions_starting(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<Vec<(Uuid, Uuid)>> {
        Ok(session::Entity::find()
            .select_only()
            .column(session::Column::OrganisationId)
            .column(session::Column::Id)
            .filter(session::Column::State.eq("scheduled"))
            .filter(session::Column::StartsAt.gt(from))
            .filter(session::Column::StartsAt.lte(until))
            .into_tuple()
            .all(&self.read)
            .await?)
    }

    /// Programmes in one of `states`: (organisation, programme).
    pub async fn programmes_in(&self, states: &[&str]) -> StoreResult<Vec<(Uuid, Uuid)>> {
        Ok(programme::Entity::find()
            .select_only()
            .column(programme::Column::OrganisationId)
            .column(programme::Column::Id)
            .filter(programme::Column::State.is_in(states.iter().copied()))
            .into_tuple()
            .all(&self.read)
            .await?)
    }
}
