//! HRIS connection rows: the connection as a document, its sealed secrets in their own column, scoped to one
//! organisation.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::documents::{decode, encode, find_by_id, guarded_update};
use super::entities::hris_connection;
use super::{Scope, StoreResult};
use crate::domain::hris_connections::HrisConnection;

fn row(organisation_id: Uuid, c: &HrisConnection, sealed: Option<&str>) -> StoreResult<hris_connection::ActiveModel> {
    Ok(hris_connection::ActiveModel {
        id: Set(c.id),
        organisation_id: Set(organisation_id),
        secrets: Set(sealed.map(str::to_string)),
        doc: Set(encode(c)?),
        version: Set(c.version),
        created_at: Set(c.created_at),
        updated_at: Set(c.updated_at),
    })
}

fn from_row(m: hris_connection::Model) -> StoreResult<(HrisConnection, Option<String>)> {
    let sealed = m.secrets.clone();
    Ok((decode("hris connection", m.id, m.doc, m.version)?, sealed))
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn hris_connection(&self, id: Uuid) -> StoreResult<Option<HrisConnection>> {
        Ok(find_by_id!(hris_connection, self, id, false)
            .map(from_row)
            .transpose()?
            .map(|(c, _)| c))
    }

    /// The connection with its sealed secrets, locked until the transaction ends.
    pub async fn lock_hris_connection(&self, id: Uuid) -> StoreResult<Option<(HrisConnection, Option<String>)>> {
        find_by_id!(hris_connection, self, id, true).map(from_row).transpose()
    }

    /// The connection with its sealed secrets, for the sync that hands them to the connector.
    pub async fn hris_connection_sealed(&self, id: Uuid) -> StoreResult<Option<(HrisConnection, Option<String>)>> {
        find_by_id!(hris_connection, self, id, false).map(from_row).transpose()
    }

    pub async fn insert_hris_connection(&self, c: &HrisConnection, sealed: Option<&str>) -> StoreResult<()> {
        hris_connection::Entity::insert(row(self.organisation_id, c, sealed)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    pub async fn update_hris_connection(
        &self,
        c: &HrisConnection,
        sealed: Option<&str>,
        expected_version: i32,
    ) -> StoreResult<bool> {
        Ok(guarded_update!(
            hris_connection,
            self,
            row(self.organisation_id, c, sealed)?,
            c.id,
            expected_version
        ))
    }

    pub async fn hris_connections(&self, after: Option<Uuid>, limit: u64) -> StoreResult<Vec<HrisConnection>> {
        let mut query =
            hris_connection::Entity::find().filter(hris_connection::Column::OrganisationId.eq(self.organisation_id));
        if let Some(after) = after {
            query = query.filter(hris_connection::Column::Id.gt(after));
        }
        query
            .order_by_asc(hris_connection::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|m| from_row(m).map(|(c, _)| c))
            .collect()
    }

    pub async fn delete_hris_connection(&self, id: Uuid) -> StoreResult<()> {
        hris_connection::Entity::delete_many()
            .filter(hris_connection::Column::OrganisationId.eq(self.organisation_id))
            .filter(hris_connection::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(())
    }
}
