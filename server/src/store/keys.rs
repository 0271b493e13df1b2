//! The server's token-signing keys. Global (not per tenant): they prove a token came from this deployment. The
//! private half is sealed with the secrets key at rest.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::signing_key;
use super::{Db, StoreResult};

#[derive(Clone, Debug)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 document, base64.
    pub private_key: String,
    /// Raw public key, base64url.
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    pub sign_until: DateTime<Utc>,
    pub verify_until: DateTime<Utc>,
}

impl Db {
    /// Keys still valid for verification at `now`, newest first.
    pub async fn live_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<Vec<StoredKey>> {
        let sealer = crate::secrets::installed().map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
        signing_key::Entity::find()
            .filter(signing_key::Column::VerifyUntil.gt(now))
            .order_by_desc(signing_key::Column::CreatedAt)
            .all(self.reader())
            .await?
            .into_iter()
            .map(|m| {
                Ok(StoredKey {
                    private_key: sealer
                        .open_text(&m.private_key)
                        .map_err(|e| super::StoreError::Corrupt(format!("signing key {}: {e}", m.kid)))?,
                    kid: m.kid,
                    algorithm: m.algorithm,
                    public_key: m.public_key,
                    created_at: m.created_at,
                    sign_until: m.sign_until,
                    verify_until: m.verify_until,
                })
            })
            .collect()
    }

    pub async fn insert_signing_key(&self, k: &StoredKey) -> StoreResult<()> {
        let sealer = crate::secrets::installed().map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
        let txn = self.begin().await?;
        signing_key::Entity::insert(signing_key::ActiveModel {
            kid: Set(k.kid.clone()),
            algorithm: Set(k.algorithm.clone()),
            private_key: Set(sealer.seal_text(&k.private_key)),
            public_key: Set(k.public_key.clone()),
            created_at: Set(k.created_at),
            sign_until: Set(k.sign_until),
            verify_until: Set(k.verify_until),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Ends signing with every key (they keep verifying), so the next token is signed by a fresh key.
    pub async fn retire_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let txn = self.begin().await?;
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::SignUntil, sea_orm::sea_query::Expr::value(now))
            .filter(signing_key::Column::SignUntil.gt(now))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes keys that verify nothing any more.
    pub async fn prune_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let txn = self.begin().await?;
        let result = signing_key::Entity::delete_many()
            .filter(signing_key::Column::VerifyUntil.lte(now))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(result.rows_affected)
    }
}
