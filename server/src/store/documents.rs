//! The document column: tables of the programme lifecycle keep each resource whole as JSON in `doc`, next to the
//! columns queries need. These helpers turn a resource into its document and back.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::{StoreError, StoreResult};

pub fn encode<T: Serialize>(value: &T) -> StoreResult<Value> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(format!("cannot encode a document: {e}")))
}

/// A resource kept as a document, whose version lives in its own column (the version is not part of the document).
pub trait Versioned: DeserializeOwned {
    fn set_version(&mut self, version: i32);
}

macro_rules! versioned {
    ($($ty:ty),* $(,)?) => { $(
        impl Versioned for $ty {
            fn set_version(&mut self, version: i32) {
                self.version = version;
            }
        }
    )* };
}

versioned!(
    crate::domain::programmes::Programme,
    crate::domain::enrolments::Enrolment,
    crate::domain::pairs::Pair,
    crate::domain::sessions::Session,
    crate::domain::journal::Note,
    crate::domain::journal::Learning,
    crate::domain::surveys::Survey,
    crate::domain::matching_runs::MatchingRun,
    crate::domain::webhook_endpoints::WebhookEndpoint,
    crate::domain::hris_connections::HrisConnection,
    crate::domain::hris_syncs::HrisSync,
    crate::domain::participant_imports::ParticipantImport,
);

/// The resource from its document and its version column.
pub fn decode<T: Versioned>(what: &str, id: Uuid, doc: Value, version: i32) -> StoreResult<T> {
    let mut value: T = serde_json::from_value(doc).map_err(|e| StoreError::Corrupt(format!("{what} {id}: {e}")))?;
    value.set_version(version);
    Ok(value)
}

/// Writes `$row` over the tenant's row `$id` if its version is still `$expected`; evaluates to whether it did (a
/// `false` is a lost race, which the domain reports as a failed precondition). The id, tenant and creation time
/// never change, so they are left out of the update.
macro_rules! guarded_update {
    ($entity:ident, $scope:expr, $row:expr, $id:expr, $expected:expr) => {{
        let mut row = $row;
        row.id = sea_orm::ActiveValue::NotSet;
        row.organisation_id = sea_orm::ActiveValue::NotSet;
        row.created_at = sea_orm::ActiveValue::NotSet;
        $entity::Entity::update_many()
            .set(row)
            .filter($entity::Column::Id.eq($id))
            .filter($entity::Column::OrganisationId.eq($scope.organisation_id))
            .filter($entity::Column::Version.eq($expected))
            .exec($scope.conn)
            .await?
            .rows_affected
            == 1
    }};
}

/// The tenant's row `$id` (`None` when missing or another organisation's), locked until the transaction ends when
/// `$lock` (on PostgreSQL; SQLite serialises write transactions anyway).
macro_rules! find_by_id {
    ($entity:ident, $scope:expr, $id:expr, $lock:expr) => {{
        let mut query =
            $entity::Entity::find_by_id($id).filter($entity::Column::OrganisationId.eq($scope.organisation_id));
        if $lock {
            query = query.lock_exclusive();
        }
        query.one($scope.conn).await?
    }};
}

pub(crate) use {find_by_id, guarded_update};
