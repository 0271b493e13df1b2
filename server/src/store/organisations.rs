//! Organisations: the tenants themselves. Not tenant-scoped (an organisation is looked up by its client credentials
//! before any scope exists), so these are methods of [`Db`] reachable only from the operator CLI and token exchange.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::entities::organisation;
use super::{Db, StoreResult};
use crate::domain::organisations::Organisation;

fn from_row(m: organisation::Model) -> Organisation {
    Organisation {
        id: m.id,
        name: m.name,
        client_id: m.client_id,
        client_secret_hash: m.client_secret_hash,
        created_at: m.created_at,
    }
}

impl Db {
    pub async fn insert_organisation(&self, o: &Organisation) -> StoreResult<()> {
        let txn = self.begin().await?;
        insert(&txn, o).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn organisation_by_client_id(&self, client_id: &str) -> StoreResult<Option<Organisation>> {
        Ok(organisation::Entity::find()
            .filter(organisation::Column::ClientId.eq(client_id))
            .one(self.reader())
            .await?
            .map(from_row))
    }

    pub async fn organisation(&self, id: Uuid) -> StoreResult<Option<Organisation>> {
        Ok(organisation::Entity::find_by_id(id)
            .one(self.reader())
            .await?
            .map(from_row))
    }
}

async fn insert<C: ConnectionTrait>(conn: &C, o: &Organisation) -> StoreResult<()> {
    organisation::Entity::insert(organisation::ActiveModel {
        id: Set(o.id),
        name: Set(o.name.clone()),
        client_id: Set(o.client_id.clone()),
        client_secret_hash: Set(o.client_secret_hash.clone()),
        created_at: Set(o.created_at),
        updated_at: Set(o.created_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
