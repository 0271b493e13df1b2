//! Remembered responses to `POST` requests sent with an `Idempotency-Key`, scoped to one organisation.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use super::entities::idempotency_key;
use super::{Db, Scope, StoreResult};

#[derive(Clone, Debug)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    /// Header name → value pairs to replay (e.g. `ETag`, `Location`).
    pub headers: Vec<(String, String)>,
    pub created_at: DateTime<Utc>,
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn idempotent_response(&self, key: &str) -> StoreResult<Option<StoredResponse>> {
        let Some(m) = idempotency_key::Entity::find_by_id((self.organisation_id, key.to_string()))
            .one(self.conn)
            .await?
        else {
            return Ok(None);
        };
        let headers = serde_json::from_value(m.response_headers).unwrap_or_default();
        Ok(Some(StoredResponse {
            request_hash: m.request_hash,
            status: m.response_status as u16,
            body: m.response_body,
            headers,
            created_at: m.created_at,
        }))
    }

    /// Forgets a remembered response older than `before` so its key can be used afresh.
    pub async fn forget_expired_response(&self, key: &str, before: DateTime<Utc>) -> StoreResult<()> {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::OrganisationId.eq(self.organisation_id))
            .filter(idempotency_key::Column::Key.eq(key))
            .filter(idempotency_key::Column::CreatedAt.lt(before))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Records a response; a concurrent request that recorded the same key first makes this a unique violation.
    pub async fn remember_response(&self, key: &str, r: &StoredResponse) -> StoreResult<()> {
        idempotency_key::Entity::insert(idempotency_key::ActiveModel {
            organisation_id: Set(self.organisation_id),
            key: Set(key.to_string()),
            request_hash: Set(r.request_hash.clone()),
            response_status: Set(r.status as i16),
            response_body: Set(r.body.clone()),
            response_headers: Set(serde_json::to_value(&r.headers).unwrap_or(Value::Null)),
            created_at: Set(r.created_at),
        })
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }
}

impl Db {
    pub async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let txn = self.begin().await?;
        let result = idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lt(before))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(result.rows_affected)
    }
}
